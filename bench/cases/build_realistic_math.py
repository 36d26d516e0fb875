"""Build the realistic labelled math set: completions written the way instruct and reasoning models write them.

    python bench/cases/build_realistic_math.py [--data /work/shared/data] [--seed 2026] [--out FILE.jsonl]

Every MATH-500 gold (`answer`, as stored) and every GSM8K test gold (the text after `#### `, as stored) gets
completions built from the dataset's own worked solution (its final answer removed) plus a final statement in one
of the styles listed in bench/cases/README.md. The label of each case comes from the rule that built it (the
README lists the rules); no verifier is run here. Deterministic for a given seed. `build(data, seed)` returns the
cases for bench/verifiers.py, which builds them on demand (the file is ~4 MB, so it is not committed).
"""

from __future__ import annotations

import json
import random
import re
from fractions import Fraction
from pathlib import Path

from case_sources import write_cases

INT = re.compile(r"^-?\d+$")
SEP = re.compile(r"^(\d{1,3})((?:,\\! ?\d{3})+)$")
DEC = re.compile(r"^-?\d*\.\d+$")
FRAC = re.compile(r"^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$")
BASE = re.compile(r"^([0-9A-Z]+)_\{?(\d+)\}?$")
SQRT = re.compile(r"^(\d*)\\sqrt\{(\d+)\}$")
LETTER = re.compile(r"^\\text\{\(([A-E])\)\}$")
WORD = re.compile(r"^\\text\{([A-Za-z]+)\}$")
INTERVAL = re.compile(r"^([(\[])\s*(-?\\infty|-?\d+)\s*,\s*(-?\\infty|-?\d+)\s*([)\]])$")
UNION2 = re.compile(r"^\(-\\infty,\s*(-?\d+)\)\s*\\cup\s*\((-?\d+),\s*\\infty\)$")
PMATRIX = re.compile(r"^\\begin\{pmatrix\}(.*)\\end\{pmatrix\}$", re.S)
DEGREES = re.compile(r"^(\d+)\^\\circ$")
LIST = re.compile(r"^-?\d+(?:\s*,\s*-?\d+)+$")
PAIR = re.compile(r"^\(\s*-?\d+\s*,\s*-?\d+\s*\)$")

