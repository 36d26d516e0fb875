"""The value format between the judge (trusted parent) and the sandboxed program.

One JSON document per line. Plain JSON carries None, bool, int, float (NaN/Infinity included), str and list;
every other builtin value is a one-key object: ``{"t": [...]}`` tuple, ``{"s": [...]}`` set, ``{"f": [...]}``
frozenset, ``{"d": [[k, v], ...]}`` dict, ``{"b": hex}`` bytes, ``{"y": hex}`` bytearray, ``{"c": [re, im]}``
complex, ``{"i": hex}`` int too long for decimal, ``{"q": [num, den]}`` Fraction, ``{"D": str}`` Decimal,
``{"r": [start, stop, step]}`` range, ``{"T": name}`` a builtin type (``int``, ``str``, ...), ``{"o": [kind,
class name, [[field, value], ...], handle]}`` a dataclass instance or enum member by value (a `Record`), ``{"h": n}``
a handle: any other object stays in the sandbox and the judge holds an opaque `RemoteRef` it can only pass back.
Subclasses of builtins (named tuples, IntEnum, OrderedDict, ...) travel as their base value.

`decode` is the security boundary: whatever the program sends, the judge only ever holds values of these builtin
types, so an object with a forged ``__eq__`` (or any other method) cannot reach the test assertions.
This file is stdlib-only and imports little (the child runner executes it at every start, before it drops
privileges): `fractions` and `decimal` are only touched when such a value is actually sent.
"""

from __future__ import annotations

import builtins
import json
import sys
from typing import Any

MAX_LINE_BYTES = 32 * 1024 * 1024  # a response larger than this is refused by the judge


_TYPES = {n: getattr(builtins, n) for n in (
    "int", "float", "str", "bool", "list", "tuple", "dict", "set", "frozenset", "bytes", "complex", "type", "object")}


class WireError(ValueError):
    """A value that cannot cross the boundary (unsupported type, malformed or oversized message)."""


