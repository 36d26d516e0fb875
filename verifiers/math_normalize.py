"""Canonical text of an answer: the same answer written two ways should normalise to the same string.

`normalize(s) -> Normalized(text, percent)`. Pure string work (regexes without nested quantifiers, so linear).
Handles: math delimiters, `\\left`/`\\right`, `\\dfrac`/`\\tfrac`, `\\text{}`/`\\mbox{}`/`\\mathrm{}`, units,
currency, percent (remembered in `percent`), degrees, thousands separators, `\\sqrt2`/`\\frac12`, spacing commands,
unicode operators, scientific notation (`1.5e3`), "infinity", a trailing period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = (
    "cm", "mm", "km", "m", "meters", "meter", "metres", "inches", "inch", "in", "feet", "foot", "ft", "yards", "yard",
    "miles", "mile", "mph", "units", "unit", "sq", "square", "cubic", "degrees", "degree", "deg", "dollars", "dollar",
    "cents", "cent", "hours", "hour", "hrs", "hr", "minutes", "minute", "min", "seconds", "second", "sec", "s",
    "days", "day", "weeks", "week", "months", "month", "years", "year", "grams", "gram", "g", "kg", "pounds",
    "pound", "lbs", "lb", "ounces", "ounce", "oz", "liters", "liter", "litres", "l", "ml", "gallons", "gallon",
    "people", "persons", "students", "apples", "points", "times", "percent", "mm^2", "cm^2", "m^2", "cm^3", "m^3",
    "square units", "sq units", "ways", "marbles", "books", "pages", "cookies", "eggs", "boxes", "bags", "dogs",
    "cats", "cars", "trees", "feet^2", "inches^2", "ft^2", "in^2", "sqft",
)
_UNIT_RE = re.compile(
    r"(?:\s*\\(?:text|mbox|mathrm|textrm)\{\s*(?:" + "|".join(map(re.escape, sorted(_UNITS, key=len, reverse=True)))
    + r")\s*\}(?:\^\{?\d\}?)?|\s+(?:" + "|".join(map(re.escape, sorted((u for u in _UNITS if len(u) > 1), key=len,
                                                                         reverse=True))) + r")(?:\^\{?\d\}?)?)\s*$")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|textrm|mbox|mathrm|mathbf|mathit|operatorname)\s*\{([^{}]*)\}")
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
_UNICODE = {"−": "-", "–": "-", "×": "\\times ", "÷": "\\div ", "·": "\\cdot ", "∞": "\\infty ", "π": "\\pi ",
            "√": "\\sqrt ", "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "∪": "\\cup ", "\u00a0": " "}


@dataclass(frozen=True)
class Normalized:
    text: str
    percent: bool = False  # the answer carried a percent sign: 50% may be meant as 50 or as 0.5


def _strip_delims(s: str) -> str:
    s = s.strip()
    for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(a) and s.endswith(b) and len(s) >= len(a) + len(b):
            s = s[len(a):len(s) - len(b)].strip()
    return s


def normalize(s: str) -> Normalized:
    s = _strip_delims(s)
    for k, v in _UNICODE.items():
        s = s.replace(k, v)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("{,}", "").replace("\\infin", "\\infty").replace("\\lbrace", "\\{").replace("\\rbrace", "\\}")
    s = _SPACING.sub(" ", s)
    s = _LEFT_RIGHT.sub("", s)
    s = _DEGREES.sub("", s)
    percent = bool(_PERCENT.search(s))
    s = _PERCENT.sub("", s)
    s = _CURRENCY.sub("", s)
    for _ in range(2):
        s = _UNIT_RE.sub("", s).strip()
    for _ in range(3):  # nested \text{\textbf{..}}
        s = _TEXT_CMD.sub(lambda m: m.group(1), s)
    s = _THOUSANDS.sub(lambda m: m.group(1).replace(",", ""), s)
    s = _SCI.sub(lambda m: f"{m.group(1)}\\times 10^{{{m.group(2)}}}", s)
    s = _SQRT_BARE.sub(r"\\sqrt{\1}", s)
    s = _FRAC_BARE.sub(r"\\frac{\1}{\2}", s)
    s = _FRAC_HALF.sub(r"\\frac\1{\2}", s)
    s = _FRAC_HALF2.sub(r"\\frac{\1}\2", s)
    s = re.sub(r"\b(?:infinity|inf)\b", r"\\infty", s, flags=re.I)
    s = re.sub(r"\s+", " ", s).strip().rstrip(".").strip()
    if s.startswith("+") and not s.startswith("+-"):
        s = s[1:].strip()
    return Normalized(s, percent)


def compact(s: str) -> str:
    """The exact-match key: whitespace removed."""
    return re.sub(r"\s+", "", s)
