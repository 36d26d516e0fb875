"""Are two parsed answers the same? `equivalent(gold, pred, rel_tol) -> (bool, rule)`.

Scalars: structural equality, then `simplify(a - b) == 0`, then numeric with tolerance (constants at 30 digits;
expressions with free symbols at a few fixed random points). Containers compare element by element: sets and
unions without order, tuples and matrices in order, intervals with their open/closed ends. An equation `x = 3`
matches the value `3`, and two equations match when one is a non-zero multiple of the other. A univariate
inequality matches the interval (or union) it describes. Anything of different shapes is not equivalent.
Runs inside the math guard process (see `math_guard.py`): simplify may take long, the guard bounds it.
"""

from __future__ import annotations

import random

import sympy
from sympy.core.relational import Relational

_I = sympy.Symbol("i")
_POINTS = 3


def _imaginary(expr):
    return expr.subs(_I, sympy.I) if isinstance(expr, sympy.Basic) and expr.has(_I) else expr


def _num(x) -> complex | None:
    try:
        v = complex(sympy.N(x, 30))
    except (TypeError, ValueError, AttributeError):
        return None
    return v


def _close(a: complex, b: complex, rel_tol: float) -> bool:
    if a != a or b != b:  # NaN
        return False
    return abs(a - b) <= max(rel_tol * max(abs(a), abs(b)), 1e-12)


def scalar_equal(g, p, rel_tol: float) -> tuple[bool, str]:
    if g == p:
        return True, "structural"
    if not (isinstance(g, sympy.Expr) and isinstance(p, sympy.Expr)):
        return False, "type_mismatch"
    if g.is_infinite or p.is_infinite or g.has(sympy.zoo, sympy.nan) or p.has(sympy.zoo, sympy.nan):
        return False, "infinity"  # equal infinities were caught structurally above
    exact = all(isinstance(x, sympy.Rational) for x in (g, p))
    if exact:
        return False, "rational"  # two distinct rationals
    try:
        if sympy.simplify(g - p) == 0:
            return True, "symbolic"
    except (TypeError, ValueError, NotImplementedError, AttributeError, RecursionError):
        pass
    syms = sorted(g.free_symbols | p.free_symbols, key=str)
    if not syms:
        a, b = _num(g), _num(p)
        return (a is not None and b is not None and _close(a, b, rel_tol)), "numeric"
    rng = random.Random(0)
    for _ in range(_POINTS):
        point = {s: sympy.Rational(rng.randint(11, 97), rng.randint(7, 13)) for s in syms}
        a, b = _num(g.subs(point)), _num(p.subs(point))
        if a is None or b is None or not _close(a, b, rel_tol):
            return False, "numeric_points"
    return True, "numeric_points"


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
    syms = rel.free_symbols
    if len(syms) != 1:
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


def equivalent(g, p, rel_tol: float = 1e-6) -> tuple[bool, str]:
    g, p = _imaginary(g), _imaginary(p)
    if isinstance(g, sympy.MatrixBase) or isinstance(p, sympy.MatrixBase):
        if not (isinstance(g, sympy.MatrixBase) and isinstance(p, sympy.MatrixBase)) or g.shape != p.shape:
            return False, "matrix_shape"
        return all(equivalent(a, b, rel_tol)[0] for a, b in zip(g, p)), "matrix"
    if isinstance(g, sympy.Eq) and not isinstance(p, Relational):
        return (equivalent(g.rhs, p, rel_tol)[0] if g.lhs.is_Symbol else False), "equation_value"
    if isinstance(p, sympy.Eq) and not isinstance(g, Relational):
        ok = p.lhs.is_Symbol and not isinstance(g, (sympy.Set, sympy.Tuple))
        return (equivalent(g, p.rhs, rel_tol)[0] if ok else False), "assignment"
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
    if isinstance(g, sympy.Union) and isinstance(p, sympy.Union):
        return _match_unordered(g.args, p.args, rel_tol), "union"
    if isinstance(g, sympy.FiniteSet) and isinstance(p, sympy.FiniteSet):
        return _match_unordered(g.args, p.args, rel_tol), "set"
    if isinstance(g, sympy.Tuple) and isinstance(p, sympy.Tuple):
        ok = len(g) == len(p) and all(equivalent(a, b, rel_tol)[0] for a, b in zip(g, p))
        return ok, "tuple"
    if isinstance(g, sympy.Set) or isinstance(p, sympy.Set) or isinstance(g, sympy.Tuple) or isinstance(p, sympy.Tuple):
        return False, "shape_mismatch"
    return scalar_equal(g, p, rel_tol)
