"""Which function judges a completion: the built-ins by name, anything else by import path.

    VERIFIERS = {"math": math.verify, "code": code.verify, "format": format.verify}
    resolve("math")                       # built-in
    resolve("my_pkg.rewards:score")       # a user's verifier: one new file, one config line, no edit of rlvr
    resolve("/data/my_rewards.py:score")  # or the file itself (verl's custom_reward_function.path): plugin_files
    score(completion, reference, [VerifierSpec(name="math"), VerifierSpec(name="format", weight=0.1,
                                                                         options={"kind": "boxed"})])

A verifier is `fn(completion, reference, options) -> Verdict`, called with those three arguments (`options`
is None when none are configured); a plug-in whose signature cannot take them is refused as it is resolved, when
the config is loaded. Its options type is the frozen dataclass named in the annotation of its `options` parameter
(`options: MyOptions | None = None`); a config's options dict is turned into it; unknown keys and values of the
wrong type (`options.check_types`: `processes: "false"`, `memory_mb: 1g`, `timeout_s: 0`) are an error naming the
option. Without such an annotation the dict is passed as is. Reward functions written for verl
(`compute_score(data_source, solution_str, ...)`) or TRL (`f(completions, **kwargs)`) are called their framework's
way instead, their options as keyword arguments: `plugin_styles` tells them apart and calls them.
A verifier that raises (`sys.exit` included) gives an `error` Verdict; a detail over 64 KiB of JSON is cut
(`detail_size`). The combined reward is the weighted sum of the verifiers' rewards, keyed by `spec_keys` (a file
plug-in by its file's stem: `plugin_files.short_names`). `version(name)` feeds the pool's cache key: the built-ins'
VERSION, or a user module's `VERSION` attribute.

A job's `context` (the row's data_source, extra_info, ground_truth, prompt and columns: `Problem.context()`) reaches
only the verifiers that read it (`takes_context`: the verl- and TRL-style ones); for the others it is not sent, and
not part of the cache key, which holds only the part of it that the verifier's style reads (`context_read`).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pickle
import types
import typing
from math import isfinite
from typing import Any, Callable, Protocol

from rlvr.verifiers import code, format, math
from rlvr.verifiers.detail_size import cut_to_size
from rlvr.verifiers.options import check_types
from rlvr.verifiers.plugin_files import is_file_plugin, load_file, short_names
from rlvr.verifiers.plugin_styles import lacks, reads, style_of, style_options
from rlvr.verifiers.verdict import Verdict

Verifier = Callable[..., Verdict]


class Spec(Protocol):
    """What the registry reads of a verifier spec (`config.VerifierSpec`, which imports this module, not back)."""

    name: str
    weight: float
    options: dict[str, Any]


VERIFIERS: dict[str, Verifier] = {"math": math.verify, "code": code.verify, "format": format.verify}
VERSIONS: dict[str, str] = {"math": math.VERSION, "code": code.VERSION, "format": format.VERSION}


def resolve(name: str) -> Verifier:
    """A built-in name, `"package.module:function"` or `"path/to/file.py:function"` (`plugin_files`); raises
    ValueError naming the allowed built-ins."""
    if name in VERIFIERS:
        return VERIFIERS[name]
    if ":" not in name:
        raise ValueError(f"unknown verifier {name!r}: use one of {sorted(VERIFIERS)} or an import path 'pkg.mod:fn' "
                         f"or a file 'path/to/file.py:fn'")
    module_name, _, attr = name.rpartition(":")
    also = "" if is_file_plugin(name) else f" (built-ins: {sorted(VERIFIERS)})"  # no help to a file's user
    try:
        module = _module(name)
    except ImportError as e:
        raise ValueError(f"cannot load verifier {name!r}: {e}{also}") from None
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the plug-in's own module fails as it is imported: named
        raise ValueError(f"cannot load verifier {name!r}: importing {module_name} raised {type(e).__name__}: {e}") from None
    if not hasattr(module, attr):  # in the user's words: a file's module has a generated name (`module_name`)
        raise ValueError(f"cannot load verifier {name!r}: {module_name} has no attribute {attr!r}{also}")
    fn = getattr(module, attr)
    if not callable(fn):
        raise ValueError(f"verifier {name!r} is not callable")
    _style(name, fn)  # a signature that cannot be called is refused here, as the config is loaded
    return fn


def _style(name: str, fn: Verifier) -> types.ModuleType | None:
    """How plug-in `name` is called (`plugin_styles.style_of`); None for a built-in or rlvr's own call."""
    return None if name in VERIFIERS else style_of(name, fn)


