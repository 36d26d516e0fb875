"""The math verifier's normaliser: bring an extracted answer to a canonical form.

    normalize(answer) -> Normalized(text, percent, value, base, digits)      compact(text) -> exact-match key

Pure string work, no sympy: it runs in the caller's process. It removes delimiters, `\\left`/`\\right`,
`\\dfrac`, `\\text{}`, formatting wrappers (`\\mathbf{\\frac{1}{2}}`), units, currency, percent (kept as a flag),
degrees, thousands separators (`1,000`, `10,\\!080`, `1{,}000`); it rewrites `\\sqrt2`, `\\frac65`, unicode, `1.5e3`
and repeating decimals. Plain numbers get their exact value (`Fraction`), base-subscripted digits their base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from rlvr.verifiers.math_words import counted_number, only_number_words, words_value

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
# Formatting-only wrappers: they change how an answer looks, never its value, so their content (braces and all,
# `\\mathbf{\\frac{14}{3}}`, `\\mathrm{70 \\sqrt{2}}`) is the answer. `\\text` and `\\operatorname` are not among them:
# their content is words (`_TEXT_CMD` keeps today's reading of a flat `\\text{...}`).
_FORMATTING = re.compile(r"\\(?:mathbf|mathrm|mathit|mathsf|boldsymbol|bm|textbf|textit|textrm|mbox)\s*(?=\{)")
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
    if re.fullmatch(r"[a-z -]+", s) and (v := words_value(s)) is not None and only_number_words(s):
        return v
    return None


def braced(text: str, start: int, limit: int = 2000) -> tuple[str, int] | None:
    """Content of the `{...}` group opening at `start` and the index after it; None if it does not close within
    `limit` characters (a bounded scan, escaped braces `\\{` skipped)."""
    depth = 0
    for i in range(start, min(len(text), start + limit)):
        c = text[i]
        if c == "{" and text[i - 1] != "\\":
            depth += 1
        elif c == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    return None


def _unwrap_formatting(s: str) -> str:
    """`s` with every formatting wrapper replaced by its content (`\\mathbf{\\frac{14}{3}}` -> `\\frac{14}{3}`)."""
    start = 0
    while m := _FORMATTING.search(s, start):
        got = braced(s, m.end())
        if got is None:  # never closes: left as it is
            start = m.end()
            continue
        s, start = s[:m.start()] + got[0] + s[got[1]:], m.start()  # its content may hold another wrapper
    return s


def strip_delims(s: str) -> str:
    """`s` without the delimiters around it: `$..$`, `$$..$$`, `\\(..\\)`, `\\[..\\]`, `**..**`."""
    s = s.strip()
    for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**")):
        if s.startswith(a) and s.endswith(b) and len(s) >= len(a) + len(b):
            s = s[len(a):len(s) - len(b)].strip()
    return s


def normalize(s: str) -> Normalized:
    s = strip_delims(s)
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
    for _ in range(2):  # a unit may sit inside a wrapper: `\\mathbf{5 \\text{ cm}}`
        s = _TRAILING_TEXT.sub("", s).strip()
        s = _UNIT_RE.sub("", s).strip()
        s = _unwrap_formatting(s)
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
    s = counted_number(s) or s  # `26 pieces`: a count with a noun this list of units does not know
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
