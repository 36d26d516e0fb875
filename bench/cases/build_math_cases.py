"""Build bench/cases/math_cases.jsonl: labelled (gold, completion, label) cases for the math verifier bench.

    python bench/cases/build_math_cases.py [--data /work/shared/data] [--seed 0]

From MATH-500 gold answers: the gold boxed as is, and rewritings whose equivalence is known by construction
(equivalent: spacing, \\dfrac, \\left/\\right, decimal of a terminating fraction, thousands separators, units,
"x = gold", \\text{(A)} letters; not equivalent: n+1, -n, swapped fraction, reversed tuple, another problem's different
numeric answer). From GSM8K: "#### n", "The answer is n", "$n", commas, last-number fallback, and wrong numbers.
Each line: {"source", "id", "kind", "gold", "completion", "label"}.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from fractions import Fraction
from pathlib import Path

INT = re.compile(r"^-?\d+$")
FRAC = re.compile(r"^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$")
TUPLE = re.compile(r"^\((-?[^(),]+),\s*(-?[^(),]+)\)$")


def _value(g: str) -> Fraction | None:
    if INT.match(g):
        return Fraction(int(g))
    m = FRAC.match(g)
    if m and int(m.group(3)):
        return Fraction(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) else 1)
    return None


def _terminating(f: Fraction) -> str | None:
    """The exact decimal of a fraction whose denominator has only the factors 2 and 5, else None."""
    d, k = f.denominator, 0
    while d % 2 == 0:
        d, k = d // 2, k + 1
    while d % 5 == 0:
        d, k = d // 5, k + 1
    if d != 1:
        return None
    scaled = abs(f.numerator) * 10**k // f.denominator
    digits = str(scaled).rjust(k + 1, "0")
    text = (digits[:-k] + "." + digits[-k:]).rstrip("0").rstrip(".") if k else digits
    return ("-" if f < 0 else "") + text


def math_cases(rows: list[dict], rng: random.Random) -> list[dict]:
    out = []
    numeric = [(r["unique_id"], r["answer"], _value(r["answer"])) for r in rows if _value(r["answer"]) is not None]

    def add(row, kind, completion, label):
        out.append({"source": "math500", "id": row["unique_id"], "kind": kind, "gold": row["answer"],
                    "completion": completion, "label": label})

    for row in rows:
        g = row["answer"]
        add(row, "boxed_gold", f"So the final answer is $\\boxed{{{g}}}$.", True)
        if "\\frac" in g and "\\dfrac" not in g:
            add(row, "dfrac", f"Thus $\\boxed{{{g.replace(chr(92) + 'frac', chr(92) + 'dfrac')}}}$", True)
        if g.startswith("(") and g.endswith(")") and "\\left" not in g:
            add(row, "left_right", f"$\\boxed{{\\left{g[:-1]}\\right)}}$", True)
        v = _value(g)
        if v is not None:
            if v.denominator == 1:
                n = int(v)
                if abs(n) >= 1000:
                    add(row, "thousands", f"The answer is $\\boxed{{{n:,}}}$.", True)
                add(row, "x_equals", f"Therefore $\\boxed{{x = {n}}}$.", True)
                add(row, "plus_one", f"So the final answer is $\\boxed{{{n + 1}}}$.", False)
                if n:
                    add(row, "negated", f"So the final answer is $\\boxed{{{-n}}}$.", False)
                add(row, "answer_is_text", f"Adding these up, the answer is {n}.", True)
            else:
                dec = _terminating(v)
                if dec:
                    add(row, "decimal", f"which gives $\\boxed{{{dec}}}$", True)
                if v.numerator != 0 and abs(v.numerator) != v.denominator:
                    add(row, "swapped_fraction", f"$\\boxed{{\\frac{{{v.denominator}}}{{{v.numerator}}}}}$", False)
                add(row, "slash", f"The answer is $\\boxed{{{v.numerator}/{v.denominator}}}$.", True)
            other = rng.choice(numeric)
            if other[2] != v:
                add(row, "other_problem", f"So the final answer is $\\boxed{{{other[1]}}}$.", False)
        m = TUPLE.match(g)
        if m and m.group(1).strip() != m.group(2).strip():
            add(row, "reversed_tuple", f"$\\boxed{{({m.group(2).strip()}, {m.group(1).strip()})}}$", False)
            add(row, "tuple_spaces", f"$\\boxed{{( {m.group(1).strip()} ,  {m.group(2).strip()} )}}$", True)
        lm = re.match(r"^\\text\{\(([A-E])\)\}$", g)
        if lm:
            add(row, "letter_plain", f"The answer is ({lm.group(1)}).", True)
            wrong = "ABCDE"[("ABCDE".index(lm.group(1)) + 1) % 5]
            add(row, "letter_wrong", f"The answer is $\\boxed{{\\text{{({wrong})}}}}$.", False)
    return out


# Hand-written cases of the kinds the rewritings above do not reach (label by hand, comment per row).
HANDWRITTEN = [
    ("(3,\\infty)", "so $\\boxed{x>3}$", True),  # inequality vs interval
    ("[2,5)", "$\\boxed{2 \\le x < 5}$", True),  # compound inequality
    ("(-\\infty, 3) \\cup (4, \\infty)", "$\\boxed{(4,\\infty)\\cup(-\\infty,3)}$", True),  # union order
    ("(-\\infty, 3) \\cup (4, \\infty)", "$\\boxed{(-\\infty,3]\\cup(4,\\infty)}$", False),  # closed end
    ("y=2x+1", "$\\boxed{2x-y+1=0}$", True),  # rearranged line
    ("y=2x+1", "$\\boxed{y=2x-1}$", False),  # different line
    ("3+4i", "$\\boxed{4i+3}$", True),  # complex reordered
    ("3+4i", "$\\boxed{3-4i}$", False),  # conjugate
    ("50\\%", "$\\boxed{0.5}$", True),  # percent as fraction
    ("50\\%", "$\\boxed{50}$", True),  # percent sign dropped
    ("1500", "$\\boxed{1.5\\times 10^{3}}$", True),  # scientific notation
    ("1500", "the answer is 1.5e3", True),  # e-notation
    ("5", "$\\boxed{5\\text{ cm}}$", True),  # unit
    ("12", "$\\boxed{\\$12.00}$", True),  # currency and cents
    ("\\frac{\\sqrt{2}}{2}", "$\\boxed{\\frac{1}{\\sqrt{2}}}$", True),  # rationalised
    ("x^2+2x+1", "$\\boxed{(x+1)^2}$", True),  # factored polynomial
    ("x^2+2x+1", "$\\boxed{(x+1)^3}$", False),  # wrong power
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "$\\boxed{\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}}$", False),  # rows
    ("(1,2)", "$\\boxed{(2,1)}$", False),  # ordered pair reversed
    ("\\{1,2\\}", "$\\boxed{\\{2,1\\}}$", True),  # set order
    ("3", "$\\boxed{3}$ or maybe $\\boxed{5}$", False),  # conflicting boxes
    ("3", "$\\boxed{3, 5}$", False),  # several answers in one box
    ("3", "$\\boxed{9^{9^{9^{9}}}}$", False),  # power tower
    ("3", "$\\boxed{1000000!}$", False),  # huge factorial
    ("\\pi", "$\\boxed{3.14}$", False),  # approximation is not exact
    ("\\text{(C)}", "$\\boxed{C}$", True),  # letter without parentheses
    ("\\text{Evelyn}", "$\\boxed{\\text{Elevyn}}$", False),  # anagram
    ("\\frac{1}{3}", "$\\boxed{0.33}$", False),  # too coarse
    ("30^\\circ", "$\\boxed{30}$", True),  # degrees
    ("1011_2", "$\\boxed{1011_{2}}$", True),  # base subscript
]


def handwritten_cases() -> list[dict]:
    return [{"source": "handwritten", "id": f"hand/{i}", "kind": "handwritten", "gold": g, "completion": c,
             "label": label} for i, (g, c, label) in enumerate(HANDWRITTEN)]


def gsm8k_cases(rows: list[dict], rng: random.Random, n: int) -> list[dict]:
    out = []
    for i, row in enumerate(rng.sample(rows, n)):
        gold = row["answer"].split("####")[-1].strip().replace(",", "")
        v = int(gold)
        forms = [
            ("gsm8k_marker", f"She pays 3 + 4 = 7 first.\n#### {v}", True),
            ("answer_is", f"In total that is {v} dollars. The answer is {v}.", True),
            ("dollar_comma", f"The answer is ${v:,}.", True),
            ("last_number", f"First 2 + 3 = 5, then we get {v} in the end", True),
            ("boxed_units", f"$\\boxed{{{v}\\text{{ apples}}}}$", True),
            ("off_by_one", f"The answer is {v - 1}.", False),
            ("doubled", f"#### {2 * v if v else 1}", False),
        ]
        kind, completion, label = forms[i % len(forms)]
        out.append({"source": "gsm8k", "id": f"gsm8k/test/{i}", "kind": kind, "gold": gold,
                    "completion": completion, "label": label})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gsm8k", type=int, default=210)  # rewritings other than the plain boxed gold: ~120 per kind
    args = ap.parse_args()
    rng = random.Random(args.seed)
    math_rows = [json.loads(x) for x in open(Path(args.data) / "math500" / "test.jsonl")]
    gsm_rows = [json.loads(x) for x in open(Path(args.data) / "gsm8k" / "test.jsonl")]
    by_kind: dict[str, list] = {}
    for c in math_cases(math_rows, rng):
        by_kind.setdefault(c["kind"], []).append(c)
    cases = [c for kind, cs in by_kind.items() for c in (cs if kind == "boxed_gold" else cs[:: max(1, len(cs) // 120)])]
    cases += gsm8k_cases(gsm_rows, rng, args.gsm8k) + handwritten_cases()
    dest = Path(__file__).with_name("math_cases.jsonl")
    dest.write_text("".join(json.dumps(c) + "\n" for c in cases))
    print(f"wrote {len(cases)} cases to {dest}")


if __name__ == "__main__":
    main()