def takes_context(name: str) -> bool:
    """Whether verifier `name` reads a job's row context: a verl- or TRL-style plug-in does, the others do not."""
    return _style(name, resolve(name)) is not None


def context_read(name: str, context: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a job's row context that verifier `name` reads (None for one that reads none): what its task
    carries to a worker and what its cache key holds."""
    return reads(_style(name, resolve(name)), context)


def row_lacks(specs: list[Spec], context: dict[str, Any]) -> str | None:
    """One line naming the first verifier of `specs` that a row with this `context` cannot be scored by (a TRL-style
    function naming a column the row does not have: `trl_style.lacks`), or None."""
    for spec in specs:
        fn = resolve(spec.name)
        if why := lacks(_style(spec.name, fn), fn, context, build_options(spec.name, spec.options)):
            return f"verifier {spec.name!r}: {why}"
    return None


def _module(name: str) -> types.ModuleType:
    """The module of plug-in `name`: imported (`pkg.mod:fn`) or run from its file (`path/file.py:fn`)."""
    where = name.rpartition(":")[0]
    return load_file(where) if is_file_plugin(name) else importlib.import_module(where)


def version(name: str) -> str:
    if name in VERSIONS:
        return VERSIONS[name]
    return str(getattr(resolve(name), "VERSION", getattr(_module(name), "VERSION", "0")))


def options_type(fn: Verifier) -> type | None:
    """The dataclass in `fn`'s `options` annotation (unwrapping `X | None`), or None."""
    try:
        hint = typing.get_type_hints(fn).get("options")
    except (NameError, TypeError):
        return None
    candidates = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    return next((c for c in candidates if dataclasses.is_dataclass(c)), None)


def build_options(name: str, options: dict[str, Any] | None) -> Any:
    """The verifier's options object from a config dict; ValueError for unknown keys or values of a wrong type."""
    fn = resolve(name)
    if (style := _style(name, fn)) is not None:  # options are extra keyword arguments (verl's reward_kwargs)
        return style_options(name, fn, style, options)
    cls = options_type(fn)
    if cls is None:
        return dict(options) if options else None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(options or {}) - set(fields))
    if unknown:
        raise ValueError(f"verifier {name!r}: unknown option(s) {unknown}; allowed: {sorted(fields)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in (options or {}).items()}
    try:
        check_types(cls, values)
    except ValueError as e:
        raise ValueError(f"verifier {name!r}: {e}") from None
    try:
        return cls(**values)
    except TypeError as e:
        raise ValueError(f"verifier {name!r}: bad options {options}: {e}") from None
    except Exception as e:  # noqa: BLE001 - the dataclass's own check (__post_init__): its words, naming the verifier
        said = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
        raise ValueError(f"verifier {name!r}: {said}") from None


def validate(specs: list[Spec]) -> None:
    """Fail early (ValueError) on an unknown verifier or option, before any work is sent anywhere."""
    for spec in specs:
        build_options(spec.name, spec.options)


def run_one(name: str, options: dict[str, Any] | None, completion: str, reference: Any,
            context: dict[str, Any] | None = None) -> Verdict:
    """Call one verifier; a user verifier that raises, returns something else, a reward that is not a finite
    number (NaN, inf) or a Verdict that cannot be pickled becomes an `error` Verdict. `context` reaches a verl- or
    TRL-style plug-in only, whose return becomes a Verdict by its style's `score`."""
    fn, opts = resolve(name), build_options(name, options)
    style = _style(name, fn)
    try:
        verdict = style.score(fn, completion, reference, context, opts) if style else fn(completion, reference, opts)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a user verifier's bug must not reach the training loop;
        # SystemExit too: a plug-in's sys.exit() ended the pool's worker, once per completion, with no reason given
        return Verdict(0.0, "error", {"rule": "verifier_raised", "error": f"{type(e).__name__}: {e}"[:1000]})
    problem = _not_a_verdict(verdict) or _non_finite_reward(verdict)
    if problem:
        return problem
    verdict = cut_to_size(verdict) or verdict  # before it is pickled to the pool, cached, and written out
    return _unpicklable(name, verdict) or verdict


def _not_a_verdict(verdict: Any) -> Verdict | None:
    if isinstance(verdict, Verdict):
        return None
    # a bare float has no status: its 0.0 could be a wrong answer or a broken scorer ("never a silent zero")
    fix = "a verifier returns rlvr.verifiers.verdict.Verdict(reward, status, detail)"
    return Verdict(0.0, "error", {"rule": "not_a_verdict", "error": f"returned {type(verdict).__name__}: {fix}"})


def _non_finite_reward(verdict: Verdict) -> Verdict | None:
    reward = verdict.reward
    if isinstance(reward, (int, float)) and isfinite(reward):
        return None
    # NaN/inf (or a non-number) would poison the advantages and abort the training step
    return Verdict(0.0, "error", {"rule": "non_finite_reward", "error": f"reward {reward!r} is not a finite number",
                                  "status_given": verdict.status})


def _unpicklable(name: str, verdict: Verdict) -> Verdict | None:
    """An `error` Verdict (rule `unpicklable_verdict`, naming the detail key and its type) when `verdict` cannot make
    a pickle round trip, else None.

    A Verdict crosses processes as a pickle (pool worker -> pool, Dask worker -> trainer). A detail holding a lambda, a
    `re.Match` or an exception with required arguments used to crash the worker as it wrote its answer: a traceback
    per completion, a restarted worker, and `worker_died` with no reason. Why refuse rather than store the value's
    repr: a bare float is refused the same way (`not_a_verdict`); one clear error names the one line to fix in the
    plug-in, where a quietly rewritten detail would log something other than what the verifier returned. Checked here,
    not in the pool, so that `score` in this process gives the same verdict as the pool."""
    if _pickle_problem(verdict) is None:
        return None
    key, culprit = _culprit(verdict)
    kind = type(culprit).__qualname__
    if type(culprit).__module__ != "builtins":
        kind = f"{type(culprit).__module__}.{kind}"
    where = f"detail[{key!r}] holds" if key is not None else "it is"
    error = (f"verifier {name!r} returned a Verdict that cannot be pickled: {where} a {kind} "
             f"({_pickle_problem(culprit)}); keep detail to plain data (str, numbers, lists, dicts)")
    return Verdict(0.0, "error", {"rule": "unpicklable_verdict", "error": error[:1000], "key": key, "type": kind,
                                  "status_given": verdict.status})


def _culprit(verdict: Verdict) -> tuple[Any, Any]:
    """(key, value) of the first detail entry that cannot be pickled (a Verdict's detail is a dict); (None, verdict)
    when only the whole fails (an odd `status` object)."""
    key = next((k for k, v in verdict.detail.items() if _pickle_problem(v)), None)
    return (key, verdict.detail[key]) if key is not None else (None, verdict)


def _pickle_problem(value: Any) -> str | None:
    """Why `value` cannot be pickled and read back, or None when it can."""
    try:
        pickle.loads(pickle.dumps(value))
    except Exception as e:  # noqa: BLE001 - a user object's pickling can raise anything (its own __reduce__ included)
        return " ".join(f"{type(e).__name__}: {e}".split())[:300]
    return None


def spec_keys(specs: list[Spec]) -> list[str]:
    """Keys of the verdicts dict: the verifier name (a file plug-in's short name, `plugin_files.short_names`), with
    `#2`, `#3` for repeated names."""
    shown = short_names([spec.name for spec in specs])
    keys, seen = [], {}
    for spec in specs:
        key = shown[spec.name]
        seen[key] = seen.get(key, 0) + 1
        keys.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return keys


def combine(specs: list[Spec], verdicts: list[Verdict]) -> tuple[float, dict[str, Verdict]]:
    reward = sum(spec.weight * v.reward for spec, v in zip(specs, verdicts))
    return reward, dict(zip(spec_keys(specs), verdicts))


def score(completion: str, reference: Any, specs: list[Spec], context: dict[str, Any] | None = None,
          ) -> tuple[float, dict[str, Verdict]]:
    """Weighted reward and each verifier's Verdict, in this process (see `pool.VerifierPool` for parallel runs)."""
    validate(specs)
    return combine(specs, [run_one(s.name, s.options, completion, reference, context) for s in specs])


def cache_key(spec: Spec, completion: str, reference: Any, context: dict[str, Any] | None = None) -> str:
    """What identifies a result: verifier name, its version, its options, the completion and the reference, and the
    part of the row context that the verifier reads (none: the key is as it was before contexts existed)."""
    parts = [spec.name, version(spec.name), spec.options, completion, reference]
    seen = context_read(spec.name, context)
    return json.dumps(parts if seen is None else [*parts, seen], sort_keys=True, default=repr)
