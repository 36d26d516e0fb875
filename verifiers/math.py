"""Math verifier: extract the final answer, normalise it, decide equivalence with the gold answer.

    verify(completion, "\\frac{1}{2}", MathOptions()) -> Verdict

Two stages, as Math-Verify splits them: `math_answer` (extraction), `math_normalize` / `math_words` (the
canonical form; pure strings, in this process) and `math_grade` (sympy: `math_parse`, `math_equiv`). Plain numbers, letters, words and base-subscripted numbers are decided here,
exactly (no tolerance between exact values); the rest goes to the grader. Inside a verifier worker (`procs.serve`:
the pool kills it past its deadline) the grader runs in place; called anywhere else, it runs in one supervised
helper process per caller with a deadline of `timeout_s`, so a direct call is bounded too. Never two layers.
Statuses: correct | wrong | no_answer (nothing extracted, a negated answer, or a `<think>` that never closes) |
unsafe (null bytes, oversized text or numbers) | timeout (past the deadline) | error (unusable gold answer, helper
failure).
Conventions (docs/verifiers.md): the last box is the answer; `50%` matches 50 and 0.5; a bare answer is read in the
gold's base; an approximation of an exact gold is wrong; units are not graded.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass

from rlvr.verifiers import procs
from rlvr.verifiers.math_answer import extract
from rlvr.verifiers.math_normalize import Normalized, compact, exact_value, normalize
from rlvr.verifiers.verdict import Verdict

VERSION = "4"  # 3: a <think> that never closes is no answer (option read_unclosed_think); 4: nor nothing after </think>
_LETTER_GOLD = re.compile(r"^\(?([A-E])\)?$")
_LETTER_PRED = re.compile(r"^\(?([A-Ea-e])\)?(?:[\s.:)].*)?$")
_WORDS = re.compile(r"^[A-Za-z][A-Za-z ]{2,}$")
_DIGITS = re.compile(r"^[0-9A-Za-z]+$")
_NUMBER_EQUATION = re.compile(r"^([^=]+)=([^=]+)$")


def _numbers(text: str) -> list | None:
    """The exact values of a comma-separated list of plain numbers (`4, 5`), else None."""
    values = [exact_value(part) for part in text.split(",")]
    return values if all(v is not None for v in values) else None


@dataclass(frozen=True)
class MathOptions:
    last_number_fallback: bool = True  # read the final sentence's number when no box / "answer is" / #### is found
    rel_tol: float = 1e-9  # relative tolerance at random points, symbolic answers only (exact values: none)
    timeout_s: float = 1.5  # hard deadline of one verification (the process computing it is killed past it)
    max_chars: int = 200_000  # longer completions are refused (unsafe)
    max_answer_chars: int = 400  # longer extracted answers are refused (unsafe)
    # a `<think>` that never closes is a trace cut before its answer: `no_answer` (rule `unclosed_think`), as is a
    # trace with nothing after its `</think>` (`nothing_after_think`); true reads the whole text instead, a box in
    # the trace included (the code verifier has the same option)
    read_unclosed_think: bool = False


def gold_answer(reference) -> str:
    """The gold answer string; a full solution (#### n or \\boxed{}) is reduced to its final answer."""
    text = str(reference)
    if "####" in text or "\\boxed" in text or "\\fbox" in text:
        answer, _ = extract(text, fallback=False)
        if answer:
            return answer
    return text


def _base_value(n: Normalized, base: int | None) -> int | None:
    digits, b = (n.digits, n.base) if n.base else (n.text, base)
    try:
        return int(digits, b) if digits and b and 2 <= b <= 36 and _DIGITS.match(digits) else None
    except ValueError:
        return None


def _fast(gold: Normalized, pred: Normalized) -> tuple[bool, str] | None:
    """A decision without sympy, or None when sympy is needed."""
    if compact(pred.text) == compact(gold.text):
        return True, "exact_text"
    if gold.base or pred.base:  # `52_8`: bare digits are read in the gold's base, a named base changes the value
        g = _base_value(gold, 10) if gold.base else gold.value
        p = _base_value(pred, gold.base or 10)
        return (g is not None and p is not None and g == p), "base"
    m = _LETTER_GOLD.match(gold.text)
    if m:
        letter = _LETTER_PRED.match(pred.text)
        return bool(letter and letter.group(1).upper() == m.group(1)), "choice_letter"
    if _WORDS.match(gold.text) and gold.value is None:
        return pred.text.lower().removeprefix("the ") == gold.text.lower(), "text"
    eq = _NUMBER_EQUATION.match(pred.text)
    if eq and gold.value is not None and (sides := _numbers(eq.group(1))) and (rhs := _numbers(eq.group(2))):
        if sides != rhs:
            return False, "false_statement"  # `3 = 4` states nothing
        pred = Normalized(eq.group(2).strip(), pred.percent, rhs[0])
    gold_list, pred_list = _numbers(gold.text), _numbers(pred.text)
    if gold_list and pred_list and (len(gold_list) > 1 or len(pred_list) > 1):
        return sorted(gold_list) == sorted(pred_list), "number_list"  # `4, 5` for one value is a hedge
    if gold.value is not None and pred.value is not None:
        g, p = gold.value, pred.value
        # the percent-marked side may be meant /100 (`60%` for 0.6); the other side is its plain value (`0.6%`
        # is 0.006 or 0.6, never 60)
        pairs = [(g, p)] + ([(g, p / 100)] if pred.percent else []) + ([(g / 100, p)] if gold.percent else [])
        return any(a == b for a, b in pairs), "exact_number"
    return None


class _Helper:
    """This process's grader helper: one supervised worker, started on first use, replaced after a kill."""

    def __init__(self) -> None:
        self.lock, self.worker, self.pid = threading.Lock(), None, None

    def grade(self, request: dict, timeout_s: float) -> dict:
        with self.lock:
            if self.pid != os.getpid():  # first use, or a forked child: never share the parent's helper
                self.worker, self.pid = self._start(), os.getpid()
            try:
                return self.worker.call(request, timeout_s)
            except (procs.Timeout, procs.Died):
                self.worker.kill()
                self.worker = self._start()  # warm up the next one now
                raise

    @staticmethod
    def _start() -> procs.Worker:
        return procs.Worker("rlvr.verifiers.math_grade:handle", warm="rlvr.verifiers.math_grade:warm_up")

    def shutdown(self) -> None:
        with self.lock:
            if self.worker is not None and self.pid == os.getpid():
                self.worker.kill()
            self.worker, self.pid = None, None


HELPER = _Helper()


def _grade(request: dict, timeout_s: float) -> dict:
    if procs.IN_WORKER:  # the pool that owns this process enforces the deadline
        from rlvr.verifiers.math_grade import handle

        return handle(request)
    try:
        return HELPER.grade(request, timeout_s)
    except procs.Timeout:
        return {"status": "timeout", "rule": "deadline", "timeout_s": timeout_s}
    except procs.Died as e:
        return {"status": "error", "rule": "helper_died", "error": str(e)}


def verify(completion: str, reference, options: MathOptions | None = None) -> Verdict:
    """The verdict on `completion` against `reference`: one gold answer (or a worked solution holding it), or a list
    of acceptable ones (any of them is correct; the first's verdict otherwise)."""
    if isinstance(reference, (list, tuple)) and reference:
        verdicts = [verify(completion, gold, options) for gold in reference]
        return next((v for v in verdicts if v.status == "correct"), verdicts[0])
    opts = options or MathOptions()
    if not isinstance(completion, str) or reference is None:
        return Verdict(0.0, "error", {"rule": "bad_input", "error": "completion must be str and reference given"})
    if "\x00" in completion:
        return Verdict(0.0, "unsafe", {"rule": "null_byte"})
    if len(completion) > opts.max_chars:
        return Verdict(0.0, "unsafe", {"rule": "completion_too_long", "chars": len(completion)})
    gold = normalize(gold_answer(reference))
    word = gold.text if re.fullmatch(r"[A-Za-z]{3,}", gold.text) else None
    answer, found_by = extract(completion, opts.last_number_fallback, gold_word=word,
                               read_unclosed_think=opts.read_unclosed_think)
    detail = {"gold": gold.text, "extracted_by": found_by}
    if answer is None:
        return Verdict(0.0, "no_answer", {**detail, "rule": found_by})
    if len(answer) > opts.max_answer_chars:
        return Verdict(0.0, "unsafe", {**detail, "rule": "answer_too_long"})
    pred = normalize(answer)
    detail["pred"] = pred.text
    if not pred.text:
        return Verdict(0.0, "no_answer", {**detail, "rule": "empty_answer"})
    if gold.unit_power and pred.unit_power and gold.unit_power != pred.unit_power:
        # units are not graded, but a stated power of the unit that contradicts the gold's is: `15 cm^3` for an
        # area of `15 cm^2` states a volume (a value's unit, not its number, is what is wrong)
        return Verdict(0.0, "wrong", {**detail, "rule": "unit_power"})
    fast = _fast(gold, pred)
    if fast is not None:
        ok, rule = fast
        return Verdict(float(ok), "correct" if ok else "wrong", {**detail, "rule": rule})
    res = _grade({"gold": gold.text, "gold_percent": gold.percent, "pred": pred.text, "pred_percent": pred.percent,
                  "rel_tol": opts.rel_tol}, opts.timeout_s)
    status = res.pop("status")
    return Verdict(1.0 if status == "correct" else 0.0, status, {**detail, **res})
