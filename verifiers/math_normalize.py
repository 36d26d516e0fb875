"""The math verifier's normaliser: bring an extracted answer to a canonical form.

    normalize(answer) -> Normalized(text, percent, value, base, digits)      compact(text) -> exact-match key

Pure string work, no sympy: it runs in the caller's process. It removes delimiters, `\\left`/`\\right`,
`\\dfrac`, `\\text{}`, formatting wrappers (`\\mathbf{\\frac{1}{2}}`), units, currency, percent (kept as a flag),
degrees, thousands separators (`1,000`, `10,\\!080`, `1{,}000`; not as all a bracket holds: `(12,102)`); it rewrites
`\\sqrt2`, `\\frac65`, unicode (`3³`, `4⅔`, `¹⁴⁄₃`), `{a \\over b}`, `1.5e3`, repeating decimals and solution lists
(`x \\in \\{1, -2\\}`, `x = 1 or x = -2`). Plain numbers get their exact value (`Fraction`), base-subscripted digits
their base; a stripped unit keeps its power (`unit_power`).
"""

from __future__ import annotations

import re
import unicodedata
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
_UNIT_RE = re.compile(rf"\s+(?:{_UNIT_WORDS})(?:\^\{{?(\d)\}}?)?\s*$")
_TRAILING_TEXT = re.compile(r"(?<=\S)\s*\\(?:text|mbox|mathrm|textrm)\{\s*[A-Za-z][A-Za-z .]*\}(?:\^\{?(\d)\}?)?\s*$")
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
_CURRENCY = re.compile(r"\\text\{\s*US\s*\}\s*(?=\\\$|\$)|\bUS\s*(?=\\\$|\$)|\\\$|\$|€|£|\bUSD\b|"
                       r"\\text\{\s*(?:USD|dollars?)\s*\}|\bdollars?\b")
_THOUSANDS = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+)(?![\d,])")
_SCI = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([+-]?\d+)(?![\w.])")
_SQRT_BARE = re.compile(r"\\sqrt\s*(\d|[a-zA-Z])")
_FRAC_BARE = re.compile(r"\\frac\s*(\d|[a-zA-Z])\s*(\d|[a-zA-Z])")
_FRAC_HALF = re.compile(r"\\frac\s*(\{[^{}]*\})\s*(\d|[a-zA-Z])")
_FRAC_HALF2 = re.compile(r"\\frac\s*(\d|[a-zA-Z])\s*(\{)")
_REPEATING = re.compile(r"(-?)(\d*)\.(\d*)\\overline\{(\d{1,30})\}")
# Other ways to write a repetend, read as `\\overline`: dots over its first and last digit (`4.\\dot{6}`,
# `0.\\dot{1}4\\dot{2}`), brackets (`4.(6)`), or digits written out before an ellipsis that end in one block at least
# twice over (`4.6666\\ldots`, `0.053571428571428\\ldots` = 0.053 571428 571428; see `_written_out`).
_DOTTED = re.compile(r"(\d*\.\d*?)\\dot\{?(\d)\}?(?:(\d{0,28})\\dot\{?(\d)\}?)?")
_BRACKETED = re.compile(r"(?<![\w)])(-?\d*\.\d*)\((\d{1,30})\)(?![\w(])")
_ELLIPSIS = re.compile(r"(-?\d*)\.(\d{4,60})\s*(?:\\ldots|\\dots|\\cdots|\.\.\.|…)")
# A base written around its digits: `(52)_{8}`, `52_{(8)}`, `52 in base 8`
_BASE_FORMS = ((re.compile(r"^\(([0-9A-Za-z]+)\)_\{?\(?(\d+)\)?\}?$"), r"\1_{\2}"),
               (re.compile(r"^([0-9A-Za-z]+)_\{?\((\d+)\)\}?$"), r"\1_{\2}"),
               (re.compile(r"^([0-9A-Za-z]+)\s+in\s+base\s+(\d+)$", re.I), r"\1_{\2}"))