LE, GE = "\\le", "\\ge"
ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
       "seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def words(n: int) -> str:
    """English words for 0 <= n < 1,000,000 ("forty-two", "one hundred five", "two thousand twenty")."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else "-" + ONES[n % 10])
    if n < 1000:
        return ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + words(n % 100))
    return words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + words(n % 1000))


def repeating(f: Fraction) -> str | None:
    """`0.\\overline{3}`-style exact decimal of a positive fraction with a repeating part, else None."""
    if f <= 0 or f.denominator == 1:
        return None
    whole, rem, digits, seen = f.numerator // f.denominator, f.numerator % f.denominator, [], {}
    while rem and rem not in seen and len(digits) < 12:
        seen[rem] = len(digits)
        rem *= 10
        digits.append(str(rem // f.denominator))
        rem %= f.denominator
    if not rem or rem not in seen:
        return None  # terminating, or a period too long to write
    i = seen[rem]
    return f"{whole}.{''.join(digits[:i])}\\overline{{{''.join(digits[i:])}}}"


def terminating(f: Fraction) -> str | None:
    d = f.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1:
        return None
    s = f"{abs(f.numerator) / f.denominator:.12f}".rstrip("0").rstrip(".")
    return ("-" if f < 0 else "") + s


def thousands(n: int, sep: str) -> str:
    s = f"{abs(n):,}".replace(",", sep)
    return ("-" if n < 0 else "") + s


def value(g: str) -> Fraction | None:
    """The exact rational value of an integer, decimal or fraction gold, else None."""
    if INT.match(g) or DEC.match(g):
        return Fraction(g)
    m = FRAC.match(g)
    if m and int(m.group(3)):
        return Fraction(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) else 1)
    m = SEP.match(g)
    if m:
        return Fraction(int(re.sub(r"[^\d]", "", g)))
    return None


def fmt(f: Fraction) -> str:
    if f.denominator == 1:
        return str(f.numerator)
    return ("-" if f < 0 else "") + f"\\frac{{{abs(f.numerator)}}}{{{f.denominator}}}"


def approx(g: str) -> str | None:
    """A 4-digit decimal approximation of an exact irrational or non-terminating gold (the rule: it is wrong)."""
    v = value(g)
    if v is not None and terminating(v) is None:
        return f"{float(v):.4f}"
    m = SQRT.match(g)
    if m and int(m.group(2)) ** 0.5 % 1:
        return f"{int(m.group(1) or 1) * int(m.group(2)) ** 0.5:.4f}"
    if g in ("\\pi", "2\\pi"):
        return "3.1416" if g == "\\pi" else "6.2832"
    return None


def matrix_entries(g: str) -> list[list[Fraction]] | None:
    m = PMATRIX.match(g)
    if not m:
        return None
    rows = []
    for row in m.group(1).split("\\\\"):
        cells = []
        for c in row.split("&"):
            c = c.strip()
            if not re.fullmatch(r"-?\d+(?:/\d+)?", c):
                return None
            cells.append(Fraction(c))
        rows.append(cells)
    return rows


def pmatrix(rows: list[list[Fraction]]) -> str:
    def cell(f):
        return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"
    return "\\begin{pmatrix} " + " \\\\ ".join(" & ".join(cell(c) for c in r) for r in rows) + " \\end{pmatrix}"


def interval_inequality(g: str) -> str | None:
    """The inequality in x that a simple interval or two-ray union describes (same set, by construction)."""
    m = UNION2.match(g)
    if m:
        return f"x < {m.group(1)} \\text{{ or }} x > {m.group(2)}"
    m = INTERVAL.match(g)
    if not m:
        return None
    lo_b, lo, hi, hi_b = m.groups()
    if lo_b + hi_b == "()" and "infty" not in lo + hi:
        return None  # `(8,-2)`: a point as often as an interval
    if "infty" not in lo + hi and int(lo) >= int(hi):
        return None
    lo_op = "<" if lo_b == "(" else LE
    hi_op = "<" if hi_b == ")" else LE
    if "infty" in lo and "infty" in hi:
        return None
    if "infty" in lo:
        return f"x {hi_op} {hi}"
    if "infty" in hi:
        return f"x {'>' if lo_b == '(' else GE} {lo}"
    return f"{lo} {lo_op} x {hi_op} {hi}"


def equivalent_forms(g: str, gsm: bool) -> list[tuple[str, str]]:
    """(rule, text) pairs that state exactly the gold's value (rules E1..E14 of the README)."""
    out = [("E1_verbatim", g)]
    v = value(g)
    if v is not None and v.denominator == 1:
        n = int(v)
        if abs(n) >= 1000:
            out += [("E2_thousands", thousands(n, sep)) for sep in (",", "{,}", ",\\!")]
        if SEP.match(g):
            out.append(("E2_no_separators", str(n)))
        if n < 0:
            out.append(("E3_unicode_minus", "\u2212" + str(-n)))
        if 0 <= n < 1_000_000:
            out.append(("E4_words", words(n)))
        if gsm:
            out += [("E5_currency", f"\\${n}"), ("E5_currency", f"\\${n}.00"), ("E6_unit", f"{n} \\text{{ dollars}}")]
        else:
            out.append(("E6_unit", f"{n} \\text{{ units}}"))
        out.append(("E7_assignment", f"x = {n}"))
    elif v is not None:
        t = terminating(v)
        if t is not None:
            out.append(("E8_exact_decimal", t))
            if t.startswith("0."):
                out.append(("E8_exact_decimal", t[1:]))
            if DEC.match(g) and "." in g:
                out.append(("E8_trailing_zero", g + "0"))
        r = repeating(v)
        if r is not None:
            out.append(("E9_repeating_decimal", r))
        if FRAC.match(g):
            out += [("E10_slash", f"{'-' if v < 0 else ''}{abs(v.numerator)}/{v.denominator}"),
                    ("E10_dfrac", fmt(v).replace("\\frac", "\\dfrac"))]
            if v.denominator < 10 and abs(v.numerator) < 10:
                out.append(("E10_frac_no_braces", f"{'-' if v < 0 else ''}\\frac{abs(v.numerator)}{v.denominator}"))
    m = SQRT.match(g)
    if m:
        out.append(("E11_unicode", f"{m.group(1)}\u221a{m.group(2)}"))
        if len(m.group(2)) == 1:
            out.append(("E11_sqrt_no_braces", f"{m.group(1)}\\sqrt{m.group(2)}"))
    m = BASE.match(g)
    if m:
        digits, base = m.groups()
        out += [("E12_base_braced", f"{digits}_{{{base}}}"), ("E12_bare_digits_in_gold_base", digits),
                ("E12_base_ten", f"{int(digits, int(base))}_{{10}}")]
    m = DEGREES.match(g)
    if m:
        out += [("E6_unit", f"{m.group(1)}^{{\\circ}}"), ("E11_unicode", f"{m.group(1)}\u00b0"),
                ("E6_unit", f"{m.group(1)} degrees")]
    m = LETTER.match(g)
    if m:
        out += [("E13_letter", f"({m.group(1)})"), ("E13_letter", m.group(1))]
    m = WORD.match(g)
    if m:
        out.append(("E13_word", m.group(1)))
    ineq = interval_inequality(g)
    if ineq:
        out.append(("E14_inequality", ineq))
    if LIST.match(g):
        out.append(("E7_assignment", f"x = {g}"))
    if PAIR.match(g):
        out.append(("E7_assignment", f"(a, b) = {g}"))
    rows = matrix_entries(g)
    if rows and any(c for r in rows for c in r):
        out.append(("E14_negated_matrix", "-" + pmatrix([[-c for c in r] for r in rows])))
        k = Fraction(1, max(c.denominator for r in rows for c in r))
        if k != 1:
            out.append(("E14_scalar_matrix", f"\\frac{{1}}{{{k.denominator}}}" + pmatrix([[c / k for c in r]
                                                                                        for r in rows])))
    m = re.match(r"^(\d*)\s*\\pi$", g)
    if m:
        out.append(("E11_unicode", f"{m.group(1)}\u03c0"))
    if g.startswith("\\left(") or ("\\frac" in g and "\\dfrac" not in g):
        out.append(("E15_latex_variant", g.replace("\\left(", "(").replace("\\right)", ")").replace("\\frac", "\\dfrac")))
    return out