class RemoteRef:
    """An object that stayed in the sandbox. Equality is identity: nothing the program wrote runs in the judge."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def __repr__(self) -> str:
        return f"<sandbox object #{self.index}>"


class Record:
    """A dataclass instance or enum member of the program, by value: `kind` ("dataclass" | "enum"), its class name,
    and `fields` ((name, value) pairs: the dataclass's compared fields, or an enum member's name and value).

    Two records are equal when kind, class name and fields are; a record also equals a judge-side dataclass
    instance or enum member (from the trusted tests or setup) with the same class name and fields. The program's own
    `__eq__` never runs: its values crossed the boundary as data. `ref` is the handle to the original object, so a
    record passed back to the program arrives there as that object."""

    __slots__ = ("kind", "type_name", "fields", "ref")

    def __init__(self, kind: str, type_name: str, fields: tuple, ref: "RemoteRef | None" = None):
        self.kind, self.type_name, self.fields, self.ref = kind, type_name, fields, ref

    def _key(self) -> tuple:
        return self.kind, self.type_name, self.fields

    def __eq__(self, other: object) -> bool:
        other = other if isinstance(other, Record) else as_record(other)
        return NotImplemented if other is None else self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self.kind == "enum":
            return f"{self.type_name}.{dict(self.fields)['name']}"
        return f"{self.type_name}({', '.join(f'{k}={v!r}' for k, v in self.fields)})"


def _record_parts(v: Any) -> tuple[str, list] | None:
    """("dataclass" | "enum", [(field, value), ...]) for a dataclass instance or an enum member, else None.
    Looks only at modules the program already imported (nothing is imported here)."""
    dataclasses, enum = sys.modules.get("dataclasses"), sys.modules.get("enum")
    if enum is not None and isinstance(v, enum.Enum):
        return "enum", [("name", v.name), ("value", v.value)]
    if dataclasses is not None and not isinstance(v, type) and dataclasses.is_dataclass(v):
        return "dataclass", [(f.name, getattr(v, f.name)) for f in dataclasses.fields(v) if f.compare]
    return None


def as_record(v: Any) -> Record | None:
    """A judge-side dataclass instance or enum member as a Record (trusted code only), else None."""
    parts = _record_parts(v)
    return None if parts is None else Record(parts[0], type(v).__name__, tuple(parts[1]))


def _enc(v: Any, depth: int, store: list | None = None) -> Any:
    if depth > 200:
        raise WireError("value nested too deeply")
    t = type(v)
    if v is None or t is bool or t is str or t is float:
        return v
    if t is int:
        return v if abs(v) < 10**4000 else {"i": hex(v)}
    if t is list:
        return [_enc(x, depth + 1, store) for x in v]
    if t is tuple:
        return {"t": [_enc(x, depth + 1, store) for x in v]}
    if t is set:
        return {"s": [_enc(x, depth + 1, store) for x in v]}
    if t is frozenset:
        return {"f": [_enc(x, depth + 1, store) for x in v]}
    if t is dict:
        return {"d": [[_enc(k, depth + 1, store), _enc(x, depth + 1, store)] for k, x in v.items()]}
    if t is bytes:
        return {"b": v.hex()}
    if t is bytearray:
        return {"y": bytes(v).hex()}
    if t is complex:
        return {"c": [v.real, v.imag]}
    if t.__name__ == "Fraction" and t.__module__ == "fractions":
        return {"q": [v.numerator, v.denominator]}
    if t.__name__ == "Decimal" and t.__module__ in ("decimal", "_decimal", "_pydecimal"):
        return {"D": str(v)}
    if t is range:
        return {"r": [v.start, v.stop, v.step]}
    if t is RemoteRef:
        return {"h": v.index}
    if t is Record:
        if v.ref is None:
            raise WireError(f"cannot send {v!r}: it was not made by the program")
        return {"h": v.ref.index}
    if t is type and _TYPES.get(getattr(v, "__name__", None)) is v:
        return {"T": v.__name__}
    # Subclasses of builtins (IntEnum, OrderedDict, namedtuple, ...) travel as their base value.
    for base in (bool, int, float, str, tuple, list, dict, set, frozenset, bytes):
        if isinstance(v, base):
            return _enc(base(v) if base is not tuple else tuple(v), depth, store)
    parts = _record_parts(v) if store is not None else None  # records are sent by the program's side only
    if parts is not None:
        kind, fields = parts
        encoded = [[name, _enc(x, depth + 1, store)] for name, x in fields]
        store.append(v)
        return {"o": [kind, t.__name__, encoded, len(store) - 1]}
    if store is not None:
        store.append(v)
        return {"h": len(store) - 1}
    raise WireError(f"cannot send a value of type {t.__name__}")


def encode(v: Any, store: list | None = None) -> str:
    """One line of JSON for a builtin value; other objects go to `store` (the sandbox side) or raise WireError."""
    try:
        return json.dumps(_enc(v, 0, store), separators=(",", ":"))
    except (ValueError, RecursionError) as e:  # WireError is a ValueError
        raise WireError(str(e)) from None


def _module(name: str):
    __import__(name)
    return sys.modules[name]


_DECODERS = {
    "t": tuple,
    "s": set,
    "f": frozenset,
    "d": lambda pairs: {k: x for k, x in pairs},
    "b": bytes.fromhex,
    "y": lambda h: bytearray(bytes.fromhex(h)),
    "c": lambda p: complex(float(p[0]), float(p[1])),
    "i": lambda h: int(h, 16),
    "q": lambda p: _module("fractions").Fraction(int(p[0]), int(p[1])),
    "D": lambda text: _module("decimal").Decimal(text),
    "r": lambda p: range(int(p[0]), int(p[1]), int(p[2])),
    "T": lambda n: _TYPES[n],
}


def decode(line: str | bytes, store: list | None = None) -> Any:
    """Parse one line into builtin values (and RemoteRefs, or `store` objects on the sandbox side) only."""
    if len(line) > MAX_LINE_BYTES:
        raise WireError("message too large")

    def hook(obj: dict) -> Any:
        if len(obj) != 1:
            raise WireError("malformed tagged value")
        (tag, payload), = obj.items()
        if tag == "h":
            return RemoteRef(int(payload)) if store is None else store[int(payload)]
        if tag == "o" and store is None:
            kind, name, fields, handle = payload
            if kind not in ("dataclass", "enum") or not isinstance(name, str):
                raise WireError("malformed record")
            return Record(kind, name, tuple((str(k), x) for k, x in fields), RemoteRef(int(handle)))
        fn = _DECODERS.get(tag)
        if fn is None:
            raise WireError(f"unknown tag {tag!r}")
        return fn(payload)

    try:
        return json.loads(line, object_hook=hook)
    except WireError:
        raise
    except (ValueError, TypeError, ArithmeticError, RecursionError, IndexError, KeyError) as e:
        raise WireError(f"malformed message: {type(e).__name__}: {str(e)[:200]}") from None
