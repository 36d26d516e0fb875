"""The math verifier's grader: parse two normalised answers into sympy and decide whether they are the same.

    handle({"gold": str, "gold_percent": bool, "pred": str, "pred_percent": bool, "rel_tol": float}) -> dict

It runs where a hard deadline is enforced from outside (a pool worker, or `math.py`'s supervised helper).
Parsing: LaTeX through `latex2sympy2_extended` (unevaluated trees); plain text with `**`/`sqrt(` through sympy's
`parse_expr` after a whitelist (it evaluates Python); `x < 2 or x > 3` as the union of its parts. `check_size`
bounds every numeric subtree in log space before anything is evaluated (`9^{9^{9^9}}`, `1000000!` -> unsafe).
Equivalence, scalars: structural; anything holding oo/nan/zoo is equal only structurally; decimals become the exact
rationals they spell; numbers (no free symbols) compare exactly when rational, else to 60 digits (so `0.3333` is not
`1/3` and `2^{60}+1` is not `2^{60}`); expressions with symbols at 5 random non-integer rational points, relative
tolerance `rel_tol` (so `\\prod (x-k)` is not `0`). Containers: sets and unions unordered, tuples and matrices in
order (scalar multiples of matrices evaluated), intervals with their ends; `x = 3` vs `3`; equations up to a factor;
an inequality vs the interval or union it describes.
"""

from __future__ import annotations

import functools
import math
import random
import re
from tokenize import TokenError

import sympy
from latex2sympy2_extended import latex2sympy
from latex2sympy2_extended.latex2sympy2 import ConversionConfig
from sympy.core.relational import Relational
from sympy.matrices.expressions import MatrixExpr
from sympy.parsing.sympy_parser import (convert_xor, implicit_multiplication_application, parse_expr,
                                        standard_transformations)

MAX_DIGITS = 2000  # log10 bound of any numeric subtree
MAX_EXPONENT = 10_000  # |exponent| of a power with a numeric base
MAX_NODES = 2000
POINTS = 5
_CONVERSION = ConversionConfig(interpret_as_mixed_fractions=True, interpret_simple_eq_as_assignment=False,
                               interpret_contains_as_eq=True, lowercase_symbols=False)
_PLAIN_OK = re.compile(r"^[0-9A-Za-z+\-*/^().,=<> ]*$")
_PLAIN_IDENTS = {"sqrt", "pi", "exp", "log", "ln", "sin", "cos", "tan", "oo", "E", "I"}
_PLAIN_HINT = re.compile(r"\*\*|\b(?:sqrt|exp|log|ln|sin|cos|tan)\(|\bpi\b|\boo\b")
_TRANSFORMS = standard_transformations + (implicit_multiplication_application, convert_xor)
_OR = re.compile(r"\s+or\s+|\\lor\b|\\vee\b")
_I = sympy.Symbol("i")
_BAD = (sympy.oo, -sympy.oo, sympy.zoo, sympy.nan)


class TooLarge(ValueError):
    """The expression would be too large to evaluate safely."""


# ---- parsing ---------------------------------------------------------------------------------------------------

def _plain(s: str):
    if not _PLAIN_OK.match(s) or "__" in s:
        raise ValueError("characters outside the plain-text whitelist")
    for ident in re.findall(r"[A-Za-z_]+", s):
        if len(ident) > 1 and ident not in _PLAIN_IDENTS:
            raise ValueError(f"identifier {ident!r} not allowed in plain text")
    local = {"i": sympy.Symbol("i"), "e": sympy.E, "E": sympy.E}
    return parse_expr(s.replace("ln(", "log("), local_dict=local, transformations=_TRANSFORMS, evaluate=False)


def _one(s: str):
    if "\\" not in s and _PLAIN_HINT.search(s):
        try:
            return _plain(s)
        except (ValueError, TypeError, SyntaxError, TokenError):
            pass
    try:
        return latex2sympy(s, normalization_config=None, conversion_config=_CONVERSION)
    except Exception as e:  # noqa: BLE001 - the ANTLR parser raises bare Exception for syntax errors
        raise ValueError(f"unparsable: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}") from None


@functools.lru_cache(maxsize=4096)  # a gold is graded against a whole group of completions, which often agree
def parse(s: str):
    """A sympy object (expression, relation, set, interval, tuple or matrix); raises ValueError if unparsable."""
    if s.count("=") >= 2 and not re.search(r"[<>]|\\[lg]e", s):
        return _chain(s)
    parts = _OR.split(s)
    if len(parts) == 1:
        return _one(s)
    rels = [_one(p) for p in parts]  # `x < 2 or x > 3`, `x = 3 or x = 5`: the union of what each part describes
    sets = [_as_set(r) if isinstance(r, Relational) else None for r in rels]
    if any(x is None for x in sets):
        raise ValueError("'or' between things that are not relations in one variable")
    return sympy.Union(*sets)


