"""Which function judges a completion: the built-ins by name, anything else by import path.

    VERIFIERS = {"math": math.verify, "code": code.verify, "format": format.verify}
    resolve("math")                       # built-in
    resolve("my_pkg.rewards:score")       # a user's verifier: one new file, one config line, no edit of rlvr
    resolve("/data/my_rewards.py:score")  # or the file itself (verl's custom_reward_function.path): plugin_files
    score(completion, reference, [VerifierSpec(name="math"), VerifierSpec(name="format", weight=0.1,
                                                                         options={"kind": "boxed"})])

A verifier is `fn(completion, reference, options) -> Verdict`, called with those three arguments (`options`
is None when none are configured); a plug-in whose signature cannot take them is refused as it is resolved, when
the config is loaded. Reward functions written for another framework are called its way instead, recognised by
their parameter names here (`_check_signature`, the one place that tells them apart; `STYLES`):
- verl's, `compute_score(data_source, solution_str, ground_truth, extra_info=None)`: with the row's data source and
  extra_info; its number or {"score": ...} dict becomes a Verdict (`verl_style`: how, and its status rule);
- TRL's, `f(completions, **kwargs) -> list[float]`: on a batch of one completion, with the row's columns; its
  one-element list becomes a Verdict (`trl_style`).
Its options type is the frozen dataclass named in
the annotation of its `options` parameter (`options: MyOptions | None = None`); a config's options dict is turned
into it; unknown keys and values of the wrong type (`options.check_types`: `processes: "false"`, `memory_mb: 1g`,
`timeout_s: 0`) are an error naming the option. Without such an annotation the dict is passed as is.
A verifier that raises (`sys.exit` included) gives an `error` Verdict; a detail over 64 KiB of JSON is cut
(`detail_size`). The combined reward is the weighted sum of the verifiers' rewards. `version(name)` feeds the pool's
cache key: the built-ins' VERSION, or a user module's `VERSION` attribute.

A job's `context` (the row's data_source, extra_info, ground_truth, prompt and columns: `Problem.context()`) reaches
only the verifiers that read it (`takes_context`: the verl- and TRL-style ones); for the others it is not sent, and
not part of the cache key, which holds only the part of it that the verifier's style reads (`READS`).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import pickle
import types
import typing
from math import isfinite
from typing import Any, Callable, Protocol

from rlvr.verifiers import code, format, math, trl_style, verl_style
from rlvr.verifiers.detail_size import cut_to_size
from rlvr.verifiers.options import check_types
from rlvr.verifiers.plugin_files import is_file_plugin, load_file
from rlvr.verifiers.verdict import Verdict

Verifier = Callable[..., Verdict]


class Spec(Protocol):
    """What the registry reads of a verifier spec (`config.VerifierSpec`, which imports this module, not back)."""

    name: str
    weight: float
    options: dict[str, Any]


VERIFIERS: dict[str, Verifier] = {"math": math.verify, "code": code.verify, "format": format.verify}
VERSIONS: dict[str, str] = {"math": math.VERSION, "code": code.VERSION, "format": format.VERSION}
# how a plug-in written for another framework is recognised, checked, called and read (in this order: a signature
# with verl's names is verl's even if it also names `completions`)
STYLES: dict[str, types.ModuleType] = {"verl": verl_style, "trl": trl_style}


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
    if name not in _STYLES:  # resolve runs once per completion in the workers: inspect each plug-in once
        _STYLES[name] = _check_signature(name, fn)
    return fn


_STYLES: dict[str, str] = {}  # plug-in name -> how it is called ("rlvr" or a key of STYLES), once it passed the check


def takes_context(name: str) -> bool:
    """Whether verifier `name` reads a job's row context: a verl- or TRL-style plug-in does, the others do not."""
    resolve(name)
    return _STYLES.get(name) in STYLES


def context_read(name: str, context: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a job's row context that verifier `name` reads (None for one that reads none): what its task
    carries to a worker and what its cache key holds."""
    resolve(name)  # a plug-in's style is known once it is resolved
    style = STYLES.get(_STYLES.get(name, "rlvr"))
    if context is None or style is None:
        return None
    return {key: context[key] for key in style.READS if key in context}


def row_lacks(specs: list[Spec], context: dict[str, Any]) -> str | None:
    """One line naming the first verifier of `specs` that a row with this `context` cannot be scored by (a TRL-style
    function naming a column the row does not have: `trl_style.lacks`), or None."""
    for spec in specs:
        fn = resolve(spec.name)
        style = STYLES.get(_STYLES.get(spec.name, "rlvr"))
        why = style.lacks(fn, context, build_options(spec.name, spec.options)) if hasattr(style, "lacks") else None
        if why:
            return f"verifier {spec.name!r}: {why}"
    return None


def _check_signature(name: str, fn: Verifier) -> str:
    """How `fn` is called: the key of STYLES whose parameter names its signature has (that style's `check` refuses a
    signature its call cannot bind), else "rlvr". ValueError naming `name` and its signature when `fn` cannot be
    called as `run_one` calls it: `fn(completion, reference, options)`; such a plug-in passed config validation and
    then gave an `error` verdict for every completion. A callable whose signature cannot be read (some C functions)
    is let through."""
    try:
        signature = inspect.signature(fn)
    except (ValueError, TypeError):
        return "rlvr"
    for style, module in STYLES.items():  # called by keyword; before the positional check, which they may pass
        if module.recognises(signature):
            module.check(name, signature)
            return style
    try:
        signature.bind(None, None, None)
    except TypeError:
        raise ValueError(f"verifier {name!r} has the signature {signature}, but a verifier is called as "
                         f"fn(completion, reference, options) (options is None when none are configured); define "
                         f"it as def {getattr(fn, '__name__', 'fn')}(completion, reference, options=None)") from None
    return "rlvr"


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
    style = STYLES.get(_STYLES.get(name, "rlvr"))
    if style is not None:  # options are extra keyword arguments (verl's reward_kwargs)
        if options:
            style.check(name, verl_style.signature(fn), options)
        return dict(options) if options else None
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
    style = STYLES.get(_STYLES.get(name, "rlvr"))
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
    """Keys of the verdicts dict: the verifier name, with `#2`, `#3` for repeated names."""
    keys, seen = [], {}
    for spec in specs:
        seen[spec.name] = seen.get(spec.name, 0) + 1
        keys.append(spec.name if seen[spec.name] == 1 else f"{spec.name}#{seen[spec.name]}")
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
