"""Numbers written in words or digits inside a sentence: `forty-two`, `one half`, `a dozen`, `1.45 million`,
`3 degrees below zero`.

    words_value(text) -> Fraction or None          only_number_words(text) -> bool

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