def _chain(s: str):
    """`(a b)^{55} = 1^{55} = 1`: a chain of equal numbers states its last one; any other chain states nothing."""
    parts = [_one(p) for p in s.split("=")]
    check_size(parts)
    if not all(isinstance(p, sympy.Expr) and not p.free_symbols for p in parts):
        raise ValueError("a chain of equations with unknowns")
    if not all(scalar_equal(_exact(p), _exact(parts[-1]), 1e-9)[0] for p in parts[:-1]):
        raise ValueError("a chain of unequal values (a false statement)")
    return parts[-1]


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
    if isinstance(e, (sympy.NumberSymbol, sympy.core.numbers.ImaginaryUnit)) or e in _BAD:
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


# ---- equivalence -----------------------------------------------------------------------------------------------

def _exact(e):
    """Decimals replaced by the rationals they spell (`0.3333` is 3333/10000, not 1/3); `i` is the imaginary unit."""
    if not isinstance(e, sympy.Basic):
        return e
    e = e.xreplace({f: sympy.Rational(str(f)) for f in e.atoms(sympy.Float) if f.is_finite})
    return e.subs(_I, sympy.I) if e.has(_I) else e


def _n(x, digits: int) -> complex | None:
    try:
        v = complex(sympy.N(x, digits))
    except (TypeError, ValueError, AttributeError, ZeroDivisionError):
        return None
    return v if all(math.isfinite(t) for t in (v.real, v.imag)) else None


def scalar_equal(g, p, rel_tol: float) -> tuple[bool, str]:
    if g == p:
        return True, "structural"
    if not (isinstance(g, sympy.Expr) and isinstance(p, sympy.Expr)):
        return False, "type_mismatch"
    if any(x.has(*_BAD) for x in (g, p)):
        return False, "infinity_or_nan"  # equal infinities were caught structurally above
    syms = sorted(g.free_symbols | p.free_symbols, key=str)
    if not syms:
        gv, pv = g.doit(), p.doit()
        if any(x.has(*_BAD) for x in (gv, pv)):
            return False, "infinity_or_nan"
        if gv.is_Rational and pv.is_Rational:
            return gv == pv, "exact"
        a, b = _n(gv, 60), _n(pv, 60)
        return (a is not None and b is not None and abs(a - b) <= 1e-45 * max(1.0, abs(a), abs(b))), "numeric_exact"
    rng = random.Random(f"{g}|{p}")
    agreed = 0
    for _ in range(POINTS * 2):
        point = {s: sympy.Rational(rng.choice((-1, 1)) * rng.randint(1, 10**6), 999_983) * rng.randint(1, 5)
                 for s in syms}  # 999983 is prime and the numerator smaller than 5x it: never an integer point
        point = {s: v for s, v in point.items() if v.q != 1}
        if len(point) < len(syms):
            continue
        a, b = _n(g.subs(point).doit(), 30), _n(p.subs(point).doit(), 30)
        if a is None or b is None:
            continue  # outside a domain: try another point
        if abs(a - b) > rel_tol * max(abs(a), abs(b), 1e-12):
            return False, "random_points"
        agreed += 1
        if agreed == POINTS:
            return True, "random_points"
    return False, "random_points_undefined"


def _match_unordered(gs, ps, rel_tol) -> bool:
    gs, ps = list(gs), list(ps)
    if len(gs) != len(ps) or len(gs) > 30:
        return False
    used = [False] * len(ps)
    for g in gs:
        for j, p in enumerate(ps):
            if not used[j] and equivalent(g, p, rel_tol)[0]:
                used[j] = True
                break
        else:
            return False
    return True


def _as_set(rel):
    if len(rel.free_symbols) != 1:
        return None
    try:
        return rel.as_set()
    except (NotImplementedError, TypeError, ValueError):
        return None


def _equation_multiple(g: sympy.Eq, p: sympy.Eq) -> bool:
    a, b = g.lhs - g.rhs, p.lhs - p.rhs
    if b == 0 or a == 0:
        return a == b
    try:
        ratio = sympy.simplify(a / b)
    except (TypeError, ValueError, NotImplementedError, ZeroDivisionError):
        return False
    return ratio.is_number and ratio != 0 and ratio.is_finite is True


def _stated_value(g, p: sympy.Eq, rel_tol: float) -> tuple[bool, str]:
    """`x = 3`, `a + b = -1` (a named value) and `5 + 4 + 2 = 11` (a true statement) state their right side;
    a false statement (`1 + 1 = 3`) states nothing."""
    if isinstance(g, (sympy.Set, sympy.Tuple)) or p.rhs.free_symbols and not p.lhs.is_Symbol:
        return False, "assignment"
    if not p.lhs.free_symbols and not scalar_equal(p.lhs, p.rhs, rel_tol)[0]:
        return False, "false_statement"
    return equivalent(g, p.rhs, rel_tol)[0], "assignment"


