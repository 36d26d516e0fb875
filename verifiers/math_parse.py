"""Text -> sympy, with a size guard that runs before anything is evaluated.

LaTeX goes through `latex2sympy2_extended` (a maintained ANTLR parser that builds unevaluated trees);
plain text with `**`, `sqrt(...)` and the like goes through sympy's `parse_expr` after a whitelist of characters
and identifiers (parse_expr evaluates Python, so nothing else may reach it).
`check_size` bounds the magnitude of every numeric subtree in log space, so `9^{9^{9^{9}}}` or `1000000!`
is refused before sympy tries to compute it.
"""

from __future__ import annotations

import math
import re
from tokenize import TokenError

import sympy
from latex2sympy2_extended import latex2sympy
from latex2sympy2_extended.latex2sympy2 import ConversionConfig
from sympy.parsing.sympy_parser import (convert_xor, implicit_multiplication_application, parse_expr,
                                        standard_transformations)

MAX_DIGITS = 2000  # log10 bound of any numeric subtree
MAX_EXPONENT = 10_000  # |exponent| of a power with a numeric base
MAX_NODES = 2000
_CONVERSION = ConversionConfig(interpret_as_mixed_fractions=True, interpret_simple_eq_as_assignment=False,
                               interpret_contains_as_eq=True, lowercase_symbols=False)
_PLAIN_OK = re.compile(r"^[0-9A-Za-z+\-*/^().,=<> ]*$")
_PLAIN_IDENTS = {"sqrt", "pi", "exp", "log", "ln", "sin", "cos", "tan", "oo", "E", "I"}
_PLAIN_HINT = re.compile(r"\*\*|\b(?:sqrt|exp|log|ln|sin|cos|tan)\(|\bpi\b|\boo\b")
_TRANSFORMS = standard_transformations + (implicit_multiplication_application, convert_xor)


class TooLarge(ValueError):
    """The expression would be too large to evaluate safely."""


def _plain(s: str):
    if not _PLAIN_OK.match(s) or "__" in s:
        raise ValueError("characters outside the plain-text whitelist")
    for ident in re.findall(r"[A-Za-z_]+", s):
        if len(ident) > 1 and ident not in _PLAIN_IDENTS:
            raise ValueError(f"identifier {ident!r} not allowed in plain text")
    s = s.replace("ln(", "log(")
    local = {"i": sympy.Symbol("i"), "e": sympy.E, "E": sympy.E}
    return parse_expr(s, local_dict=local, transformations=_TRANSFORMS, evaluate=False)


def parse(s: str):
    """A sympy object (expression, relation, set, interval, tuple or matrix); raises ValueError if unparsable."""
    if "\\" not in s and _PLAIN_HINT.search(s):
        try:
            return _plain(s)
        except (ValueError, TypeError, SyntaxError, TokenError):
            pass
    try:
        return latex2sympy(s, normalization_config=None, conversion_config=_CONVERSION)
    except Exception as e:  # noqa: BLE001 - the ANTLR parser raises bare Exception for syntax errors
        raise ValueError(f"unparsable: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}") from None


def _mag(e) -> float | None:
    """Upper bound on log10|value| of a numeric subtree (None: symbolic); raises TooLarge. Visits every node."""
    m = _mag_node(e)
    if m is not None and m > MAX_DIGITS:
        raise TooLarge(f"number with more than {MAX_DIGITS} digits")
    return m


def _mag_node(e) -> float | None:
    if isinstance(e, sympy.Integer):
        n = abs(int(e.p))
        return 0.0 if n < 10 else float(len(str(n)) if n.bit_length() < 14000 else n.bit_length() * 0.302)
    if isinstance(e, sympy.Rational):
        return max(_mag(sympy.Integer(e.p)), _mag(sympy.Integer(e.q)))
    if isinstance(e, sympy.Float):
        return math.log10(abs(float(e))) if e and math.isfinite(float(e)) else 0.0
    if isinstance(e, (sympy.NumberSymbol, sympy.core.numbers.ImaginaryUnit)) or e in (sympy.oo, -sympy.oo, sympy.zoo):
        return 1.0
    if isinstance(e, sympy.Pow):
        b, x = _mag(e.base), _mag(e.exp)
        if x is not None:
            if x > 5:
                raise TooLarge("exponent too large")
            xv = abs(complex(e.exp.evalf(15)))
            if xv > MAX_EXPONENT:
                raise TooLarge("exponent too large")
            return None if b is None else b * xv
        return None
    if isinstance(e, (sympy.factorial, sympy.factorial2, sympy.gamma, sympy.subfactorial)):
        m = _mag(e.args[0])
        if m is not None and (m > 4 or abs(complex(e.args[0].evalf(15))) > 3000):
            raise TooLarge("factorial argument too large")
        return None if m is None else 10.0 ** m * 4
    args = [_mag(a) for a in getattr(e, "args", ())]
    if isinstance(e, sympy.Mul):
        return None if any(a is None for a in args) else sum(args)
    known = [a for a in args if a is not None]
    return (max(known) + 1 if known else 0.0) if len(known) == len(args) else None


def check_size(obj) -> None:
    """Raise TooLarge for a tree with too many nodes or a numeric part beyond MAX_DIGITS digits."""
    items = list(obj) if isinstance(obj, (sympy.MatrixBase, list, tuple)) else [obj]
    nodes = 0
    for item in items:
        if not isinstance(item, sympy.Basic):
            raise TooLarge(f"unexpected parse result {type(item).__name__}")
        for _ in sympy.preorder_traversal(item):
            nodes += 1
            if nodes > MAX_NODES:
                raise TooLarge("expression too large")
        _mag(item)
