"""What the math guard's helper process does with one request: parse, size-check, compare.

Request: {"gold": str, "gold_percent": bool, "preds": [str], "pred_percent": [bool], "rel_tol": float}
(normalised texts). Answer: {"status": correct|wrong|unsafe|error, "rule", "gold", "pred", "error"?}.
Every prediction must be equivalent to the gold (several boxed answers that disagree are wrong).
"""

from __future__ import annotations

import sympy

from rlvr.verifiers.math_equiv import equivalent
from rlvr.verifiers.math_parse import TooLarge, check_size, parse


def _variants(expr, percent: bool):
    """50% may mean 50 or 0.5: a percent-marked answer is also tried divided by 100."""
    yield expr, ""
    if percent and isinstance(expr, sympy.Expr):
        yield expr / 100, "/100"


def _one(gold, gold_pct: bool, text: str, pct: bool, rel_tol: float) -> tuple[bool, str, str]:
    pred = parse(text)
    check_size(pred)
    for g, gtag in _variants(gold, gold_pct):
        for p, ptag in _variants(pred, pct):
            ok, rule = equivalent(g, p, rel_tol)
            if ok:
                return True, rule + (f" (percent{gtag or ptag})" if gtag or ptag else ""), str(pred)[:300]
    return False, rule, str(pred)[:300]


def handle(req: dict) -> dict:
    try:
        gold = parse(req["gold"])
        check_size(gold)
    except TooLarge as e:
        return {"status": "error", "rule": "gold_too_large", "error": str(e)}
    except ValueError as e:
        return {"status": "error", "rule": "gold_unparsable", "error": str(e)}
    out = {"gold": str(gold)[:300]}
    for text, pct in zip(req["preds"], req["pred_percent"]):
        try:
            ok, rule, shown = _one(gold, req["gold_percent"], text, pct, req["rel_tol"])
        except TooLarge as e:
            return {**out, "status": "unsafe", "rule": "too_large", "pred": text[:300], "error": str(e)}
        except (ValueError, TypeError) as e:
            return {**out, "status": "wrong", "rule": "unparsable", "pred": text[:300], "error": str(e)[:300]}
        except Exception as e:  # noqa: BLE001 - sympy raises many types on odd input; say which
            return {**out, "status": "wrong", "rule": "compare_failed", "pred": text[:300],
                    "error": f"{type(e).__name__}: {e}"[:300]}
        if not ok:
            return {**out, "status": "wrong", "rule": rule, "pred": shown}
    return {**out, "status": "correct", "rule": rule, "pred": shown}


def warm_up() -> None:
    """Import and exercise the parser once so the first real request is fast."""
    handle({"gold": "\\frac{1}{2}", "gold_percent": False, "preds": ["0.5"], "pred_percent": [False],
            "rel_tol": 1e-6})
