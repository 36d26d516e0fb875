"""How a plug-in verifier is called: the style its signature is written in, told apart once per name.

    style = style_of("my_pkg.rewards:accuracy_reward", fn)   # trl_style; verl_style; None: rlvr's own call
    style.score(fn, completion, reference, context, options) # a verl- or TRL-style plug-in, its framework's way
    reads(style, context)                                     # the part of a row's context it reads (`READS`)

rlvr's own verifiers are `fn(completion, reference, options)`. Reward functions written for another framework are
called its way instead, recognised by their parameter names (`check_signature`, the one place that tells them
apart; `STYLES`, in this order: a signature with verl's names is verl's even if it also names `completions`):
- verl's, `compute_score(data_source, solution_str, ground_truth, extra_info=None)`: with the row's data source and
  extra_info; its number or {"score": ...} dict becomes a Verdict (`verl_style`: how, and its status rule);
- TRL's, `f(completions, **kwargs) -> list[float]`: on a batch of one completion, with the row's columns; its
  one-element list becomes a Verdict (`trl_style`).
A job's row context reaches only a verifier of such a style, and only the part its style reads (`READS`), which is
then part of its cache key. The registry (`registry.resolve`) checks each plug-in's signature here as it resolves
it, so a plug-in that cannot be called is refused when the config is loaded, not once per completion.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Mapping
from typing import Any, Callable

from rlvr.verifiers import trl_style, verl_style

STYLES: dict[str, types.ModuleType] = {"verl": verl_style, "trl": trl_style}
_STYLE_OF: dict[str, str] = {}  # plug-in name -> "rlvr" or a key of STYLES, once its signature passed the check


def style_of(name: str, fn: Callable) -> types.ModuleType | None:
    """The style module (`verl_style`, `trl_style`) that plug-in `name`, resolved to `fn`, is called by; None for
    rlvr's own call. Its signature is checked the first time (`check_signature`): a verifier is resolved once per
    completion in the workers, and inspecting it is not free."""
    if name not in _STYLE_OF:
        _STYLE_OF[name] = check_signature(name, fn)
    return STYLES.get(_STYLE_OF[name])


def check_signature(name: str, fn: Callable) -> str:
    """How `fn` is called: the key of STYLES whose parameter names its signature has (that style's `check` refuses a
    signature its call cannot bind), else "rlvr". ValueError naming `name` and its signature when `fn` cannot be
    called as rlvr calls a verifier, `fn(completion, reference, options)`: such a plug-in would pass config validation
    and then give an `error` verdict for every completion. A callable whose signature cannot be read (some C
    functions) is let through."""
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


def reads(style: types.ModuleType | None, context: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The part of a job's row `context` that a verifier of `style` reads (None: it reads none)."""
    if context is None or style is None:
        return None
    return {key: context[key] for key in style.READS if key in context}


def style_options(name: str, fn: Callable, style: types.ModuleType, options: Mapping | None) -> dict | None:
    """A verl- or TRL-style plug-in's options: extra keyword arguments of its call (verl's reward_kwargs), checked
    against its signature (ValueError naming `name`)."""
    if options:
        style.check(name, verl_style.signature(fn), options)
    return dict(options) if options else None


def lacks(style: types.ModuleType | None, fn: Callable, context: Mapping[str, Any], options: Any) -> str | None:
    """What a row with this `context` lacks for a plug-in of `style` (a TRL-style function naming a column the row
    does not have: `trl_style.lacks`), or None."""
    return style.lacks(fn, context, options) if hasattr(style, "lacks") else None
