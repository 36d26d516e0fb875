"""Build the third held-out labelled math set: answer forms and output formats that NONE of build_realistic_math.py,
build_heldout_math.py and build_heldout2_math.py writes.

    python bench/cases/build_heldout3_math.py [--data /work/shared/data] [--seed 3131] [--out FILE.jsonl]

Golds: every MATH-500 `answer` and every GSM8K test gold (text after `#### `), as stored, read from --data. Each
completion is the dataset's worked solution with its final answer taken out, then a final statement built by one
rule of bench/cases/README.md ("The third held-out set"). The label comes only from that rule; no verifier is run
here. The asserts only guard the construction (a form that should keep the value keeps it, a wrong twin changes it);
a failing assert is a generator bug, fixed here, never a relabelling. Deterministic for a given seed.
`build(data, seed)` returns the cases. Rules: R* rewarded, N* not rewarded, Q* "policy" rows, reported apart.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction
from math import comb, factorial
from pathlib import Path

from case_sources import INT, SEPINT, fmt_frac, int_of, items, last_digit_changed, split_top, write_cases

DEC = re.compile(r"^-?\d*\.\d+$")
FRAC = re.compile(r"^(-?)\\[d]?frac\{(\d+)\}\{(\d+)\}$")
BASE = re.compile(r"^([0-9]+)_\{?(\d+)\}?$")  # 52_8, 4210_{5}
DEGREES_GOLD = re.compile(r"^(\d+)\^\\circ$")
PMATRIX = re.compile(r"^\\begin\{pmatrix\}(.*)\\end\{pmatrix\}$", re.S)
COMPLEX = re.compile(r"^(-?\d+)\s*([+-])\s*(\d*)i$")  # 6 - 5i, -2 + 7i, 1+2i
PM = re.compile(r"^(-?\d+)\s*\\pm\s*(\d*\s*\\sqrt\{\d+\})$")  # 1 \pm \sqrt{19}, 3 \pm 2 \sqrt{2}
INTERVAL = re.compile(r"^(?:x \\in )?(\\left)?([(\[])\s*(.+?)\s*,\s*(.+?)\s*(\\right)?([)\]])$")
DEGREE_ASK = re.compile(r"degrees|degree measure")
PERCENT_ASK = re.compile(r"[Ww]hat (?:is the )?percent|percentage chance|as a percentage")
ORDERED_ASK = re.compile(r"ordered|point|coordinates|pair|form \$\(", re.I)
INTERVAL_ASK = re.compile(r"interval notation|range|domain|values of|Solve", re.I)
MINUTES_ASK = re.compile(r"[Hh]ow many minutes")
HOURS_ASK = re.compile(r"[Hh]ow many hours")
GE = "\\ge"
END_TOKENS = ["<|im_end|>", "<|eot_id|>", "<|endoftext|>", "</s>", "<end_of_turn>", "<｜end▁of▁sentence｜>"]
STEP_TITLES = ["Understand the problem", "Set up the computation", "Work through the details", "Combine the results"]


# ---------------------------------------------------------------- small helpers
def frac_of(g: str) -> Fraction | None:
    n = int_of(g)
    if n is not None:
        return Fraction(n)
    if DEC.match(g):
        return Fraction(g)
    m = FRAC.match(g)
    if m and int(m.group(3)):
        return Fraction(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) else 1)
    return None


def fmt_dec(f: Fraction) -> str | None:
    """The exact decimal of a terminating rational, else None."""
    d, k2, k5 = f.denominator, 0, 0
    while d % 2 == 0:
        d, k2 = d // 2, k2 + 1
    while d % 5 == 0:
        d, k5 = d // 5, k5 + 1
    if d != 1:
        return None
    k = max(k2, k5)
    digits = str(int(abs(f) * 10 ** k)).rjust(k + 1, "0")
    s = digits[:-k] + "." + digits[-k:] if k else digits
    assert Fraction(s) == abs(f), (s, f)
    return ("-" if f < 0 else "") + s


def mathy(a: str) -> str:
    """A bare number (digits, a decimal, plain comma groups) as is; anything else as `$a$`."""
    return a if re.fullmatch(r"-?[\d,]*\.?\d+", a) else f"${a}$"


def wrong_value(g: str) -> str | None:
    """W, the wrong value of the output-format twins: gold + 1 for an integer, decimal or fraction (plain digits),
    else the gold with its last digit run + 1 (never an exponent, index, base or text); None where there is none."""
    f = frac_of(g)
    if f is not None:
        w = f + 1
        return fmt_dec(w) if DEC.match(g) else fmt_frac(w)
    return last_digit_changed(g)


def simple_gold(g: str) -> bool:
    """One value: no top-level comma (a list, tuple or interval), no equation, no set membership."""
    return len(split_top(g)) == 1 and "=" not in g and "\\in" not in g and "\\cup" not in g


def last_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip())[-1]


# ---------------------------------------------------------------- output formats (any gold): R1-R6, N1-N6, N19-N21
def steps_of(body: str, source: str) -> str:
    """The body as Llama-3's `## Step k: title` sections (at most 4; paragraphs or GSM8K lines grouped in order)."""
    parts = [p.strip() for p in (body.split("\n\n") if source == "math500" else body.split("\n")) if p.strip()]
    k = min(4, len(parts))
    size = -(-len(parts) // k)
    groups = [parts[i:i + size] for i in range(0, len(parts), size)]
    return "\n\n".join(f"## Step {i + 1}: {STEP_TITLES[i]}\n" + "\n".join(grp) for i, grp in enumerate(groups))


def r1_text(kind: str, body: str, source: str, a: str) -> str:
    if kind == "llama3_steps":
        return f"{steps_of(body, source)}\n\nThe final answer is: $\\boxed{{{a}}}$"
    if kind == "metamath":
        return f"{body}\nThe answer is: {a}"
    return f"{body}\n\n**Therefore, the answer is {mathy(a)}.**"  # bold_sentence (Gemma-style)


def r2_text(kind: str, body: str, a: str) -> str:
    if kind == "trailing_clause":
        return (f"{body}\n\nThus, the number we are looking for is $\\boxed{{{a}}}$ and it satisfies all the conditions "
                f"of the problem.")
    if kind == "equation":
        return f"{body}\n\nPutting this together, $N = \\boxed{{{a}}}$ is the requested value."
    n = int_of(a)
    k = 3 + n % 5  # display_chain: (n - k) + k = \boxed{n}
    return f"{body}\n\nAdding up,\n\\[\n{n - k} + {k} = \\boxed{{{n}}}\n\\]\nwhich is the answer."


R3 = ["{body}\n</think>\n\nThe final answer is **{m}**, as computed above.", "{body}\n</think>\n\nSo the answer is **{m}**."]
R4 = ["{body}\n\nTherefore, the answer is\n\\[\n{a}.\n\\]", "{body}\n\nThe final answer is:\n$$\n{a}\n$$",
      "{body}\n\nSo we obtain\n\\[\n{a}\n\\]\nas the answer."]
R5 = ["{body}\n\nThe answer is $\\boxed{{{a}}}$.", "{body}\n\nThe final answer is ${a}$."]
R6 = ["{body}\n\nI'm fairly confident the answer is $\\boxed{{{a}}}$, but it may be worth double-checking the arithmetic.",
      "{body}\n\nI believe the answer is {m}, though I am not completely sure.",
      "{body}\n\nMy best answer is ${a}$."]
N19 = {"gold_first": "{body}\n\nThe answer is either {m} or {wm}.",
       "wrong_first": "{body}\n\nSo the answer is {wm}, or possibly {m}; I am not sure which."}


def format_cases(it: dict, rng: random.Random) -> list[tuple[str, str, bool]]:
    g, body, src = it["gold"], it["body"], it["source"]
    w = wrong_value(g)
    m, wm = mathy(g), (mathy(w) if w else None)
    n = int_of(g)
    out = []

    def twin(p: float) -> bool:
        return w is not None and rng.random() < p

    if rng.random() < 0.28:  # R1 / N1: model-family final lines
        kind = rng.choice(["llama3_steps", "metamath", "bold_sentence"])
        out.append((f"R1_model_final_line+{kind}", r1_text(kind, body, src, g), True))
        if twin(0.35):
            kind = rng.choice(["llama3_steps", "metamath", "bold_sentence"])
            out.append((f"N1_model_final_line_wrong+{kind}", r1_text(kind, body, src, w), False))
    if rng.random() < 0.22:  # R2 / N2: a box inside a sentence, an equation or a display chain
        kinds = ["trailing_clause"] + (["equation"] if simple_gold(g) and "\\text" not in g else []) + \
            (["display_chain"] if n is not None and abs(n) >= 10 else [])
        kind = rng.choice(kinds)
        out.append((f"R2_box_mid_sentence+{kind}", r2_text(kind, body, g), True))
        if twin(0.35):
            kind = "display_chain" if kind == "display_chain" else rng.choice(kinds[:2])
            out.append((f"N2_box_mid_sentence_wrong+{kind}", r2_text(kind, body, w), False))
    if rng.random() < 0.2:  # R3 / N3: R1-distill trace (no opening <think>), answer bold inside a sentence
        i = rng.randrange(len(R3))
        out.append((f"R3_close_think_bold+t{i}", R3[i].format(body=body, m=m), True))
        if twin(0.35):
            i = rng.randrange(len(R3))
            out.append((f"N3_close_think_bold_wrong+t{i}", R3[i].format(body=body, m=wm), False))
    if rng.random() < 0.16:  # R4 / N4: an unboxed display block after the statement
        i = rng.randrange(len(R4))
        out.append((f"R4_display_unboxed+t{i}", R4[i].format(body=body, a=g), True))
        if twin(0.35):
            i = rng.randrange(len(R4))
            out.append((f"N4_display_unboxed_wrong+t{i}", R4[i].format(body=body, a=w), False))
    if rng.random() < 0.16:  # R5 / N5: a chat template's end-of-turn token after the answer
        tok, sep = rng.choice(END_TOKENS), rng.choice(["", "\n"])
        out.append(("R5_end_of_turn_token", rng.choice(R5).format(body=body, a=g) + sep + tok, True))
        if twin(0.35):
            out.append(("N5_end_of_turn_token_wrong", rng.choice(R5).format(body=body, a=w) + sep + tok, False))
    if rng.random() < 0.1:  # R6 / N6: one value stated with a confidence qualifier
        i = rng.randrange(len(R6))
        out.append((f"R6_confident_single+t{i}", R6[i].format(body=body, a=g, m=m), True))
        if twin(0.4):
            i = rng.randrange(len(R6))
            out.append((f"N6_confident_single_wrong+t{i}", R6[i].format(body=body, a=w, m=wm), False))
    if w is not None and simple_gold(g) and rng.random() < 0.1:  # N19: two values offered
        kind = rng.choice(sorted(N19))
        out.append((f"N19_two_value_hedge+{kind}", N19[kind].format(body=body, m=m, wm=wm), False))
    if rng.random() < 0.08:  # N20: the text ends inside an unclosed \boxed{
        digits = str(abs(n)) if n is not None else None
        if digits and len(digits) >= 2 and rng.random() < 0.5:
            cut, kind = ("-" if n < 0 else "") + digits[:-1], "partial"
        elif n is None and len(g) >= 4 and rng.random() < 0.5:
            cut, kind = g[:len(g) // 2], "partial"
        else:
            cut, kind = g, "complete"
        assert kind == "complete" or cut != g
        out.append((f"N20_unclosed_box+{kind}", f"{body}\n\nTherefore, the answer is $\\boxed{{{cut}", False))
    if rng.random() < 0.08:  # N21: the text ends inside the final number / fraction
        fm = FRAC.match(g)
        if n is not None and abs(n) >= 10:
            cut = str(n)[:-1]
            assert int(cut) != n
            out.append(("N21_cut_mid_answer+number", f"{body}\n\nSo the answer is {cut}", False))
        elif fm:
            out.append(("N21_cut_mid_answer+fraction", f"{body}\n\nSo the answer is ${fm.group(1)}\\frac{{{fm.group(2)}}}{{",
                        False))
    return out


# ---------------------------------------------------------------- answer forms (specific golds): R7-R18, N7-N18, N22
# (rule, form, label, style); style: "both" = once boxed and once stated, "one" = one of them, "plain" = boxed or a
# plain-text sentence (no $...$).
def degree_forms(g: str, problem: str, source: str) -> list:
    """R7 / N7: a degree mark on a degree answer; the supplementary angle as the twin."""
    m = DEGREES_GOLD.match(g)
    if m:
        v, forms = int(m.group(1)), [f"{m.group(1)}\\degree", f"{m.group(1)}\\,^{{\\circ}}", f"{m.group(1)}^\\circ\\!"]
    elif source == "math500" and INT.match(g) and DEGREE_ASK.search(problem) and not re.search(r"degree of|of degree",
                                                                                                  problem):
        v, forms = int(g), [f"{g}^\\circ", f"{g}^{{\\circ}}", f"{g}\\degree", f"{g} \\text{{ degrees}}"]
    else:
        return []
    out = [("R7_degree_mark", f, True, "one") for f in forms]
    if 0 < v < 180 and v != 90:
        out.append(("N7_supplementary_angle", f"{180 - v}^\\circ", False, "both"))
    if not m:
        out.append(("R7_degree_mark", f"{v}°", True, "plain"))
    return out


def base_forms(g: str) -> list:
    """R8 / N8: a based number in other notations; its digits reversed (remainders read the wrong way) as the twin."""
    m = BASE.match(g)
    if not m:
        return []
    d, b = m.groups()
    out = [("R8_base_notation", f"({d})_{{{b}}}", True, "both"), ("R8_base_notation", f"{d}_{{({b})}}", True, "both"),
           ("R8_base_notation", f"\\text{{{d}}}_{{{b}}}", True, "one"),
           ("R8_base_notation", f"{d} in base {b}", True, "plain")]
    r = d[::-1].lstrip("0")
    if int(r, int(b)) != int(d, int(b)):
        out.append(("N8_reversed_digits", f"{r}_{{{b}}}", False, "both"))
    return out


def vector_forms(g: str) -> list:
    """R9 / N9: a pmatrix gold in matrix-in-parentheses form; a column vector as a tuple or angle brackets;
    N9: the first two entries swapped (tuple form) or the last entry + 1 (matrix form)."""
    m = PMATRIX.match(g)
    if not m:
        return []
    rows = [[Fraction(c.strip()) for c in r.split("&")] for r in m.group(1).split("\\\\")]
    tex = [[fmt_frac(c) for c in r] for r in rows]
    mat = " \\\\ ".join(" & ".join(r) for r in tex)
    out = [("R9_vector_notation", f"\\left(\\begin{{matrix}} {mat} \\end{{matrix}}\\right)", True, "both")]
    if all(len(r) == 1 for r in rows):
        ent = [r[0] for r in tex]
        out += [("R9_vector_notation", "(" + ", ".join(ent) + ")", True, "both"),
                ("R9_vector_notation", "\\langle " + ", ".join(ent) + " \\rangle", True, "both")]
        if rows[0][0] != rows[1][0]:
            sw = [ent[1], ent[0]] + ent[2:]
            out.append(("N9_vector_order", "\\langle " + ", ".join(sw) + " \\rangle", False, "both"))
    else:
        wr = [r[:] for r in rows]
        wr[-1][-1] += 1
        wmat = " \\\\ ".join(" & ".join(fmt_frac(c) for c in r) for r in wr)
        out.append(("N9_vector_order", f"\\left(\\begin{{matrix}} {wmat} \\end{{matrix}}\\right)", False, "both"))
    return out


def pm_forms(g: str) -> list:
    """R10 / N10: `a \\pm r` as `a \\mp r` or `\\pm r + a` (the same two values); `r \\pm a`, `-a \\pm r` are not."""
    inner = g[2:-2] if g.startswith("\\{") and g.endswith("\\}") else None
    if inner is not None:  # \{1\pm\sqrt{5},-2\}
        parts = split_top(inner)
        if len(parts) == 2 and "\\pm" in parts[0]:
            a, r = (x.strip() for x in parts[0].split("\\pm"))
            return [("R10_pm_rewrite", f"\\{{{parts[1]}, {a} \\mp {r}\\}}", True, "both"),
                    ("N10_pm_other", f"\\{{{r} \\pm {a}, {parts[1]}\\}}", False, "both")]
        return []
    m = PM.match(g)
    if not m:
        return []
    a, r = m.group(1), m.group(2).strip()
    na = a[1:] if a.startswith("-") else f"-{a}"
    return [("R10_pm_rewrite", f"{a} \\mp {r}", True, "both"), ("R10_pm_rewrite", f"\\pm {r} + {a}", True, "both"),
            ("N10_pm_other", f"{r} \\pm {a}", False, "both"), ("N10_pm_other", f"{na} \\pm {r}", False, "both")]


def percent_forms(g: str, problem: str, source: str) -> list:
    """R11 / N11 / Q5 on a GSM8K gold whose question asks for a percentage."""
    n = int_of(g)
    if source != "gsm8k" or n is None or n <= 0 or not PERCENT_ASK.search(last_sentence(problem)) or \
            re.search(r"how many|temperature", last_sentence(problem), re.I):
        return []
    frac = fmt_dec(Fraction(n, 100))
    assert Fraction(frac) != n
    return [("R11_percent_sign", f"{n}\\%", True, "both"), ("R11_percent_sign", f"{n} \\text{{ percent}}", True, "one"),
            ("R11_percent_sign", f"{n}%", True, "plain"), ("R11_percent_sign", f"{n} percent", True, "plain"),
            ("N11_percent_of_fraction", f"{frac}\\%", False, "both"),
            ("Q5_percent_as_fraction", frac, False, "plain")]


def sci_forms(g: str, rng: random.Random) -> list:
    """R12 / N12: the exact value in `\\cdot 10^{k}`, `\\times 10^k` (no braces), unicode `×10^k` or `e` notation."""
    v = frac_of(g)
    if v is None or v == 0 or (INT.match(g) is None and SEPINT.match(g) is None and DEC.match(g) is None):
        return []
    if not (abs(v) >= 1000 or abs(v) < Fraction(1, 100)) or rng.random() > 0.3:
        return []
    k = 0
    while abs(v) >= 10 ** (k + 1):
        k += 1
    while abs(v) < Fraction(10) ** k:
        k -= 1
    mant = fmt_dec(abs(v) / Fraction(10) ** k)
    assert Fraction(mant) * Fraction(10) ** k == abs(v) and 1 <= Fraction(mant) < 10, (g, mant, k)
    sg = "-" if v < 0 else ""
    forms = [f"{sg}{mant} \\cdot 10^{{{k}}}"] + ([f"{sg}{mant} \\times 10^{k}"] if 0 <= k <= 9 else [])
    out = [("R12_sci_notation", rng.choice(forms), True, "one"),
           ("R12_sci_notation", f"{sg}{mant}e{k}", True, "plain"),
           ("R12_sci_notation", f"{sg}{mant}×10^{k}", True, "plain")]
    out.append(("N12_sci_exponent", f"{sg}{mant} \\cdot 10^{{{k + 1}}}", False, "one"))
    return out


def unevaluated_forms(g: str, source: str, rng: random.Random) -> list:
    """R13 / N13 (MATH golds): an integer as `\\binom{n}{k}`, `n!` or `\\log_2 2^k`; a fraction p/q as `p \\div q`."""
    out = []
    n = int_of(g)
    if source == "math500" and n is not None and n >= 6 and rng.random() < 0.45:
        for nn in range(4, 31):
            ks = [k for k in range(2, nn // 2 + 1) if comb(nn, k) == n]
            if ks:
                k = ks[0]
                wk = k + 1 if comb(nn, k + 1) != n else k - 1
                assert comb(nn, wk) != n
                out += [("R13_unevaluated", f"\\binom{{{nn}}}{{{k}}}", True, "one"),
                        ("N13_unevaluated_other", f"\\binom{{{nn}}}{{{wk}}}", False, "one")]
                break
        f = [j for j in range(3, 11) if factorial(j) == n]
        if f:
            out += [("R13_unevaluated", f"{f[0]}!", True, "both"), ("N13_unevaluated_other", f"{f[0] + 1}!", False, "both")]
    if source == "math500" and n is not None and 2 <= n <= 10 and rng.random() < 0.3:
        out += [("R13_unevaluated", f"\\log_2 {2 ** n}", True, "one"),
                ("N13_unevaluated_other", f"\\log_2 {2 ** (n + 1)}", False, "one")]
    m = FRAC.match(g)
    if m and not m.group(1) and rng.random() < 0.4:
        p, q = m.group(2), m.group(3)
        out.append(("R13_unevaluated", f"{p} \\div {q}", True, "one"))
        if p != q:
            out.append(("N13_unevaluated_other", f"{q} \\div {p}", False, "one"))
    return out


def expansion(f: Fraction) -> tuple[int, str, str] | None:
    """(whole, pre-period digits, period) of a positive non-terminating rational with a period of at most 6."""
    whole, rem, digits, seen = f.numerator // f.denominator, f.numerator % f.denominator, [], {}
    while rem and rem not in seen and len(digits) < 16:
        seen[rem] = len(digits)
        rem *= 10
        digits.append(str(rem // f.denominator))
        rem %= f.denominator
    if not rem or rem not in seen or len(digits) - seen[rem] > 6:
        return None
    i = seen[rem]
    return whole, "".join(digits[:i]), "".join(digits[i:])


def rep_value(whole: int, pre: str, per: str) -> Fraction:
    return whole + (Fraction(int(pre + per) - int(pre or "0"), 10 ** len(pre) * (10 ** len(per) - 1)))


def repeating_forms(g: str) -> list:
    """R14 / N14 / Q6 on a fraction gold with a repeating decimal: dot notation, a period started one digit later;
    the last period digit changed; Q6: `0.(3)` and `0.333\\ldots`."""
    v = frac_of(g)
    if v is None or v.denominator == 1 or not FRAC.match(g) or (e := expansion(abs(v))) is None:
        return []
    whole, pre, per = e
    sg = "-" if v < 0 else ""
    assert rep_value(whole, pre, per) == abs(v)
    dots = f"\\dot{{{per}}}" if len(per) == 1 else f"\\dot{{{per[0]}}}{per[1:-1]}\\dot{{{per[-1]}}}"
    later = (pre + per[0], per[1:] + per[0])
    assert rep_value(whole, *later) == abs(v)
    wper = per[:-1] + str((int(per[-1]) + 1) % 10)
    if set(wper) == {"9"} or set(wper) == {"0"}:
        wper = per[:-1] + str((int(per[-1]) + 3) % 10)
    assert rep_value(whole, pre, wper) != abs(v)
    rep = (per * (1 + 6 // len(per)))
    return [("R14_repeating_notation", f"{sg}{whole}.{pre}{dots}", True, "both"),
            ("R14_repeating_notation", f"{sg}{whole}.{later[0]}\\overline{{{later[1]}}}", True, "both"),
            ("N14_repeating_other", f"{sg}{whole}.{pre}\\overline{{{wper}}}", False, "both"),
            ("Q6_repeating_paren_ellipsis", f"{sg}{whole}.{pre}({per})", True, "one"),
            ("Q6_repeating_paren_ellipsis", f"{sg}{whole}.{pre}{rep}\\ldots", True, "one")]


def complex_forms(g: str) -> list:
    """R15 / N15: `a + bi` as `a + (±b)i` or with `\\mathrm{i}`; real and imaginary parts swapped as the twin."""
    m = COMPLEX.match(g.replace(" ", ""))
    if not m:
        return []
    a, sg, b = m.group(1), m.group(2), m.group(3) or "1"
    bb = f"-{b}" if sg == "-" else b
    out = [("R15_complex_notation", f"{a} + ({bb})i", True, "both"),
           ("R15_complex_notation", f"{a} {sg} {b}\\mathrm{{i}}", True, "both")]
    if int(a) != int(bb):
        sa = "-" if a.startswith("-") else "+"
        out.append(("N15_complex_swapped", f"{bb} {sa} {a.lstrip('-')}i", False, "both"))
    return out


def thousands_forms(g: str, rng: random.Random) -> list:
    """R16 / N16 / Q7: an integer >= 1000 grouped with a plain space or `\\ `; n + 1 so; `1.509` (European dots)."""
    n = int_of(g)
    if n is None or abs(n) < 1000 or rng.random() > 0.3:
        return []
    sg, s = ("-" if n < 0 else ""), f"{abs(n):,}"
    sp = rng.choice([" ", "\\ "])
    style = "one" if sp == "\\ " else "plain"
    out = [("R16_space_thousands", sg + s.replace(",", sp), True, style),
           ("N16_space_thousands_other", sg + f"{abs(n) + 1:,}".replace(",", sp), False, style)]
    if rng.random() < 0.5:
        out.append(("Q7_european_thousands", sg + s.replace(",", "."), False, "plain"))
    return out


def money_gold(g: str, source: str, body: str) -> bool:
    """A GSM8K gold that is an amount of money: the last mention of its number in the worked solution is `$<n>`."""
    n = int_of(g)
    if source != "gsm8k" or n is None or n <= 0:
        return False
    text = re.sub(r"(?<=\d),(?=\d{3})", "", body)
    hits = list(re.finditer(rf"(?<![\d.]){n}(?![\d])", text))
    return bool(hits) and text[:hits[-1].start()].rstrip().endswith("$")


def money_forms(g: str, source: str, body: str, rng: random.Random) -> list:
    """R17 / N17 / Q9 / N22 on a GSM8K money gold: a currency code; a decimal slip (n/10 dollars); the amount in
    cents (Q9); a wrong conversion to cents (10n cents, N22)."""
    if not money_gold(g, source, body) or rng.random() > 0.2:
        return []
    n = int_of(g)
    slip = fmt_dec(Fraction(n, 10))
    slip = slip + "0" if "." in slip and len(slip.split(".")[1]) == 1 else slip + ".00" if "." not in slip else slip
    assert Fraction(slip) != n
    out = [("R17_currency_code", f"{n} \\text{{ USD}}", True, "one"), ("R17_currency_code", f"USD {n}", True, "plain"),
           ("R17_currency_code", f"\\text{{US}}\\${n}", True, "one"),
           ("N17_decimal_slip", f"\\${slip}", False, "one")]
    if rng.random() < 0.4:
        out += [("Q9_other_unit+cents", f"{100 * n} \\text{{ cents}}", True, "one"),
                ("N22_wrong_unit_conversion+cents", f"{10 * n} \\text{{ cents}}", False, "one")]
    return out


def time_forms(g: str, problem: str, source: str) -> list:
    """Q9 / N22 on a GSM8K minutes or hours gold: the same duration in the other unit; a wrong conversion (x100)."""
    n = int_of(g)
    if source != "gsm8k" or n is None or n <= 0:
        return []
    q = last_sentence(problem)
    if HOURS_ASK.search(q):
        return [("Q9_other_unit+minutes", f"{60 * n} \\text{{ minutes}}", True, "one"),
                ("N22_wrong_unit_conversion+minutes", f"{100 * n} \\text{{ minutes}}", False, "one")]
    if MINUTES_ASK.search(q) and n % 15 == 0:
        h = fmt_dec(Fraction(n, 60))
        wrong = fmt_dec(Fraction(n, 100))
        assert Fraction(h) * 60 == n and Fraction(wrong) * 60 != n
        return [("Q9_other_unit+hours", f"{h} \\text{{ hours}}", True, "one"),
                ("N22_wrong_unit_conversion+hours", f"{wrong} \\text{{ hours}}", False, "one")]
    return []


def intervals(g: str) -> list[tuple[str, str, str, str]] | None:
    """A gold interval or union of intervals as (left bracket, lo, hi, right bracket) pieces."""
    out = []
    for part in g.split("\\cup"):
        m = INTERVAL.match(part.strip())
        if not m:
            return None
        out.append((m.group(2), m.group(3).strip(), m.group(4).strip(), m.group(6)))
    return out


def interval_forms(g: str, problem: str) -> list:
    """R18 / N18 / Q8 on an interval gold (the problem asks interval notation, a range, a domain, or holds \\infty /
    \\cup): set-builder form; one finite end's strictness flipped; ISO notation with reversed brackets."""
    if not ("\\infty" in g or "\\cup" in g or INTERVAL_ASK.search(problem)) or ORDERED_ASK.search(problem):
        return []
    ivs = intervals(g)
    if not ivs:
        return []

    def ineq(lb, lo, hi, rb, flip=False):
        lop, hop = ("<" if lb == "(" else "\\le"), ("<" if rb == ")" else "\\le")
        if flip and "infty" not in lo:
            lop = "\\le" if lop == "<" else "<"
        elif flip:
            hop = "\\le" if hop == "<" else "<"
        if "infty" in lo:
            return f"x {hop} {hi}"
        if "infty" in hi:
            return f"x {'>' if lop == '<' else GE} {lo}"
        return f"{lo} {lop} x {hop} {hi}"
    if any("infty" in lo and "infty" in hi for _, lo, hi, _ in ivs):
        return []
    good = " \\text{ or } ".join(ineq(*iv) for iv in ivs)
    bad = " \\text{ or } ".join(ineq(*iv, flip=(i == 0)) for i, iv in enumerate(ivs))
    assert good != bad
    iso = " \\cup ".join(f"{']' if lb == '(' else '['}{lo}, {hi}{'[' if rb == ')' else ']'}" for lb, lo, hi, rb in ivs)
    return [("R18_set_builder", f"\\{{x \\mid {good}\\}}", True, "both"),
            ("R18_set_builder", f"\\{{x \\in \\mathbb{{R}} : {good}\\}}", True, "both"),
            ("N18_set_builder_strictness", f"\\{{x \\mid {bad}\\}}", False, "both")] + \
        ([("Q8_iso_interval", iso, True, "both")] if any(lb + rb != "[]" for lb, _, _, rb in ivs) else [])


# ---------------------------------------------------------------- policy formats (Q1-Q4)
def policy_cases(it: dict, rng: random.Random, others: list[dict]) -> list[tuple[str, str, bool]]:
    g, body, problem = it["gold"], it["body"], it["problem"]
    out = []
    if rng.random() < 0.05:  # Q1: the answer only inside a ```latex / ```math fence
        if rng.random() < 0.5:
            out.append(("Q1_latex_fence+latex", f"{body}\n\nThe final answer:\n```latex\n\\boxed{{{g}}}\n```", True))
        else:
            out.append(("Q1_latex_fence+math", f"{body}\n\nFinal answer:\n```math\n{g}\n```", True))
    tup = re.match(r"^(\\left)?\(.*(\\right)?\)$", g) is not None
    inner = re.sub(r"^(\\left)?\(\s*|\s*(\\right)?\)$", "", g) if tup else \
        g[2:-2] if g.startswith("\\{") and g.endswith("\\}") else g
    parts = split_top(inner)
    if len(parts) >= 2 and not SEPINT.match(g) and not re.search(r"\\\$|,\\!|\\infty|\\left\[|\\right\]|^\[|\]$", g) \
            and inner.count("(") == inner.count(")"):
        if tup:  # Q2: each entry of an ordered tuple boxed apart
            if not ORDERED_ASK.search(problem) or INTERVAL_ASK.search(problem):
                return out
            names = ["first", "second", "third", "fourth", "fifth"]
            said = ", ".join(f"the {names[i]} entry is $\\boxed{{{x}}}$" for i, x in enumerate(parts[:-1]))
            out.append(("Q2_boxed_parts+tuple", f"{body}\n\nSo {said} and the {names[len(parts) - 1]} entry is "
                                                  f"$\\boxed{{{parts[-1]}}}$.", True))
        elif "(" not in g:
            boxes = ", ".join(f"$\\boxed{{{x}}}$" for x in parts[:-1]) + f" and $\\boxed{{{parts[-1]}}}$"
            out.append(("Q2_boxed_parts+list", f"{body}\n\nThe solutions are {boxes}.", True))
    if rng.random() < 0.04:  # Q3: the answer, then the model goes on to another problem with its own box
        o = rng.choice([x for x in others if x["gold"] != g])
        out.append(("Q3_next_problem_after_answer", f"{body}\n\nThe answer is $\\boxed{{{g}}}$.\n\nProblem:\n"
                                                    f"{o['problem']}\n\nSolution:\n{o['body']}\n\nThe answer is "
                                                    f"$\\boxed{{{o['gold']}}}$.", True))
    if rng.random() < 0.04:  # Q4: the boxed answer is withdrawn and nothing replaces it
        out.append(("Q4_retracted_no_replacement", f"{body}\n\nSo the answer is $\\boxed{{{g}}}$.\n\nWait, that cannot "
                                                   f"be right: checking it against the conditions of the problem "
                                                   f"fails, and I cannot find the mistake. I do not have a final "
                                                   f"answer.", False))
    return out


# ---------------------------------------------------------------- assembly
BOXED = ["{body}\n\nHence, the answer is $\\boxed{{{a}}}$.", "{body}\n\nWe conclude that the answer is $\\boxed{{{a}}}$."]
STATED = ["{body}\n\nTherefore, the answer is ${a}$.", "{body}\n\nOur final answer is ${a}$."]
PLAIN = ["{body}\n\nThe answer is {a}.", "{body}\n\nFinal answer: {a}"]


def cases_for(it: dict, rng: random.Random, others: list[dict]) -> list[dict]:
    g, body, problem, src = it["gold"], it["body"], it["problem"], it["source"]
    rows = []

    def add(rule, completion, label):
        rows.append({"source": src, "id": it["id"], "gold": g, "rule": rule, "completion": completion, "label": label})

    forms = (degree_forms(g, problem, src) + base_forms(g) + vector_forms(g) + pm_forms(g)
             + percent_forms(g, problem, src) + sci_forms(g, rng) + unevaluated_forms(g, src, rng)
             + repeating_forms(g) + complex_forms(g) + thousands_forms(g, rng) + money_forms(g, src, body, rng)
             + time_forms(g, problem, src) + interval_forms(g, problem))
    seen = set()
    for rule, a, label, style in forms:
        if (rule, a) in seen or a == g:
            continue
        seen.add((rule, a))
        base, _, sub = rule.partition("+")
        if style == "both":
            tpls = [("boxed", rng.choice(BOXED)), ("stated", rng.choice(STATED))]
        elif style == "one":
            tpls = [rng.choice([("boxed", rng.choice(BOXED)), ("stated", rng.choice(STATED))])]
        else:
            tpls = [("plain", rng.choice(PLAIN))]
        for name, tpl in tpls:
            add(f"{base}+{(sub + '_') if sub else ''}{name}", tpl.format(body=body, a=a), label)
    for rule, completion, label in format_cases(it, rng) + policy_cases(it, rng, others):
        add(rule, completion, label)
    return rows


def build(data: str | Path = "/work/shared/data", seed: int = 3131) -> list[dict]:
    rng = random.Random(seed)
    its = items(Path(data))
    by_source = {s: [x for x in its if x["source"] == s] for s in ("math500", "gsm8k")}
    return [c for it in its for c in cases_for(it, rng, by_source[it["source"]])]


if __name__ == "__main__":
    write_cases(build, seed=3131, width=34)
