"""Verifier option values checked against their dataclass annotations.

    check_types(CodeOptions, {"memory_mb": "1g"})   # ValueError: option memory_mb must be an integer, got '1g' (str)

Why: a config's values reach the options dataclass unchecked, and a wrong type changed behaviour silently
(`processes: "false"` is a true string, so forking was on; `memory_mb: "1024"` broke every program's rlimit).
`registry.build_options` runs this for every verifier before building its options, and `CodeOptions` for itself.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Literal

_PLAIN = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def check_types(cls: type, values: dict[str, Any]) -> None:
    """Raise ValueError naming the first of `values` that its field's annotation in `cls` rules out. Understood:
    bool, int, float (an int is fine), str, Literal[...], tuple[X, ...] (a list is fine), X | None; others are not
    checked. A `timeout_s` must also be a positive, finite number: the verifier pool takes it as the deadline."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        wanted = _mismatch(hints[name], value) if name in hints else None
        if wanted:
            raise ValueError(f"option {name} must be {wanted}, got {value!r} ({type(value).__name__})")
    timeout = values.get("timeout_s")
    if "timeout_s" in hints and isinstance(timeout, (int, float)) and not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"option timeout_s must be a positive number of seconds, got {timeout!r}")


def _mismatch(hint: Any, value: Any) -> str | None:
    """What `value` should be under `hint` ("an integer"), or None when it fits or `hint` is not understood."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return None if any(value == a and type(value) is type(a) for a in args) else \
            "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        if value is None and len(others) < len(args):
            return None
        return _mismatch(others[0], value) if len(others) == 1 else None
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        fits = isinstance(value, (tuple, list)) and not any(_mismatch(args[0], v) for v in value)
        return None if fits else f"a list of {getattr(args[0], '__name__', args[0])} values"
    if hint in _PLAIN:
        fits = isinstance(value, hint) and not (isinstance(value, bool) and hint is not bool)
        return None if fits or (hint is float and isinstance(value, int) and not isinstance(value, bool)) else \
            _PLAIN[hint]
    return None
