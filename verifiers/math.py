"""Math verifier: extract the final answer, normalise it, decide equivalence with the gold answer.

    verify(completion, "\\frac{1}{2}", MathOptions()) -> Verdict

Steps: extraction (`math_extract`: boxed, `#### n`, "the answer is", last number), normalisation
(`math_normalize`), then cheap in-process rules (exact text, multiple-choice letter, word answers, plain numbers as
exact fractions), and only then sympy (`math_parse` + `math_equiv`) in a helper process with a hard deadline
(`math_guard`), so a direct call is bounded too. Several boxed answers must all be equivalent to the gold.
Statuses: correct | wrong | no_answer (nothing extracted) | unsafe (null bytes, oversized text or numbers) |
timeout (the symbolic step passed its deadline) | error (unusable gold answer, helper failure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from rlvr.verifiers import math_guard
from rlvr.verifiers.math_extract import extract
from rlvr.verifiers.math_normalize import Normalized, compact, normalize
from rlvr.verifiers.verdict import Verdict

VERSION = "1"
_NUM = re.compile(r"^(-?)(?:(\d{1,400})(?:\.(\d{0,400}))?|\.(\d{1,400}))$")
_FRAC = re.compile(r"^(-?)(?:\\frac\{(\d{1,400})\}\{(\d{1,400})\}|(\d{1,400})/(\d{1,400}))$")
_ASSIGN = re.compile(r"^[A-Za-z]\s*=\s*(?!.*=)")
_LETTER_GOLD = re.compile(r"^\(?([A-E])\)?$")
_LETTER_PRED = re.compile(r"^\(?([A-Ea-e])\)?(?:[\s.:)].*)?$")
_WORDS = re.compile(r"^[A-Za-z][A-Za-z ]{2,}$")


@dataclass(frozen=True)
class MathOptions:
    last_number_fallback: bool = True  # use the last number when no boxed / #### / "answer is" is found
    rel_tol: float = 1e-6  # numeric comparison tolerance (relative)
    timeout_s: float = 1.5  # deadline of the symbolic step (the sympy helper is killed past it)
    max_chars: int = 200_000  # longer completions are refused (unsafe)
    max_answer_chars: int = 400  # longer extracted answers are refused (unsafe)


def _number(text: str) -> Fraction | None:
    t = _ASSIGN.sub("", text).replace(" ", "")
    m = _NUM.match(t)
    if m:
        sign, whole, dec, only_dec = m.groups()
        digits = f"{whole or 0}.{dec or only_dec or 0}"
        return -Fraction(digits) if sign else Fraction(digits)
    m = _FRAC.match(t)
    if m and int(m.group(3) or m.group(5)) != 0:
        num, den = int(m.group(2) or m.group(4)), int(m.group(3) or m.group(5))
        return Fraction(-num if m.group(1) else num, den)
    return None


def _numbers_equal(g: Fraction, gold: Normalized, p: Fraction, pred: Normalized, rel_tol: float) -> bool:
    options = [(g, p)] + ([(g, p / 100), (g / 100, p)] if gold.percent or pred.percent else [])
    return any(a == b or abs(a - b) <= rel_tol * max(abs(a), abs(b)) for a, b in options)


def _fast(gold: Normalized, preds: list[Normalized], rel_tol: float) -> tuple[bool, str] | None:
    """A decision without sympy, or None when sympy is needed."""
    if all(compact(p.text) == compact(gold.text) for p in preds):
        return True, "exact"
    m = _LETTER_GOLD.match(gold.text)
    if m:
        letters = [_LETTER_PRED.match(p.text) for p in preds]
        return all(x and x.group(1).upper() == m.group(1) for x in letters), "choice_letter"
    if _WORDS.match(gold.text):
        return all(p.text.lower().removeprefix("the ") == gold.text.lower() for p in preds), "text"
    g = _number(gold.text)
    nums = [_number(p.text) for p in preds]
    if g is not None and all(n is not None for n in nums):
        return all(_numbers_equal(g, gold, n, p, rel_tol) for n, p in zip(nums, preds)), "number"
    return None


def gold_answer(reference) -> str:
    """The gold answer string; a full solution (#### n or \\boxed{}) is reduced to its final answer."""
    text = str(reference)
    if "####" in text or "\\boxed" in text or "\\fbox" in text:
        answers, _ = extract(text, last_number=False)
        if answers:
            return answers[-1]
    return text


def verify(completion: str, reference, options: MathOptions | None = None) -> Verdict:
    opts = options or MathOptions()
    if not isinstance(completion, str) or reference is None:
        return Verdict(0.0, "error", {"rule": "bad_input", "error": "completion must be str and reference given"})
    if "\x00" in completion:
        return Verdict(0.0, "unsafe", {"rule": "null_byte"})
    if len(completion) > opts.max_chars:
        return Verdict(0.0, "unsafe", {"rule": "completion_too_long", "chars": len(completion)})
    gold = normalize(gold_answer(reference))
    answers, found_by = extract(completion, opts.last_number_fallback)
    detail = {"gold": gold.text, "extracted_by": found_by}
    if not answers:
        return Verdict(0.0, "no_answer", {**detail, "rule": "no_answer"})
    if any(len(a) > opts.max_answer_chars for a in answers):
        return Verdict(0.0, "unsafe", {**detail, "rule": "answer_too_long"})
    preds, seen = [], set()
    for a in answers:
        n = normalize(a)
        if compact(n.text) not in seen:
            seen.add(compact(n.text))
            preds.append(n)
    detail["pred"] = [p.text for p in preds] if len(preds) > 1 else preds[0].text
    if not all(p.text for p in preds):
        return Verdict(0.0, "no_answer", {**detail, "rule": "empty_answer"})
    fast = _fast(gold, preds, opts.rel_tol)
    if fast is not None:
        ok, rule = fast
        return Verdict(float(ok), "correct" if ok else "wrong", {**detail, "rule": rule})
    request = {"gold": gold.text, "gold_percent": gold.percent, "preds": [p.text for p in preds],
               "pred_percent": [p.percent for p in preds], "rel_tol": opts.rel_tol}
    try:
        res = math_guard.compare(request, opts.timeout_s)
    except math_guard.GuardTimeout:
        return Verdict(0.0, "timeout", {**detail, "rule": "symbolic_timeout", "timeout_s": opts.timeout_s})
    except math_guard.GuardFailed as e:
        return Verdict(0.0, "error", {**detail, "rule": "guard_failed", "error": str(e)})
    status = res.pop("status")
    detail.update({"gold_parsed": res.pop("gold", None), "pred_parsed": res.pop("pred", None), **res})
    return Verdict(1.0 if status == "correct" else 0.0, status, detail)
