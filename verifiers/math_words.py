"""Numbers written in words or digits inside a sentence: `forty-two`, `one half`, `a dozen`, `1.45 million`,
`3 degrees below zero`.

    words_value(text) -> Fraction or None          only_number_words(text) -> bool
    counted_number(text) -> the number of `26 pieces`, `18 toys per hour`, else None

Pure string work, shared by the extractor (a final sentence's last number) and the normaliser (an answer that is
a number spelled out).
"""

from __future__ import annotations

import re
from fractions import Fraction

_ONES = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                    "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i > 1}
_SCALES = {"hundred": 100, "thousand": 10**3, "million": 10**6, "billion": 10**9}
_FRACTION_WORDS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4,
                   "fourths": 4, "fifth": 5, "fifths": 5}
_WORD_TOKEN = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:/\d+)?|[a-z]+")


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


def only_number_words(s: str) -> bool:
    """Every word of `s` is part of a spelled-out number (`two hundred and five`, `a dozen`)."""
    ok = set(_ONES) | set(_TENS) | set(_SCALES) | set(_FRACTION_WORDS) | {"a", "an", "and", "dozen", "hundred"}
    return all(w in ok for w in re.split(r"[\s-]+", s.strip()) if w)


# `26 pieces`, `18 toys per hour`, `3 employees`: a number followed only by plain words is a count with its noun
# (units are not graded). Words that change the value or hedge keep the text as it is (then no single value):
# number and fraction words (`3 dozen`, `3 eighths`), operations (`2 pi`, `5 squared`, `3 over`, `twice`), bases
# (`11 in binary`), bounds (`3 at least`), alternatives and hedges (`26 pieces or 27`, `3 not`, `about`), judgements
# (`3 is wrong`). A one-letter word is a variable (`3 x`) unless it is the article of a following word (`5 times a
# day`); a two-letter one is allowed only from a short list (`3 xy` is a product of variables, not a noun).
_COUNTED = re.compile(r"^(-?\d+(?:\.\d+)?(?:/\d+)?) ([A-Za-z][A-Za-z' /-]*)$")
_ORDINALS = ("sixth seventh eighth ninth tenth eleventh twelfth twentieth hundredth thousandth millionth "
             "billionth nth kth").split()
_VALUE_WORDS = (set(_ONES) | set(_TENS) | set(_SCALES) | set(_FRACTION_WORDS) | set(_ORDINALS)
                | {w + "s" for w in list(_SCALES) + _ORDINALS} | {
    "dozen", "dozens", "trillion", "trillions", "tens", "ones", "grand", "gross", "score",
    "pi", "sqrt", "root", "squared", "cubed", "power", "powers", "factorial", "mod", "modulo", "choose", "plus",
    "minus", "over", "divided", "multiplied", "inverse", "reciprocal", "log", "sin", "cos", "tan", "exp", "infinity",
    "repeating", "recurring", "negative", "below", "above", "twice", "thrice", "double", "triple", "raised", "base",
    "binary", "octal", "hexadecimal", "least", "most",
    "or", "nor", "not", "never", "neither", "either", "none", "but", "unless", "otherwise", "maybe", "perhaps",
    "possibly", "probably", "approximately", "approx", "about", "around", "roughly", "nearly", "almost",
    "estimated", "rounded", "versus", "wrong", "incorrect", "false", "invalid", "impossible", "undefined", "unknown"})
_TWO_LETTER_WORDS = {"of", "in", "on", "at", "to", "by", "an", "as", "is", "up", "cm", "mm", "km", "kg", "mg", "ml",
                     "oz", "ft", "lb", "hr", "yd", "mi"}


def counted_number(text: str) -> str | None:
    """The number of a count written with its noun (`26 pieces` -> `26`), else None (see `_COUNTED`)."""
    m = _COUNTED.match(text.strip())
    if not m:
        return None
    words = [w.lower() for w in re.split(r"[ /-]+", m.group(2)) if w]
    for k, w in enumerate(words):
        article = w == "a" and k + 1 < len(words)
        if w in _VALUE_WORDS or len(w) == 1 and not article or len(w) == 2 and w not in _TWO_LETTER_WORDS:
            return None
        if not re.fullmatch(r"[a-z]+(?:'[a-z]+)?", w):
            return None
    return m.group(1)