def last_digit_changed(g: str) -> str | None:
    """The gold with its last digit run increased by one, unless that run is an exponent, index or base."""
    runs = list(re.finditer(r"\d+", g))
    if not runs or "\\text" in g:
        return None
    m = runs[-1]
    before = g[:m.start()]
    if re.search(r"(?:\^|_|\\sqrt\[|\^\{|_\{)$", before) or re.search(r"\^\{[^}]*$", before):
        return None
    return before + str(int(m.group()) + 1) + g[m.end():]


def wrong_forms(g: str, rng: random.Random, word_golds: list[str]) -> list[tuple[str, str]]:
    """(rule, text) pairs that state a value other than the gold (rules W1..W6)."""
    out = []
    v = value(g)
    if v is not None:
        out += [("W1_plus_one", fmt(v + 1))] + ([("W2_times_ten", fmt(v * 10))] if v != 0 else [])
        if v != 0:
            out.append(("W3_negated", fmt(-v)))
        if v.denominator > 1 and v.numerator not in (0, v.denominator, -v.denominator):
            out.append(("W4_reciprocal", fmt(1 / v)))
    else:
        changed = last_digit_changed(g)
        if changed:
            out.append(("W1_last_digit_changed", changed))
    a = approx(g)
    if a:
        out.append(("W5_approximation_of_exact", a))
    m = BASE.match(g)
    if m and m.group(1).isdigit() and int(m.group(1), int(m.group(2))) != int(m.group(1)):
        out.append(("W6_explicit_other_base", f"{m.group(1)}_{{10}}"))
    m = INTERVAL.match(g)
    if m and "infty" not in m.group(2) + m.group(3):
        flip = {"(": "[", "[": "("}[m.group(1)]
        out.append(("W6_closed_end_changed", flip + g[1:]))
    m = LETTER.match(g)
    if m:
        other = rng.choice([c for c in "ABCDE" if c != m.group(1)])
        out.append(("W1_other_letter", f"({other})"))
    m = WORD.match(g)
    if m:
        others = [w for w in word_golds if w != g]
        out.append(("W1_other_word", rng.choice(others)))
    return out


def bodies(data: Path) -> list[dict]:
    """Every gold with a worked solution from which its final answer was removed."""
    out = []
    for line in open(data / "math500" / "test.jsonl", encoding="utf-8"):
        r = json.loads(line)
        sol = re.sub(r"\\boxed\s*\{((?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*)\}", r"\1", r["solution"])
        out.append({"source": "math500", "id": r["unique_id"], "gold": r["answer"], "body": sol.strip(), "gsm": False})
    for i, line in enumerate(open(data / "gsm8k" / "test.jsonl", encoding="utf-8")):
        r = json.loads(line)
        steps, _, gold = r["answer"].rpartition("####")
        steps = re.sub(r"<<[^>]*>>", "", steps).strip()
        out.append({"source": "gsm8k", "id": f"test/{i}", "gold": gold.strip(), "body": steps, "gsm": True})
    return out


BOXED = [
    "{body}\n\nTherefore, the answer is $\\boxed{{{a}}}$.",
    "{body}\n\n**Final Answer**\n\\[\n\\boxed{{{a}}}\n\\]",
    "<think>\n{body}\n</think>\n\nThe answer is $\\boxed{{{a}}}$.",
    "{body}\n\nSo the final answer is \\(\\boxed{{{a}}}\\).",
    "{body}\n$$\\boxed{{{a}}}$$",
]
STATED = [
    "{body}\nFinal Answer: The final answer is ${a}$. I hope it is correct.",  # Minerva
    "{body}\n#### {a}",  # GSM8K
    "{body}\n\nThe answer is ${a}$.",
    "{body}\n\n**Answer:** ${a}$",
    "{body}\n\nThus, the final answer is {a}.",
]
PROSE = [
    "{body}\n\nSo the answer is {a}.",
    "{body}\n\nPutting it all together, after the 3 steps above we get {a}.",
]


