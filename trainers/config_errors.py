"""The lines of a ConfigError: what is wrong with a run config, worded for the user.

    raise invalid("configs/x.yaml", [describe(RunConfig, e, overrides) for e in errors], overrides, locs)
    # -> ConfigError("invalid override on configs/x.yaml:\n  train.stepz: unknown field (did you mean 'steps'?);
    #                 allowed: ... [from the override 'train.stepz=3']")

Each line names the field (`where: what is wrong`); an unknown key gets the closest field name and the allowed ones,
a renamed key its new name (`RENAMED`). A line whose value an override set ends in that override, and the heading
says whether the file, its overrides or both are to blame: a user looks in the file first. `run_config` validates;
this module only words (it takes the root model as a parameter, so it imports nothing of run_config).
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml
from pydantic import BaseModel

# Keys that were renamed: an old config gets one line naming the new key instead of "unknown field".
RENAMED = {"samples_per_prompt": "group_size"}


class ConfigError(ValueError):
    """A run config that cannot be used; the message is meant for the user as is."""


def fields_at(root: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the model that holds `loc` in `root` (walking through nested models and lists)."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        for arg in list(candidates):
            candidates += list(getattr(arg, "__args__", ()))
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return list(model.model_fields)


def describe(root: type[BaseModel], error: dict, overrides: list[str] = ()) -> str:
    """The line of a pydantic `error` of validating `root`, ending in the override that set the value, if one did
    (`from_override`)."""
    return from_override(problem_line(root, error), error["loc"], overrides)


def from_override(line: str, loc: tuple, overrides: list[str]) -> str:
    """`line`, plus where the bad value came from when an override set it: not the file, where the user looks first."""
    item = override_of(loc, overrides)
    return line if item is None else f"{line} [from the override {item!r}]"


def problem_line(root: type[BaseModel], error: dict) -> str:
    """`where: what is wrong`: a renamed key's new name, an unknown key's closest field (did you mean) and the
    allowed ones, a Literal's allowed values, else the validator's own words with the value it got."""
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden" and error["loc"] and error["loc"][-1] in RENAMED:
        new = ".".join([*map(str, error["loc"][:-1]), RENAMED[error["loc"][-1]]])
        return f"{where}: renamed; use {new}"
    if kind == "extra_forbidden":
        try:
            allowed = ", ".join(fields_at(root, tuple(error["loc"])))
        except (KeyError, AttributeError):
            allowed = ""
        close = difflib.get_close_matches(str(error["loc"][-1]), allowed.split(", "), n=1) if allowed else []
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}: unknown field{guess}" + (f"; allowed: {allowed}" if allowed else "")
    if kind == "literal_error":
        return f"{where}: {error['input']!r} is not allowed; {error['msg'].replace('Input should be', 'allowed:')}"
    message = error["msg"].removeprefix("Value error, ")  # a validator's own words, without pydantic's label
    return f"{where}: {message} (got {error.get('input')!r})"


def override_of(loc: tuple, overrides: list[str]) -> str | None:
    """The last override that set `loc` or a section holding it (`eval.tasks=[...]` sets eval.tasks.0.limit), or
    None when the value came from the file (or the defaults)."""
    where = [str(part) for part in loc]
    for item in reversed(overrides):
        key = item.split("=", 1)[0].split(".")
        if key == where[:len(key)]:
            return item
    return None


def invalid(source: str, lines: list[str], overrides: list[str], locs: list[tuple]) -> ConfigError:
    """The ConfigError of `lines`, headed by where they came from: the file, the overrides on it, or both."""
    blamed = [override_of(loc, overrides) is not None for loc in locs]
    if source == "config":  # no file: the overrides are the whole input (each line still names its override)
        what = source
    elif blamed and all(blamed):
        what = "override" + ("s" if len(blamed) > 1 else "") + f" on {source}"
    elif any(blamed):
        what = f"{source} and its overrides"
    else:
        what = source
    return ConfigError(f"invalid {what}:\n  " + "\n  ".join(lines))


def yaml_problem(exc: yaml.YAMLError) -> str:
    """'line L, column C: what is wrong' (PyYAML's own text quotes the source over several lines)."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is None or problem is None:
        return " ".join(str(exc).split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
