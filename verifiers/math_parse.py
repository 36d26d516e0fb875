"""The math grader's parser: one answer text into sympy, and the guard that keeps evaluating it safe.

    parse_expression(text) -> sympy object       check_size(obj) raises TooLarge

LaTeX goes through `latex2sympy2_extended` (unevaluated trees); plain text with `**`/`sqrt(` through sympy's
`parse_expr` after a whitelist (it evaluates Python). `check_size` bounds every numeric subtree in log space before
anything is evaluated (`9^{9^{9^9}}`, `1000000!` -> unsafe).
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
NON_FINITE = (sympy.oo, -sympy.oo, sympy.zoo, sympy.nan)


class TooLarge(ValueError):
    """The expression would be too large to evaluate safely."""


def _plain(s: str):
    if not _PLAIN_OK.match(s) or "__" in s:
        raise ValueError("characters outside the plain-text whitelist")
    for ident in re.findall(r"[A-Za-z_]+", s):
        if len(ident) > 1 and ident not in _PLAIN_IDENTS:
            raise ValueError(f"identifier {ident!r} not allowed in plain text")
    local = {"i": sympy.Symbol("i"), "e": sympy.E, "E": sympy.E}
    return parse_expr(s.replace("ln(", "log("), local_dict=local, transformations=_TRANSFORMS, evaluate=False)


def parse_expression(s: str):
    """One LaTeX or plain-text expression as an unevaluated sympy tree; raises ValueError if unparsable."""
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
    if isinstance(e, (sympy.NumberSymbol, sympy.core.numbers.ImaginaryUnit)) or e in NON_FINITE:
        return 1.0
    if isinstance(e, sympy.Pow):
        b, x = _mag(e.base), _mag(e.exp)
        if x is None:
            return None
        if x > 5 or abs(complex(e.exp.evalf(15))) > MAX_EXPONENT:
            raise TooLarge("exponent too large")
        return None if b is None else b * abs(complex(e.exp.evalf(15)))
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