def state(rng: random.Random, body: str, a: str, style: str) -> str:
    if style == "boxed":
        return rng.choice(BOXED).format(body=body, a=a)
    if style == "stated":
        return rng.choice(STATED).format(body=body, a=a)
    return rng.choice(PROSE).format(body=body, a=a)


def truncated(body: str, g: str) -> str | None:
    """The body cut before the first place it mentions the gold (digits or words), mid-sentence."""
    v = value(g)
    if v is None or v.denominator != 1 or not body:
        return None
    n = int(v)
    body = re.sub(r"(?<=\d),(?=\d{3})", "", body)  # 1,000 -> 1000 so that the search below finds it
    marks = [m.start() for m in re.finditer(rf"(?<![\d.]){abs(n)}(?![\d])", body)]
    cut = min(marks) if marks else len(body)
    cut = min(cut, int(len(body) * 0.8))
    text = body[:cut].rstrip()
    return text if text and words(abs(n)) not in text.lower() and len(text) > 20 else None


def cases_for(item: dict, rng: random.Random, word_golds: list[str]) -> list[dict]:
    g, body, gsm = item["gold"], item["body"], item["gsm"]
    good, bad = equivalent_forms(g, gsm), wrong_forms(g, rng, word_golds)
    v = value(g)
    rows = []

    def add(rule, completion, label):
        rows.append({"source": item["source"], "id": item["id"], "gold": g, "rule": rule,
                     "completion": completion, "label": label})

    picks = [good[0]] + rng.sample(good[1:], min(len(good) - 1, 2 if not gsm else 1))
    for rule, a in picks:
        if rule == "E4_words":
            add(rule + "+prose", rng.choice(PROSE).format(body=body, a=a), True)
            continue
        if rule == "E13_word":
            add(rule + "+prose", f"{body}\n\nTherefore, {a} is the one we are looking for.", True)
            continue
        style = rng.choice(["boxed", "boxed", "stated"] + (["prose"] if v is not None else []))
        add(f"{rule}+{style}", state(rng, body, a, style), True)
    if bad:
        rule, a = rng.choice(bad)
        add(f"{rule}+{rng.choice(['boxed', 'stated'])}", state(rng, body, a, rng.choice(["boxed", "stated"])), False)
        rule, a = rng.choice(bad)
        kind = rng.random()
        if kind < 0.35:  # self-correction: the last box counts
            add("M1_last_box_is_gold", f"{body}\n\nSo $\\boxed{{{a}}}$. Wait, let me recheck that step."
                                         f"\n\nNo, the correct value is $\\boxed{{{g}}}$.", True)
        elif kind < 0.7:
            add("M2_last_box_is_wrong", f"{body}\n\nSo $\\boxed{{{g}}}$. Hmm, on second thought the answer is "
                                          f"$\\boxed{{{a}}}$.", False)
        elif kind < 0.85:
            add("M3_negated_then_other", f"{body}\n\nThe answer is not ${g}$; it is ${a}$.", False)
        else:
            add("M3_negated_answer", f"{body}\n\nI checked it twice: the answer is not ${g}$.", False)
    if v is not None and v.denominator == 1 and rng.random() < 0.5:
        n = int(v)
        add("M4_hedge_in_one_box", f"{body}\n\nThe answer is $\\boxed{{{n}, {n + 1}}}$.", False)
    if rng.random() < 0.25 and (cut := truncated(body, g)):
        add("T1_truncated_before_answer", cut, False)
    if rng.random() < 0.08 and v is not None and v.denominator == 1:
        add("T2_truncated_after_box", f"{body}\n\nThe answer is $\\boxed{{{g}}}$. Let me verify: 2 + ", True)
    if rng.random() < 0.06 and v is not None and v.denominator == 1:
        add("M5_answer_only_in_code", f"Let me compute it.\n```python\nanswer = {g}\nprint(answer)\n```", False)
    if rng.random() < 0.04 and v is not None and v.denominator == 1:
        add("M6_boxed_false_statement", f"{body}\n\n$\\boxed{{{g} = {int(v) + 1}}}$", False)
    return rows


def build(data: str | Path = "/work/shared/data", seed: int = 2026) -> list[dict]:
    rng = random.Random(seed)
    items = bodies(Path(data))
    word_golds = [i["gold"] for i in items if WORD.match(i["gold"])]
    return [c for item in items for c in cases_for(item, rng, word_golds)]


if __name__ == "__main__":
    write_cases(build, seed=2026, width=32)
