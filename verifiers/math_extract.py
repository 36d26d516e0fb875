"""Find the final answer in a completion. Pure string work, linear in the text length.

Rules, in order (the first that finds something wins):
  boxed        every `\\boxed{...}` / `\\fbox{...}` (nested braces; `\\boxed 5` too)
  gsm8k        the last `#### n` line
  answer_is    the last "the answer is ...", "final answer: ...", "answer: ..."
  last_number  the last number in the text (switchable)
"""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_GSM8K = re.compile(r"####\s*([^\n]+)")
_ANSWER_IS = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|=)?\s*:?\s*(.+)", re.I)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_SENTENCE_END = re.compile(r"(?<!\d)\.(?:\s|$)|\n")


MAX_BOXES = 20  # more boxes than this: only the last ones are read
MAX_ANSWER_CHARS = 2000  # a box that does not close within this many characters is not an answer


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """Content of the `{...}` group opening at `start` (which must be '{') and the index after it."""
    depth = 0
    for i in range(start, min(len(text), start + MAX_ANSWER_CHARS)):
        c = text[i]
        if c == "\\":
            continue
        if c == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif c == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    return None


def boxed_all(text: str) -> list[str]:
    """Contents of every \\boxed{} / \\fbox{} in order (an unclosed last box is ignored)."""
    out = []
    for m in list(_BOX.finditer(text))[-MAX_BOXES:]:
        i = m.end()
        if i < len(text) and text[i] == "{":
            got = _braced(text, i)
            if got is not None:
                out.append(got[0])
        elif i < len(text):  # \boxed 5 / \boxed5
            tok = re.match(r"[^\s$.,;]+", text[i:])
            if tok:
                out.append(tok.group(0))
    return out


def _strip_math_delims(s: str) -> str:
    s = s.strip()
    for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(a) and s.endswith(b) and len(s) >= len(a) + len(b):
            s = s[len(a):len(s) - len(b)].strip()
    return s


def _answer_is(text: str) -> str | None:
    last = None
    for m in _ANSWER_IS.finditer(text):
        last = m
    if last is None:
        return None
    tail = last.group(1)
    if tail.lstrip().startswith("$"):  # a $...$ span: take it whole
        m = re.match(r"\s*\$\$?(.+?)\$\$?", tail, re.S)
        if m:
            return m.group(1).strip()
    end = _SENTENCE_END.search(tail)
    ans = (tail[:end.start()] if end else tail).strip()
    return _strip_math_delims(ans.rstrip(".")) or None


def extract(text: str, last_number: bool = True) -> tuple[list[str], str]:
    """(answers, rule): several answers only for several boxes, which the verifier must all check."""
    boxes = boxed_all(text)
    if boxes:
        return boxes, "boxed"
    gsm = _GSM8K.findall(text)
    if gsm:
        return [gsm[-1].strip()], "gsm8k"
    ans = _answer_is(text)
    if ans:
        return [ans], "answer_is"
    if last_number:
        nums = _NUMBER.findall(text)
        if nums:
            return [nums[-1].rstrip(",")], "last_number"
    return [], "none"
