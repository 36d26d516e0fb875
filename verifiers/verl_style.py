"""Reward functions written for verl, used as they are: `compute_score(data_source, solution_str, ground_truth,
extra_info=None)` returning a number or a dict with a "score".

    verifiers: [{name: "my_verl_rewards:compute_score", options: {format_score: 0.1}}]

Recognised by its parameter names: a plug-in whose signature names `solution_str` and `ground_truth` (positional
or keyword-only; `*args`/`**kwargs` do not count) is called verl's way, by keyword, as verl's reward managers call a
custom `compute_score`:

    fn(data_source=..., solution_str=completion, ground_truth=..., extra_info=..., **options)

`data_source` and `extra_info` are passed when the function takes them (a parameter of that name, or `**kwargs`):
verl's own scorers (`verl.utils.reward_score.gsm8k.compute_score(solution_str, ground_truth, method, format_score,
score)`, `math_dapo.compute_score(solution_str, ground_truth, ...)`) take neither, its dispatcher having picked them
by data source. `options` are extra keyword arguments (verl's `custom_reward_function.reward_kwargs`;
`{format_score: 0.1}` for gsm8k's); they may not name the four above. What the row gives (`Problem.context()`, carried
with the job by the pool): `data_source` (task qa's
row's; a dataset task's hub id, `openai/gsm8k`, so verl's `default_compute_score` finds its scorer; else the task
name), `extra_info` (the row's dict, else `{}` as verl's managers pass; verl adds `num_turns` and
`rollout_reward_scores` to it, rlvr does not), `ground_truth` (the dataset's answer cell as it is, a dict such as
countdown's included; the reference when the job has no row). A job without a row (`rlvr verify` lines without those keys) gives
data_source None, extra_info `{}`.

The return becomes a Verdict whose reward is the score, unchanged:
- a finite number (bool, int, float, numpy scalar, 0-d array or tensor), or a dict with a finite "score" whose other
  keys go to `detail["extra"]` (numpy scalars as plain numbers; a `pred`, DAPO's extracted answer, is also the
  verdict's `pred`, which maj@k votes on);
- status `correct` when the score is full marks, >= 1 (or the dict's `acc`, read the same way, when it has one;
  within 1e-9, so that 0.3 + 0.6 + 0.1 is full marks), else `wrong`. Why: `correct` is what pass@k and the status counts read. verl's scorers give 1 for a right answer,
  0 (gsm8k, math) or -1 (DAPO) for a wrong one, and something between for a format-only or partly passing answer
  (gsm8k's `format_score`): `> 0` would count those as solved. A function on another scale says it with `acc`;
  the reward it trains on is its own number either way.
- anything else is an `error` Verdict: rule `not_a_score` (a string, None, a list), `no_score_key` (a dict
  without "score"), `non_finite_reward` (NaN, inf); a raise is `verifier_raised`, as for any plug-in.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Mapping
from math import isfinite
from typing import Any, Callable

from rlvr.verifiers.verdict import Verdict

NAMES = ("solution_str", "ground_truth")  # what marks verl's signature
FROM_ROW = ("data_source", "extra_info")  # passed when the function takes them
CALLED_WITH = ("data_source", *NAMES, "extra_info")
READS = ("data_source", "extra_info", "ground_truth")  # of a job's row context (`Problem.context()`): the cache key
FULL_MARKS = 1.0 - 1e-9  # a score summed from decimal parts (0.3 + 0.6 + 0.1) is 0.9999999999999999
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def recognises(signature: inspect.Signature) -> bool:
    """Whether a signature is verl's: it names solution_str and ground_truth."""
    params = signature.parameters
    return all(n in params and params[n].kind in _NAMED for n in NAMES)


def _taken(signature: inspect.Signature) -> tuple[str, ...]:
    """Of verl's four arguments, those this signature takes (all four with `**kwargs`)."""
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return CALLED_WITH
    return tuple(n for n in CALLED_WITH if n in params and params[n].kind in _NAMED)


def check(name: str, signature: inspect.Signature, options: Mapping | None = None) -> None:
    """ValueError naming the verifier when verl's call (with `options` as keyword arguments) cannot bind."""
    clash = sorted(set(options or ()) & set(CALLED_WITH))
    if clash:
        raise ValueError(f"verifier {name!r}: option(s) {clash} are what verl passes from the row; options are "
                         f"extra keyword arguments of compute_score")
    try:
        signature.bind(**dict.fromkeys(_taken(signature)), **dict(options or {}))
    except TypeError as e:
        raise ValueError(f"verifier {name!r} has verl's signature {signature}, but verl's call does not fit it ({e}): "
                         f"it is called as fn(solution_str=..., ground_truth=..., **options), with data_source=... "
                         f"and extra_info=... when it takes them") from None


