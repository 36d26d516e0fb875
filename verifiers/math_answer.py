"""The math verifier's parser side: find the final answer in a completion and bring it to a canonical form.

    extract(text) -> (answer or None, rule)       normalize(answer) -> Normalized(text, percent, value, base)

Pure string work, linear in the text (no regex with nested quantifiers), no sympy: it runs in the caller's process.
Extraction rules, first hit wins (code blocks never hold an answer; after a `</think>` only the answer part is read):
  boxed        the LAST `\\boxed{}` / `\\fbox{}` (a self-correction's last box is its answer); if it never
               closes, there is no answer
  answer_is    the last "answer is X" / "answer: X" (Minerva's `Final Answer: The final answer is $X$. I hope ...`);
               a negated one (`the answer is not 5`) yields no answer at all
  gsm8k        the last `#### X`
  sentence     the final sentence: a named gold word, the math that ends it, else its last number (digits or words:
               `forty-two`, `one half`, `a dozen`, `1.45 million`, `3 degrees below zero`); without final
               punctuation (maybe cut off) only a plain number at most three words from the end; switchable
Normalisation: delimiters, `\\left`/`\\right`, `\\dfrac`, `\\text{}`, units, currency, percent (kept as a flag),
degrees, thousands separators (`1,000`, `10,\\!080`, `1{,}000`), `\\sqrt2`, `\\frac65`, unicode, `1.5e3`, repeating
decimals; plain numbers get their exact value (`Fraction`), base-subscripted digits their base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_ANSWER_CHARS = 2000  # a box that does not close within this many characters is not an answer

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_CODE = re.compile(r"```.*?(?:```|$)", re.S)
_ANSWER_IS = re.compile(r"answer\s*(?:is|:|=)\s*:?\s*", re.I)
_NEGATED = re.compile(r"(?:not|n't|never)\b", re.I)
_DISPLAY_SPAN = re.compile(r"\s*\\\[(.{1,2000}?)\\\]", re.S)
_GSM8K = re.compile(r"####\s*([^\n]+)")
_SENTENCE_SPLIT = re.compile(r"(?<![\d\\])\.(?=\s|$)|\n+")
_NOT_AN_ANSWER = re.compile(r"(?:correct|right|wrong|incorrect|true|false|valid|reasonable|consistent|as follows|"
                            r"below|above|the same|clear|obvious)\b", re.I)
_DOLLAR_SPAN = re.compile(r"\s*\$\$?((?:\\\$|[^$])+)\$")

_ONES = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                    "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i > 1}
_SCALES = {"hundred": 100, "thousand": 10**3, "million": 10**6, "billion": 10**9}
_FRACTION_WORDS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4,
                   "fourths": 4, "fifth": 5, "fifths": 5}
_WORD_TOKEN = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:/\d+)?|[a-z]+")


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """Content of the `{...}` group opening at `start` and the index after it (bounded scan)."""
    depth = 0
    for i in range(start, min(len(text), start + MAX_ANSWER_CHARS)):
        c = text[i]
        if c == "{" and text[i - 1] != "\\":
            depth += 1
        elif c == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    return None


def boxed_all(text: str, limit: int = 20) -> list[str]:
    """Contents of the last `limit` \\boxed{} / \\fbox{} in order (an unclosed box is ignored)."""
    out = []
    for m in list(_BOX.finditer(text))[-limit:]:
        i = m.end()
        if i < len(text) and text[i] == "{":
            got = _braced(text, i)
            if got is not None:
                out.append(got[0])
        elif i < len(text):  # \boxed 5
            tok = re.match(r"[^\s$.,;]+", text[i:])
            if tok:
                out.append(tok.group(0))
    return out


def _strip_delims(s: str) -> str:
    s = s.strip()
    for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**")):
        if s.startswith(a) and s.endswith(b) and len(s) >= len(a) + len(b):
            s = s[len(a):len(s) - len(b)].strip()
    return s


def _answer_is(text: str) -> tuple[str | None, bool, int]:
    """(answer after the last "answer is", negated?, where it starts)."""
    last = None
    for last in _ANSWER_IS.finditer(text):
        pass
    if last is None:
        return None, False, -1
    tail = text[last.end():last.end() + MAX_ANSWER_CHARS].lstrip("* ")  # `**Answer:** $X$`
    if _NEGATED.match(tail):
        return None, True, last.start()
    if _NOT_AN_ANSWER.match(tail):  # "so our answer is correct": a judgement, not an answer
        return None, False, -1
    span = _DOLLAR_SPAN.match(tail) or _DISPLAY_SPAN.match(tail)
    if span:
        return span.group(1).strip(), False, last.start()
    end = _SENTENCE_SPLIT.search(tail)
    ans = _strip_delims((tail[:end.start()] if end else tail).strip().rstrip(".;,"))
    return ans or None, False, last.start()


def words_value(text: str) -> Fraction | None:
    """The last number in `text`, written in digits or words (`forty-two`, `one half`, `a dozen`, `1.45 million`,
    `3 degrees below zero`), else None."""
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text.lower().replace("\u2212", "-"))
    toks = _WORD_TOKEN.findall(re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text))
    best, i = None, 0
    while i < len(toks):
        total, cur, j = 0, None, i
        while j < len(toks):
            t = toks[j]
            if t[0].isdigit() or t[0] in "-.":
                if cur is not None or total:
                    break
                num, _, den = t.partition("/")
                if den and int(den) == 0:
                    break
                cur = Fraction(num) / (int(den) if den else 1)
            elif t in _ONES or t in _TENS:
                cur = (cur or Fraction(0)) + _ONES.get(t, _TENS.get(t, 0))
            elif t in ("a", "an") and cur is None and toks[j + 1:j + 2] in (["dozen"], ["half"], ["hundred"]):
                cur = Fraction(1)
            elif t == "dozen" and cur is not None:
                cur *= 12
            elif t == "hundred" and cur is not None:
                cur *= 100
            elif t in _SCALES and (cur is not None or total):
                total, cur = total + (cur if cur is not None else 1) * _SCALES[t], None
            elif t in _FRACTION_WORDS and cur is not None:
                cur /= _FRACTION_WORDS[t]
            else:
                break
            j += 1
        if j > i:
            best = total + (cur or 0)
            for tail in (["below", "zero"], ["degrees", "below", "zero"]):
                if toks[j:j + len(tail)] == tail:
                    best, j = -abs(best), j + len(tail)
            i = j
        else:
            i += 1
    return best


def _final_sentence(text: str) -> str | None:
    """The last sentence of the text."""
    body = text.rstrip()
    parts = [p for p in _SENTENCE_SPLIT.split(body) if p and p.strip()]
    return parts[-1].strip() if parts else None


def extract(text: str, fallback: bool = True, gold_word: str | None = None) -> tuple[str | None, str]:
    """(final answer text or None, rule). `gold_word`: a one-word gold a final sentence may name."""
    text = _CODE.sub(" ", text)
    head, sep, after = text.rpartition("</think>")
    if sep and after.strip():
        text = after
    boxes = boxed_all(text, limit=1)
    if boxes:
        return boxes[-1], "boxed"
    if _BOX.search(text):
        return None, "unclosed_box"  # the last box never closes (or is over-long): it was cut off, no answer
    ans, negated, at = _answer_is(text)
    gsm = list(_GSM8K.finditer(text))
    if gsm and gsm[-1].start() > at:  # whichever statement comes last
        return gsm[-1].group(1).strip(), "gsm8k"
    if negated:
        return None, "negated"
    if ans:
        return ans, "answer_is"
    if not fallback:
        return None, "none"
    sentence = _final_sentence(text)
    if sentence is None or _NEGATED.search(sentence):
        return None, "none"
    if gold_word and re.search(rf"(?<![A-Za-z]){re.escape(gold_word)}(?![A-Za-z])", sentence, re.I):
        return gold_word, "sentence_word"
    last = sentence.rstrip(" .!*").rsplit(None, 1)[-1] if sentence.rstrip(" .!*") else ""
    finished = text.rstrip()[-1] in ".!)$*"
    if finished and re.match(r"^[-\u2212$\\\d.]", last) and re.search(r"\d", last) and not re.fullmatch(r"-?\d+(?:\.\d+)?", last):
        return last, "sentence"  # `\dfrac{11}{36}`, `0.\overline{3}`, `1,\!600`, `$18`: the math that ends it
    if not finished:  # no final punctuation: maybe cut off. Only a plain number near the end is an answer
        digits = list(re.finditer(r"[\d.*/+^=-]+", sentence))
        after = sentence[digits[-1].end():] if digits else ""
        if not digits or not re.fullmatch(r"-?\d+(?:\.\d+)?", digits[-1].group()) or len(after.split()) > 3:
            return None, "none"  # `he walks 6*5`, `Martha has 7 noteb...`: no answer was given
    value = words_value(sentence)
    return (_fraction_text(value), "sentence") if value is not None else (None, "none")


def _fraction_text(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


# ---- normalisation ---------------------------------------------------------------------------------------------

_UNITS = (
    "cm", "mm", "km", "m", "meters", "meter", "metres", "inches", "inch", "in", "feet", "foot", "ft", "yards", "yard",
    "miles", "mile", "mph", "units", "unit", "sq", "square", "cubic", "degrees", "degree", "deg", "dollars", "dollar",
    "cents", "cent", "hours", "hour", "hrs", "hr", "minutes", "minute", "min", "seconds", "second", "sec", "s",
    "days", "day", "weeks", "week", "months", "month", "years", "year", "grams", "gram", "g", "kg", "pounds",
    "pound", "lbs", "lb", "ounces", "ounce", "oz", "liters", "liter", "litres", "l", "ml", "gallons", "gallon",
    "people", "persons", "students", "apples", "points", "times", "percent", "ways", "marbles", "books", "pages",
    "cookies", "eggs", "boxes", "bags", "dogs", "cats", "cars", "trees", "sqft",
)
_UNIT_WORDS = "|".join(map(re.escape, sorted((u for u in _UNITS if len(u) > 1), key=len, reverse=True)))
_UNIT_RE = re.compile(rf"\s+(?:{_UNIT_WORDS})(?:\^\{{?\d\}}?)?\s*$")
_TRAILING_TEXT = re.compile(r"(?<=\S)\s*\\(?:text|mbox|mathrm|textrm)\{\s*[A-Za-z][A-Za-z .]*\}(?:\^\{?\d\}?)?\s*$")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|textrm|mbox|mathrm|mathbf|mathit|operatorname)\s*\{([^{}]*)\}")
_SEP_LATEX = re.compile(r"(?<=\d)(?:\{,\}|,\\!\s*|,\\,\s*|,\\ |,~)(?=\d{3})")
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|\\quad|\\qquad|\\displaystyle|\\limits|~")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![a-zA-Z])\s*")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\\degree|\s*degrees?\b")
_PERCENT = re.compile(r"\\%|%|\s*\\text\{\s*percent\s*\}|\s+percent\b")
_CURRENCY = re.compile(r"\\\$|\$|€|£|\bUSD\b|\\text\{\s*dollars?\s*\}|\bdollars?\b")
_THOUSANDS = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+)(?![\d,])")
_SCI = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?\d+)(?![\w.])")
_SQRT_BARE = re.compile(r"\\sqrt\s*(\d|[a-zA-Z])")
_FRAC_BARE = re.compile(r"\\frac\s*(\d|[a-zA-Z])\s*(\d|[a-zA-Z])")
_FRAC_HALF = re.compile(r"\\frac\s*(\{[^{}]*\})\s*(\d|[a-zA-Z])")
_FRAC_HALF2 = re.compile(r"\\frac\s*(\d|[a-zA-Z])\s*(\{)")
_REPEATING = re.compile(r"(-?)(\d*)\.(\d*)\\overline\{(\d{1,30})\}")
_ASSIGN = re.compile(r"^(?:[A-Za-z]|\(\s*[a-z](?:\s*,\s*[a-z])+\s*\))\s*=\s*(?=[^=]*$)")
_PLAIN = re.compile(r"^-?(?:\d+(?:\.\d*)?|\.\d+)$")
_FRACTION = re.compile(r"^(-?)(?:\\frac\{(-?\d+)\}\{(\d+)\}|(\d+)/(\d+))$")
_SCI_TEX = re.compile(r"^(-?\d+(?:\.\d+)?)\s*\\times\s*10\^\{?(-?\d+)\}?$")
_BASE = re.compile(r"^([0-9A-Za-z]+)_\{?(\d+)\}?$")
_UNICODE = {"−": "-", "–": "-", "×": "\\times ", "÷": "\\div ", "·": "\\cdot ", "∞": "\\infty ", "π": "\\pi ",
            "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "∪": "\\cup ", "\u00a0": " "}


@dataclass(frozen=True)
class Normalized:
    text: str
    percent: bool = False  # the answer carried a percent sign: 50% may be meant as 50 or as 0.5
    value: Fraction | None = None  # the exact value of a plain number (integer, decimal, fraction, words)
    base: int | None = None  # `52_8`: digits "52" in base 8
    digits: str | None = None


def _repeating(m: re.Match) -> str:
    sign, whole, fixed, rep = m.groups()
    v = Fraction(int(whole or 0)) + Fraction(int(fixed or 0), 10 ** len(fixed)) \
        + Fraction(int(rep), (10 ** len(rep) - 1) * 10 ** len(fixed))
    return f"{sign}\\frac{{{v.numerator}}}{{{v.denominator}}}"


def exact_value(s: str) -> Fraction | None:
    """The exact value of a plain number text (`-3`, `.15`, `1/3`, `\\frac{1}{3}`, `1.6 \\times 10^{-19}`)."""
    t = s.replace(" ", "")
    if _PLAIN.match(t):
        return Fraction(t)
    m = _FRACTION.match(t)
    if m and int(m.group(3) or m.group(5)):
        v = Fraction(int(m.group(2) or m.group(4)), int(m.group(3) or m.group(5)))
        return -v if m.group(1) else v
    m = _SCI_TEX.match(s.strip())
    if m and abs(int(m.group(2))) <= 400:
        return Fraction(m.group(1)) * Fraction(10) ** int(m.group(2))
    if re.fullmatch(r"[a-z -]+", s) and (v := words_value(s)) is not None and _all_number_words(s):
        return v
    return None


def _all_number_words(s: str) -> bool:
    ok = set(_ONES) | set(_TENS) | set(_SCALES) | set(_FRACTION_WORDS) | {"a", "an", "and", "dozen", "hundred"}
    return all(w in ok for w in re.split(r"[\s-]+", s.strip()) if w)


def normalize(s: str) -> Normalized:
    s = _strip_delims(s)
    s = re.sub(r"√\s*(\d+)", r"\\sqrt{\1}", s).replace("√", "\\sqrt ")
    for k, v in _UNICODE.items():
        s = s.replace(k, v)
    s = _SEP_LATEX.sub("", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("\\infin", "\\infty").replace("\\lbrace", "\\{").replace("\\rbrace", "\\}")
    s = _SPACING.sub(" ", s)
    s = _LEFT_RIGHT.sub("", s)
    s = _DEGREES.sub("", s)
    percent = bool(_PERCENT.search(s))
    s = _PERCENT.sub("", s)
    s = _CURRENCY.sub("", s)
    for _ in range(2):
        s = _TRAILING_TEXT.sub("", s).strip()
        s = _UNIT_RE.sub("", s).strip()
    for _ in range(3):  # nested \text{\textbf{..}}
        s = _TEXT_CMD.sub(lambda m: m.group(1), s)
    s = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), s)
    s = _SCI.sub(lambda m: f"{m.group(1)}\\times 10^{{{m.group(2)}}}", s)
    s = _SQRT_BARE.sub(r"\\sqrt{\1}", s)
    s = _FRAC_BARE.sub(r"\\frac{\1}{\2}", s)
    s = _FRAC_HALF.sub(r"\\frac\1{\2}", s)
    s = _FRAC_HALF2.sub(r"\\frac{\1}\2", s)
    s = _REPEATING.sub(_repeating, s)
    s = re.sub(r"\b(?:infinity|inf)\b", r"\\infty", s, flags=re.I)
    s = re.sub(r"\s+", " ", s).strip().rstrip(".").strip()
    if s.startswith("+") and not s.startswith("+-"):
        s = s[1:].strip()
    rhs = _ASSIGN.sub("", s)
    if rhs != s and not re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", "", rhs).replace("i", "")):
        s = rhs  # `x = 3, 5, 7`, `(a, b) = (-2, 1)`: the value named, not a relation
    base = _BASE.match(s)
    if base and not base.group(1).isalpha():
        return Normalized(s, percent, None, int(base.group(2)), base.group(1))
    return Normalized(s, percent, exact_value(s))


def compact(s: str) -> str:
    """The exact-match key: whitespace removed."""
    return re.sub(r"\s+", "", s)
