"""Reward functions written for TRL's GRPOTrainer, used as they are: `f(completions, **kwargs) -> list[float]`.

    verifiers: [{name: "my_pkg.rewards:accuracy_reward"}]

Recognised by its parameter names: a plug-in with a parameter named `completions` (positional or keyword-only)
is TRL's. TRL calls it by keyword with a batch; rlvr's pool scores one completion per job, so the batch here is
that one completion, and every argument is a one-element list:

    fn(completions=[completion], prompts=[prompt], <column>=[value], ..., **options)

- `completions`: the completion's text; for a task whose prompt is chat messages (TRL's conversational format)
  `[{"role": "assistant", "content": text}]`, as TRL gives it.
- `prompts`: the problem's prompt, text or messages, as the model was given it.
- columns: the dataset row's columns other than its prompt (`Problem.context()["columns"]`). TRL passes every one;
  here a function gets those it names, and all of them when it takes `**kwargs` (`prompts` likewise). A column it
  names without a default that the row lacks gives an `error` Verdict (rule `missing_column`, naming the row's
  columns), as TRL's call would raise; a training run checks its first problem (`lacks`) and refuses to start.
- `completion_ids` and `trainer_state`, which TRL also passes, are not: a job holds the completion's text, and the
  verifiers run apart from the trainer. A function that requires either is refused when the config is loaded.
- `options`: extra keyword arguments (an option named like a column replaces it); one the signature cannot take,
  or one named like the four above, is refused when the config is loaded.

The return is a list (tuple, array) of one reward per completion, so of one here:
- a number: the reward, unchanged; `correct` at full marks (>= 1), else `wrong` (`verl_style.score_verdict`, the
  rule verl's numbers follow: a format reward of 0.5 is a reward, not a solved problem);
- None: TRL's "this function does not apply to this sample" (its multi-task rewards; its own `accuracy_reward` when
  the gold cannot be parsed), which TRL leaves out of the weighted sum. Here: reward 0, status `no_answer`, rule
  `returned_none`, so it counts as 0 in the sum, as in TRL's, and stays visible in the status counts; an `error`
  would stop a run whose function returns None for a whole batch of another task's rows;
- anything else is an `error` Verdict: `not_a_list` (a bare number, a string, a dict), `wrong_length`,
  `not_a_score`, `non_finite_reward`; a raise is `verifier_raised`, as for any plug-in.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import Any, Callable

from rlvr.verifiers.verdict import Verdict
from rlvr.verifiers.verl_style import score_verdict, signature

PASSED = ("completions", "prompts")  # what TRL's call gives besides the columns, and rlvr too
NOT_PASSED = ("completion_ids", "trainer_state")  # what TRL's call gives and a verification job does not hold
READS = ("prompt", "columns")  # of a job's row context (`Problem.context()`): the cache key
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def recognises(signature: inspect.Signature) -> bool:
    """Whether a signature is TRL's: it has a parameter `completions` that can be passed by keyword."""
    param = signature.parameters.get("completions")
    return param is not None and param.kind in _NAMED


def _named(signature: inspect.Signature) -> set[str]:
    return {n for n, p in signature.parameters.items() if p.kind in _NAMED}


def _takes_all(signature: inspect.Signature) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())


def check(name: str, signature: inspect.Signature, options: Mapping | None = None) -> None:
    """ValueError naming the verifier when TRL's call (with `options`) cannot be made here."""
    params = signature.parameters
    clash = sorted(set(options or ()) & {*PASSED, *NOT_PASSED})
    if clash:
        raise ValueError(f"verifier {name!r}: option(s) {clash} are what TRL passes; options are extra keyword "
                         f"arguments of the reward function")
    required = [n for n in NOT_PASSED if n in _named(signature) and params[n].default is inspect.Parameter.empty]
    if required:
        raise ValueError(f"verifier {name!r} (TRL's signature {signature}) requires {' and '.join(required)}, which "
                         f"rlvr does not pass: a verification job holds the completion's text, not its token ids, and "
                         f"runs apart from the trainer; give it a default ({required[0]}=None)")
    unknown = [] if _takes_all(signature) else sorted(set(options or ()) - _named(signature))
    if unknown:
        raise ValueError(f"verifier {name!r} (TRL's signature {signature}) takes no option(s) {unknown}: options are "
                         f"passed as keyword arguments")