def score(fn: Callable, completion: str, reference: Any, context: Mapping | None, options: Mapping | None) -> Verdict:
    """The Verdict of `fn` called verl's way; what `fn` raises is raised (the registry makes it an `error`)."""
    return verdict(call(fn, completion, reference, context, options))


def call(fn: Callable, completion: str, reference: Any, context: Mapping | None, options: Mapping | None) -> Any:
    """`fn` called as verl's reward managers call it; what it returns, as it is."""
    context = context or {}
    extra_info = context.get("extra_info")
    given = {"data_source": context.get("data_source"), "solution_str": completion,
             "ground_truth": context.get("ground_truth", reference),
             # a copy: verl's own managers add keys to it, and a function may too; the row's stays as it was
             "extra_info": dict(extra_info) if isinstance(extra_info, Mapping) else extra_info or {}}
    try:
        taken = _taken(signature(fn))
    except (TypeError, ValueError):  # checked as verl's when the config was loaded, so it could be read then
        taken = CALLED_WITH
    return fn(**{name: given[name] for name in taken}, **dict(options or {}))


def signature(fn: Callable) -> inspect.Signature:
    """`fn`'s signature, read once per function: `call` and the options check run for every completion."""
    try:
        return _signature(fn)
    except TypeError:  # an unhashable callable (an instance of a dataclass): read each time
        return inspect.signature(fn)


@functools.lru_cache(maxsize=64)
def _signature(fn: Callable) -> inspect.Signature:
    return inspect.signature(fn)


def verdict(result: Any) -> Verdict:
    """The Verdict of what a verl-style function returned (rules in the module docstring); never raises."""
    try:
        return _verdict(result)
    except Exception as e:  # noqa: BLE001 - a user's mapping or number type whose methods raise as they are read
        return _error("not_a_score", f"reading what it returned raised {type(e).__name__}: {e}")


def _verdict(result: Any) -> Verdict:
    if isinstance(result, Verdict):  # a verl-signature function written for rlvr: its own status stands
        return result
    extra: dict[str, Any] = {}
    if isinstance(result, Mapping):
        if "score" not in result:
            return _error("no_score_key", f"returned a dict without 'score' (keys {sorted(map(str, result))[:20]}); "
                                          f"verl reads the reward from result['score']")
        extra = {str(k): _plain(v) for k, v in result.items() if k != "score"}
        result = result["score"]
    return score_verdict(result, "verl_score", "a verl reward function returns a number or a dict with a 'score'",
                         extra.get("acc"), extra)


def score_verdict(value: Any, rule: str, expected: str, acc: Any = None, extra: dict | None = None) -> Verdict:
    """A returned number as a Verdict: the reward unchanged, `correct` at full marks (`acc` decides when it is a
    number), else `wrong`; `error` (`not_a_score`, saying `expected`; `non_finite_reward`) when it is not a finite
    number. The rule for every plug-in that returns a bare score (verl's, TRL's)."""
    reward = _number(value)
    if reward is None:
        return _error("not_a_score", f"returned {type(value).__name__}: {expected}")
    if not isfinite(reward):
        return _error("non_finite_reward", f"reward {reward!r} is not a finite number")
    acc = _number(acc) if acc is not None else None
    full = (acc if acc is not None else reward) >= FULL_MARKS
    detail = {"rule": rule, "score": reward, **({"extra": extra} if extra else {})}
    if (extra or {}).get("pred") is not None:  # DAPO's extracted answer: what maj@k votes on and reports show
        detail["pred"] = extra["pred"]
    return Verdict(reward, "correct" if full else "wrong", detail)


def _error(rule: str, error: str) -> Verdict:
    return Verdict(0.0, "error", {"rule": rule, "error": error[:1000]})


def _number(value: Any) -> float | None:
    """`value` as a float when it is one number (bool and numpy/torch scalars included), else None."""
    if not isinstance(value, numbers.Real) and getattr(value, "shape", None) == () and hasattr(value, "item"):
        try:
            value = value.item()  # numpy.bool_, a 0-d array or tensor
        except Exception:  # noqa: BLE001 - a user's object; what it raises is its own
            return None
    if not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):  # an int too large for a float
        return None


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (it pickles and writes as JSON); anything else as it is."""
    if getattr(value, "shape", None) == () and hasattr(value, "item"):
        try:
            return value.item()
        except Exception:  # noqa: BLE001 - kept as it is; the registry checks that the detail pickles
            return value
    return value