# The imaginary unit set upright is the letter i (a trailing `\\mathrm{i}` is no unit to strip)
_UPRIGHT_I = re.compile(r"\\(?:mathrm|text|textrm|mbox|operatorname)\s*\{\s*i\s*\}")
# `]3, 4]`, `[1, 2[`: the ISO way of writing an open end
_ISO_INTERVAL = re.compile(r"^([\[\]])([^\[\]]+),([^\[\]]+)([\[\]])$")
# `\\{x \\mid 3 < x \\le 4\\}`: the set of one variable's values is the condition on it (an inequality reads as the
# interval it describes)
_SET_BUILDER = re.compile(r"^\\\{\s*([A-Za-z])\s*(?:\\in\s*\\mathbb\s*\{?R\}?\s*)?(?:\\mid|\||:|\\colon)\s*(.+?)\s*\\\}$")
_ANGLE = re.compile(r"^\\langle\s*(.+?)\s*\\rangle$")  # `\\langle a, b \\rangle`: the vector (a, b)
# `\\pm r + a` is `a \\pm r`
_PM_FIRST = re.compile(r"^\\(pm|mp)\s*([^+\-]+?)\s*([+-])\s*([^+\-]+)$")
_ASSIGN = re.compile(r"^(?:[A-Za-z]|\(\s*[a-z](?:\s*,\s*[a-z])+\s*\))\s*=\s*(?=[^=]*$)")
_PLAIN = re.compile(r"^-?(?:\d+(?:\.\d*)?|\.\d+)$")
_FRACTION = re.compile(r"^(-?)(?:\\frac\{(-?\d+)\}\{(\d+)\}|(\d+)/(\d+))$")
_SCI_TEX = re.compile(r"^(-?\d+(?:\.\d+)?)\s*\\times\s*10\^\{?(-?\d+)\}?$")
_BASE = re.compile(r"^([0-9A-Za-z]+)_\{?(\d+)\}?$")
_UNICODE = {"−": "-", "–": "-", "×": "\\times ", "÷": "\\div ", "·": "\\cdot ", "∞": "\\infty ", "π": "\\pi ",
            "∕": "/", "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "∪": "\\cup ", "\u00a0": " "}


# Unicode numerals (`3³`, `15 cm²`, `4⅔`, `14⁄3`, `¹⁴⁄₃`) are typography for what LaTeX writes `3^{3}` and
# `\\frac{14}{3}`: they are rewritten before anything else reads the answer. A vulgar fraction after a whole number
# is a mixed number (`4⅔` = 14/3, the only reading typography gives it), as is a super/subscript fraction
# (`4¹⁄₂`); a run of superscript digits and signs is an exponent (`x⁻¹` = `x^{-1}`).
_SUPER = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8", "⁹": "9",
          "⁺": "+", "⁻": "-"}
_SUB = {chr(0x2080 + k): str(k) for k in range(10)}
_VULGAR = {}  # ½ -> (1, 2), from the Unicode decomposition `<fraction> 0031 2044 0032`
for _c in map(chr, list(range(0xBC, 0xBF)) + list(range(0x2150, 0x215F)) + [0x2189]):
    _num, _, _den = "".join(chr(int(h, 16)) for h in unicodedata.decomposition(_c).split()[1:]).partition("\u2044")
    _VULGAR[_c] = (int(_num), int(_den))
_V = "".join(_VULGAR)
_SUP_DIGITS, _SUB_DIGITS = "".join(list(_SUPER)[:10]), "".join(_SUB)
# Each match starts at the beginning of a digit (or superscript) run, never inside one: linear in the text.
_VULGAR_RE = re.compile(rf"(?<!\d)(\d+ ?)?([{_V}])")
_SUPSUB_FRACTION = re.compile(rf"(?<!\d)(\d+ ?)?(?<![{_SUP_DIGITS}])([{_SUP_DIGITS}]+)\s*[\u2044/]\s*"
                              rf"([{_SUB_DIGITS}]+)")