def _explicit(x):
    return x.as_explicit() if isinstance(x, MatrixExpr) else x


def equivalent(g, p, rel_tol: float = 1e-9) -> tuple[bool, str]:
    g, p = _explicit(_exact(g)), _explicit(_exact(p))
    if isinstance(g, sympy.MatrixBase) or isinstance(p, sympy.MatrixBase):
        if not (isinstance(g, sympy.MatrixBase) and isinstance(p, sympy.MatrixBase)) or g.shape != p.shape:
            return False, "matrix_shape"
        return all(equivalent(a, b, rel_tol)[0] for a, b in zip(g, p)), "matrix"
    if isinstance(g, sympy.Eq) and not isinstance(p, Relational):
        return (equivalent(g.rhs, p, rel_tol)[0] if g.lhs.is_Symbol else False), "equation_value"
    if isinstance(p, sympy.Eq) and not isinstance(g, Relational):
        return _stated_value(g, p, rel_tol)
    if isinstance(g, sympy.Eq) and isinstance(p, sympy.Eq):
        if g.lhs.is_Symbol and p.lhs.is_Symbol and equivalent(g.rhs, p.rhs, rel_tol)[0]:
            return True, "equation_rhs"
        return _equation_multiple(g, p), "equation"
    if isinstance(g, (Relational, sympy.And)) or isinstance(p, (Relational, sympy.And)):
        gs = _as_set(g) if isinstance(g, (Relational, sympy.And)) else g
        ps = _as_set(p) if isinstance(p, (Relational, sympy.And)) else p
        if gs is None or ps is None or isinstance(gs, (Relational, sympy.And)):
            return g == p, "relation"
        return equivalent(gs, ps, rel_tol)[0], "inequality_set"
    if isinstance(g, sympy.Interval) and isinstance(p, sympy.Interval):
        ok = (g.left_open, g.right_open) == (p.left_open, p.right_open)
        return ok and equivalent(g.start, p.start, rel_tol)[0] and equivalent(g.end, p.end, rel_tol)[0], "interval"
    for kind, rule in ((sympy.Union, "union"), (sympy.FiniteSet, "set")):
        if isinstance(g, kind) and isinstance(p, kind):
            return _match_unordered(g.args, p.args, rel_tol), rule
    if isinstance(g, sympy.Tuple) and isinstance(p, sympy.Tuple):
        return len(g) == len(p) and all(equivalent(a, b, rel_tol)[0] for a, b in zip(g, p)), "tuple"
    if isinstance(g, (sympy.Set, sympy.Tuple)) or isinstance(p, (sympy.Set, sympy.Tuple)):
        return False, "shape_mismatch"
    return scalar_equal(g, p, rel_tol)


# ---- one request -----------------------------------------------------------------------------------------------

def _variants(expr, percent: bool):
    """50% may mean 50 or 0.5: a percent-marked answer is also tried divided by 100."""
    yield expr, ""
    if percent and isinstance(expr, sympy.Expr):
        yield expr / 100, " (percent)"


def handle(req: dict) -> dict:
    """{"status": correct|wrong|unsafe|error, "rule", "gold_parsed", "pred_parsed", "error"?}."""
    try:
        gold = parse(req["gold"])
        check_size(gold)
    except TooLarge as e:
        return {"status": "error", "rule": "gold_too_large", "error": str(e)}
    except (ValueError, TypeError) as e:
        return {"status": "error", "rule": "gold_unparsable", "error": str(e)[:300]}
    out = {"gold_parsed": str(gold)[:300]}
    try:
        pred = parse(req["pred"])
        check_size(pred)
        out["pred_parsed"] = str(pred)[:300]
        rule = "none"
        for g, gtag in _variants(gold, req["gold_percent"]):
            for p, ptag in _variants(pred, req["pred_percent"]):
                ok, rule = equivalent(g, p, req["rel_tol"])
                if ok:
                    return {**out, "status": "correct", "rule": rule + (gtag or ptag)}
        return {**out, "status": "wrong", "rule": rule}
    except TooLarge as e:
        return {**out, "status": "unsafe", "rule": "too_large", "error": str(e)}
    except (ValueError, TypeError) as e:
        return {**out, "status": "wrong", "rule": "unparsable", "error": str(e)[:300]}
    except Exception as e:  # noqa: BLE001 - sympy raises many types on odd input; say which
        return {**out, "status": "wrong", "rule": "compare_failed", "error": f"{type(e).__name__}: {e}"[:300]}


def warm_up() -> None:
    """Import and exercise the parser once so the first real request is fast."""
    handle({"gold": "\\frac{1}{2}", "gold_percent": False, "pred": "x+0.5", "pred_percent": False, "rel_tol": 1e-9})
