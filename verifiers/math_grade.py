"""The math verifier's grader: parse two normalised answers into sympy and decide whether they are the same.

    handle({"gold": str, "gold_percent": bool, "pred": str, "pred_percent": bool, "rel_tol": float}) -> dict

It runs where a hard deadline is enforced from outside (a pool worker, or `math.py`'s supervised helper).
An answer is one expression (`math_parse`: LaTeX or plain text, size-guarded), `x < 2 or x > 3` (the union of its
parts) or a chain `a = b = c` of equal numbers (its last one); `math_equiv` decides equivalence and names the rule.
A percent-marked answer is also tried divided by 100.
"""

from __future__ import annotations

import functools
import re

import sympy
from sympy.core.relational import Relational

from rlvr.verifiers.math_equiv import as_set, equivalent, exact, scalar_equal
from rlvr.verifiers.math_parse import TooLarge, check_size, parse_expression

_OR = re.compile(r"\s+or\s+|\\lor\b|\\vee\b")


@functools.lru_cache(maxsize=4096)  # a gold is graded against a whole group of completions, which often agree
def parse(s: str):
    """A sympy object (expression, relation, set, interval, tuple or matrix); raises ValueError if unparsable."""
    if s.count("=") >= 2 and not re.search(r"[<>]|\\[lg]e", s):
        return _chain(s)
    parts = _OR.split(s)
    if len(parts) == 1:
        return parse_expression(s)
    # `x < 2 or x > 3`, `x = 3 or x = 5`: the union of what each part describes
    rels = [parse_expression(p) for p in parts]
    sets = [as_set(r) if isinstance(r, (Relational, sympy.And)) else None for r in rels]  # `0 < x < 9 or ...`
    if any(x is None for x in sets):
        raise ValueError("'or' between things that are not relations in one variable")
    return sympy.Union(*sets)


def _chain(s: str):
    """`(a b)^{55} = 1^{55} = 1`: a chain of equal numbers states its last one; any other chain states nothing."""
    parts = [parse_expression(p) for p in s.split("=")]
    check_size(parts)
    if not all(isinstance(p, sympy.Expr) and not p.free_symbols for p in parts):
        raise ValueError("a chain of equations with unknowns")
    if not all(scalar_equal(exact(p), exact(parts[-1]), 1e-9)[0] for p in parts[:-1]):
        raise ValueError("a chain of unequal values (a false statement)")
    return parts[-1]


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