_SLASH_FRACTION = re.compile(r"(?<![\d.])(\d+)\s*\u2044\s*(\d+)(?![\d.])")
_SUPER_RUN = re.compile(rf"[{''.join(_SUPER)}]+")
# TeX's primitive `{a \\over b}`: the group that holds `\\over` is the fraction (`\\choose`: the binomial); without
# an enclosing group (`\\boxed{14 \\over 3}`) the whole answer is. Left as it is, `{14 \\over 3}` reads as a set.
_OVER = re.compile(r"\\(over|choose)(?![a-zA-Z])")
# A solution list written as statements about one variable: `x \\in \\{1, -2\\}` names the set; `x = 1 \\text{ or }
# x = -2`, `x = 3, x = 5 or x = 7` name the values `1, -2` (a list, compared as the gold's list). Different variables
# (`x = 1, y = 2`) are a point, left as they are.
_IN_SET = re.compile(r"^[A-Za-z]\s*\\in\s*(?=\S)")
_LIST_SEP = re.compile(r"\s*(?:,|;|\bor\b|\band\b|\\lor\b|\\vee\b)\s*")
_NAMED_VALUE = re.compile(r"^([A-Za-z])\s*=\s*([^=]+)$")


def _mixed(whole: str | None, num: int, den: int, latex: bool) -> str:
    if not den or len(whole or "") > 100:  # no value, or a digit run too long to be a number (left to the guards)
        return f"{whole or ''}{num}/{den}"
    v = Fraction(int(whole or 0) * den + num, den)
    return f"\\frac{{{v.numerator}}}{{{v.denominator}}}" if latex else f"{v.numerator}/{v.denominator}"


def unicode_fractions(s: str, latex: bool = False) -> str:
    """`4⅔`, `4 ⅔`, `¹⁴⁄₃`, `14⁄3` -> `14/3` (`\\frac{14}{3}` with `latex`); other text unchanged. The sentence
    rule reads a final `She needs 2½ cups.` through it (as 5/2, not 2)."""
    if s.isascii():
        return s
    s = _SUPSUB_FRACTION.sub(lambda m: m.group() if len(m.group()) > 200 else _mixed(
        m.group(1), int("".join(_SUPER[c] for c in m.group(2))), int("".join(_SUB[c] for c in m.group(3))), latex), s)
    s = _VULGAR_RE.sub(lambda m: _mixed(m.group(1), *_VULGAR[m.group(2)], latex), s)
    return _SLASH_FRACTION.sub(lambda m: m.group() if len(m.group()) > 200 else _mixed(
        None, int(m.group(1)), int(m.group(2)), latex), s)


def _unicode_numerals(s: str) -> str:
    """`4⅔` -> `\\frac{14}{3}`, `¹⁴⁄₃` / `14⁄3` -> `\\frac{14}{3}`, `3³` -> `3^{3}`, `x⁻¹` -> `x^{-1}`."""
    if s.isascii():
        return s
    s = unicode_fractions(s, latex=True).replace("\u2044", "/")
    return _SUPER_RUN.sub(lambda m: "^{" + "".join(_SUPER[c] for c in m.group()) + "}", s)


def _rewrite_over(s: str) -> str:
    """`{a \\over b}` -> `\\frac{a}{b}`, `{n \\choose k}` -> `\\binom{n}{k}` (see `_OVER`)."""
    for _ in range(50):
        m = _OVER.search(s)
        if not m:
            return s
        depth, start = 0, None
        for i in range(m.start() - 1, -1, -1):  # the unmatched `{` before it opens its group
            if s[i] in "{}" and (i == 0 or s[i - 1] != "\\"):
                if s[i] == "}":
                    depth += 1
                elif depth == 0:
                    start = i
                    break
                else:
                    depth -= 1
        if start is None:
            lo, hi, end = 0, len(s), len(s)
        else:
            got = braced(s, start, len(s))
            if got is None:
                return s
            lo, hi, end = start + 1, got[1] - 1, got[1]
        cmd = "\\frac" if m.group(1) == "over" else "\\binom"
        frac = f"{cmd}{{{s[lo:m.start()].strip()}}}{{{s[m.end():hi].strip()}}}"
        prev = s[:start].rstrip()[-1:] if start is not None else ""
        if prev and (prev.isalpha() or prev in "}]^_"):  # an argument (`\\sqrt{a \\over b}`): keep its braces
            frac = "{" + frac + "}"
        s = s[:lo - (start is not None)] + frac + s[end:]
    return s


