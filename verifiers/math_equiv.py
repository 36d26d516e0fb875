"""The math grader's equivalence rules: whether two parsed answers are the same, and by which rule.

    equivalent(gold, pred, rel_tol) -> (same?, rule)

Scalars: structural; anything holding oo/nan/zoo is equal only structurally; decimals become the exact rationals
they spell; numbers (no free symbols) compare exactly when rational, else to 60 digits (so `0.3333` is not `1/3`
and `2^{60}+1` is not `2^{60}`); expressions with symbols at 5 random non-integer rational points, relative
tolerance `rel_tol` (so `\\prod (x-k)` is not `0`). Containers: sets and unions unordered, tuples and matrices in
order (scalar multiples of matrices evaluated), intervals with their ends; `x = 3` vs `3`; equations up to a factor;
an inequality vs the interval or union it describes. Inputs have passed `math_parse.check_size`.
"""

from __future__ import annotations

import math
import random

import sympy
from sympy.core.relational import Relational
from sympy.matrices.expressions import MatrixExpr

from rlvr.verifiers.math_parse import NON_FINITE

POINTS = 5
_I = sympy.Symbol("i")


def exact(e):
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
    if any(x.has(*NON_FINITE) for x in (g, p)):
        return False, "infinity_or_nan"  # equal infinities were caught structurally above
    syms = sorted(g.free_symbols | p.free_symbols, key=str)
    if not syms:
        gv, pv = g.doit(), p.doit()
        if any(x.has(*NON_FINITE) for x in (gv, pv)):
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


def as_set(rel):
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


def _tuple_as_vector(x, other):
    """`x` as the vector `other` is when `x` is a tuple of as many entries and `other` one column or row: a vector
    written `(a, b, c)` or `\\langle a, b, c \\rangle` is that vector (the order of its entries still counts)."""
    if isinstance(x, sympy.Tuple) and isinstance(other, sympy.MatrixBase) and 1 in other.shape \
            and len(x) == len(other):
        return sympy.Matrix(other.shape[0], other.shape[1], list(x))
    return x


def equivalent(g, p, rel_tol: float = 1e-9) -> tuple[bool, str]:
    g, p = _explicit(exact(g)), _explicit(exact(p))
    if isinstance(g, sympy.MatrixBase) or isinstance(p, sympy.MatrixBase):
        g, p = _tuple_as_vector(g, p), _tuple_as_vector(p, g)
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
        gs = as_set(g) if isinstance(g, (Relational, sympy.And)) else g
        ps = as_set(p) if isinstance(p, (Relational, sympy.And)) else p
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