def score(fn: Callable, completion: str, reference: Any, context: Mapping | None, options: Mapping | None) -> Verdict:
    """The Verdict of `fn` called TRL's way on a batch of one; what `fn` raises is raised (the registry makes it an
    `error`). `reference` is not passed: TRL's functions read the row's own columns."""
    arguments, missing = _arguments(signature(fn), completion, context or {}, options or {})
    if missing:
        return _error("missing_column", _missing_text(missing, context))
    return verdict(fn(**arguments))


def lacks(fn: Callable, context: Mapping | None, options: Mapping | None) -> str | None:
    """What a row with this `context` lacks for `fn` (a column it names without a default), or None: checked on the
    first training problem before a run starts, so a misnamed column is one line, not an `error` per completion."""
    _, missing = _arguments(signature(fn), "", context or {}, options or {})
    return _missing_text(missing, context) if missing else None


def _missing_text(missing: list[str], context: Mapping | None) -> str:
    columns = sorted((context or {}).get("columns") or {})
    return (f"the reward function takes {', '.join(map(repr, missing))}, which this row does not have (its columns: "
            f"{', '.join(columns) or 'none'})")


def _arguments(sig: inspect.Signature, completion: str, context: Mapping, options: Mapping,
               ) -> tuple[dict[str, Any], list[str]]:
    """(keyword arguments of TRL's call on a batch of one, the required parameters nothing fills)."""
    named, takes_all = _named(sig), _takes_all(sig)
    prompt = context.get("prompt")
    chat = isinstance(prompt, list)  # TRL's conversational format: the completion is a message too
    message = [{"role": "assistant", "content": completion}]
    arguments: dict[str, Any] = {"completions": [message if chat else completion]}
    if takes_all or "prompts" in named:
        arguments["prompts"] = [prompt]
    # a copy: the function may change what it is given (a dict ground truth), and the row's must stay as it was
    for column, value in copy.deepcopy(dict(context.get("columns") or {})).items():
        if column not in (*PASSED, *NOT_PASSED) and (takes_all or column in named):
            arguments[column] = [value]
    arguments.update(options)
    missing = [n for n, p in sig.parameters.items()
               if p.kind in _NAMED and p.default is inspect.Parameter.empty and n not in arguments]
    return arguments, missing


def verdict(result: Any) -> Verdict:
    """The Verdict of what a TRL-style function returned for a batch of one (rules in the module docstring)."""
    try:
        return _verdict(result)
    except Exception as e:  # noqa: BLE001 - a user's sequence type whose methods raise as they are read
        return _error("not_a_list", f"reading what it returned raised {type(e).__name__}: {e}")


def _verdict(result: Any) -> Verdict:
    if isinstance(result, (str, bytes, Mapping)) or not hasattr(result, "__len__") or getattr(result, "shape", 0) == ():
        return _error("not_a_list", f"returned {type(result).__name__}: a TRL reward function returns a list with one "
                                    f"reward per completion (here one completion)")
    if len(result) != 1:
        return _error("wrong_length", f"returned {len(result)} rewards for a batch of 1 completion")
    value = result[0]
    if value is None:
        return Verdict(0.0, "no_answer", {"rule": "returned_none", "note": "the reward function returned None: it "
                                          "does not apply to this sample (TRL leaves it out of the sum)"})
    return score_verdict(value, "trl_score", "a TRL reward function returns a list of numbers (or None)")


def _error(rule: str, error: str) -> Verdict:
    return Verdict(0.0, "error", {"rule": rule, "error": error[:1000]})