def _split_top(s: str, sep: re.Pattern) -> list[str]:
    """`s` split at the matches of `sep` outside brackets."""
    parts, last, depths, d = [], 0, [], 0
    for c in s:
        d += (c in "([{") - (c in ")]}")
        depths.append(d)
    for m in sep.finditer(s):
        if m.start() > 0 and depths[m.start() - 1] != 0:
            continue
        parts.append(s[last:m.start()])
        last = m.end()
    return parts + [s[last:]]


def _solution_list(s: str) -> str:
    """`x = 1 or x = -2` -> `1, -2` (see `_IN_SET`)."""
    if "=" not in s:
        return s
    named = [_NAMED_VALUE.match(p.strip()) for p in _split_top(s, _LIST_SEP)]
    if len(named) < 2 or not all(named) or len({m.group(1) for m in named}) != 1:
        return s
    return ", ".join(m.group(2).strip() for m in named)


def _whole_bracket(s: str, start: int, end: int) -> bool:
    """Whether the digit-grouped number around `s[start:end]` (`12,102`, `12,\\, 102`) is all a bracket holds."""
    while start > 0 and s[start - 1].isdigit():
        start -= 1
    while end < len(s) and s[end].isdigit():
        end += 1
    return s[:start].rstrip()[-1:] in ("(", "[") and s[end:].lstrip()[:1] in (")", "]")


def _thousands(m: re.Match) -> str:
    """`1,000` -> `1000`, except as all a bracket holds: `(12,102)` is an interval or a pair (the gold
    `(2,12) \\cup (12,102)`), where a comma separates, as it does in `(2,12)` (no one brackets a lone number)."""
    return m.group(1) if _whole_bracket(m.string, m.start(), m.end()) else m.group(1).replace(",", "")


@dataclass(frozen=True)
class Normalized:
    text: str
    percent: bool = False  # the answer carried a percent sign: 50% may be meant as 50 or as 0.5
    value: Fraction | None = None  # the exact value of a plain number (integer, decimal, fraction, words)
    base: int | None = None  # `52_8`: digits "52" in base 8
    digits: str | None = None
    unit_power: int | None = None  # `15 cm^2` -> 2: the power of the unit stripped off (its value is not graded)


def _iso_interval(s: str) -> str:
    """`]3, 4]` -> `(3, 4]`, `[1, 2[` -> `[1, 2)`; anything else unchanged."""
    iso = _ISO_INTERVAL.match(s)
    if not iso:
        return s
    return ("(" if iso[1] == "]" else "[") + f"{iso[2]},{iso[3]}" + (")" if iso[4] == "[" else "]")


def _written_out(m: re.Match) -> str:
    """`whole.digits...` with its repetend overlined: the earliest start, then the shortest block, whose repeats
    fill the rest of the digits (the last one may be cut short) at least twice over; unchanged (read as no number)
    when none does, as for `3.14159...`. One digit must repeat four times (`0.5555...`; `0.55...` is too few)."""
    whole, digits = m[1], m[2]
    for start in range(len(digits)):
        tail = digits[start:]
        for period in range(1, len(tail) // 2 + 1):
            if (period > 1 or len(tail) >= 4) and all(tail[i] == tail[i % period] for i in range(len(tail))):
                return f"{whole}.{digits[:start]}\\overline{{{tail[:period]}}}"
    return m[0]


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
    s = _unicode_numerals(s)
    s = _SEP_LATEX.sub(lambda m: "," if _whole_bracket(m.string, m.start(), m.end() + 3) else "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = _rewrite_over(s)
    s = s.replace("\\infin", "\\infty").replace("\\lbrace", "\\{").replace("\\rbrace", "\\}")
    s = _SPACING.sub(" ", s)
    s = _LEFT_RIGHT.sub("", s)
    s = _DEGREES.sub("", s)
    s = _UPRIGHT_I.sub("i", s)
    percent = bool(_PERCENT.search(s))
    s = _PERCENT.sub("", s)
    s = _CURRENCY.sub("", s)
    powers = []  # `cm^2` vs `cm^3`: a unit is not graded, but an area is not a volume
    for _ in range(2):  # a unit may sit inside a wrapper: `\\mathbf{5 \\text{ cm}}`
        for unit in (_TRAILING_TEXT, _UNIT_RE):
            m = unit.search(s)
            if m:
                powers.append(m.group(1))
                s = s[:m.start()].strip()
        s = _unwrap_formatting(s)
    unit_power = next((int(p) for p in powers if p), None)
    for _ in range(3):  # nested \text{\textbf{..}}
        s = _TEXT_CMD.sub(lambda m: m.group(1), s)
    s = _THOUSANDS.sub(_thousands, s)
    s = _SCI.sub(lambda m: f"{m.group(1)}\\times 10^{{{m.group(2)}}}", s)
    s = _SQRT_BARE.sub(r"\\sqrt{\1}", s)
    s = _FRAC_BARE.sub(r"\\frac{\1}{\2}", s)
    s = _FRAC_HALF.sub(r"\\frac\1{\2}", s)
    s = _FRAC_HALF2.sub(r"\\frac{\1}\2", s)
    s = _DOTTED.sub(lambda m: f"{m[1]}\\overline{{{m[2]}{m[3] or ''}{m[4] or ''}}}", s)
    s = _BRACKETED.sub(r"\1\\overline{\2}", s)
    s = _ELLIPSIS.sub(_written_out, s)
    s = _REPEATING.sub(_repeating, s)
    s = re.sub(r"\b(?:infinity|inf)\b", r"\\infty", s, flags=re.I)
    s = re.sub(r"\s+", " ", s).strip().rstrip(".").strip()
    if s.startswith("+") and not s.startswith("+-"):
        s = s[1:].strip()
    s = counted_number(s) or s  # `26 pieces`: a count with a noun this list of units does not know
    s = _IN_SET.sub("", _solution_list(s))
    rhs = _ASSIGN.sub("", s)
    if rhs != s and not re.search(r"[a-zA-Z]", re.sub(r"\\[a-zA-Z]+", "", rhs).replace("i", "")):
        s = rhs  # `x = 3, 5, 7`, `(a, b) = (-2, 1)`: the value named, not a relation
    if (built := _SET_BUILDER.match(s)) and re.search(rf"(?<![A-Za-z\\]){built[1]}(?![A-Za-z])", built[2]) \
            and re.search(r"[<>]|\\[lg]eq?\b|\\[lg]t\b", built[2]):
        s = built[2]
    s = _ANGLE.sub(r"(\1)", s)
    for form, written in _BASE_FORMS:
        s = form.sub(written, s)
    if s.startswith("]") or s.endswith("["):
        s = " \\cup ".join(_iso_interval(part.strip()) for part in s.split("\\cup"))
    s = _PM_FIRST.sub(lambda m: f"{'-' if m[3] == '-' else ''}{m[4]} \\{m[1]} {m[2]}", s)
    base = _BASE.match(s)
    if base and not base.group(1).isalpha():
        return Normalized(s, percent, None, int(base.group(2)), base.group(1), unit_power)
    return Normalized(s, percent, exact_value(s), unit_power=unit_power)


def compact(s: str) -> str:
    """The exact-match key: whitespace removed."""
    return re.sub(r"\s+", "", s)
