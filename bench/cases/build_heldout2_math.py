"""Build the second held-out labelled math set: answer forms and output formats that NEITHER build_realistic_math.py
NOR build_heldout_math.py writes.

    python bench/cases/build_heldout2_math.py [--data /work/shared/data] [--seed 9090] [--out FILE.jsonl]

Golds: every MATH-500 `answer` and every GSM8K test gold (text after `#### `), as stored, read from --data. Each
completion is the dataset's worked solution with its final answer taken out, then a final statement built by one
rule of bench/cases/README.md ("The second held-out set"). The label comes only from that rule; no verifier is run
here. The few asserts only guard the construction (a form that should keep the value keeps it, a wrong twin changes
it); a failing assert is a generator bug, fixed here, never a relabelling. Deterministic for a given seed.
`build(data, seed)` returns the cases. Rules named Q* are "policy" rows, reported apart.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction
from pathlib import Path

from case_sources import INT, SEPINT, fmt_frac, int_of, items, last_digit_changed, split_top, write_cases

FRAC = re.compile(r"^(-?)\\[d]?frac\{(\d+)\}\{(\d+)\}$")
NEG_FRAC = re.compile(r"^-\\frac\{(\d+|\\pi)\}\{(\d+)\}$")  # -\frac{35}{9}, -\frac{\pi}{6}
SQRT_ANY = re.compile(r"(?:(\d+)\s*)?\\sqrt\s*\{?(\d+)\}?")  # 3\sqrt{13}, 11\sqrt2, 70 \sqrt{2}
LONE_SQRT = re.compile(r"^(-?)(\d*)\s*\\sqrt\{?(\d+)\}?$")
PMATRIX = re.compile(r"^\\begin\{pmatrix\}(.*)\\end\{pmatrix\}$", re.S)
WORD = re.compile(r"^\\text\{([A-Za-z]+)\}$")
SOLUTION_WORDS = re.compile(r"roots|solutions|separated by commas|unordered set", re.I)
UNIT_ASK = re.compile(r"(?:[Hh]ow many|in|[Ee]xpress your answer in) (square|cubic) (units|feet|inches|centimeters|"
                      r"meters|yards)")
UNIT_GOLD = re.compile(r"^(\d+)\s*\\mbox\{ (inches|cm)\}\^2$")

SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
VULGAR = {Fraction(1, 2): "½", Fraction(1, 3): "⅓", Fraction(2, 3): "⅔", Fraction(1, 4): "¼", Fraction(3, 4): "¾",
          Fraction(1, 5): "⅕", Fraction(2, 5): "⅖", Fraction(3, 5): "⅗", Fraction(4, 5): "⅘", Fraction(1, 6): "⅙",
          Fraction(5, 6): "⅚", Fraction(1, 7): "⅐", Fraction(1, 8): "⅛", Fraction(3, 8): "⅜", Fraction(5, 8): "⅝",
          Fraction(7, 8): "⅞", Fraction(1, 9): "⅑", Fraction(1, 10): "⅒"}
VULGAR_ORDER = list(VULGAR)
UNIT_ABBR = {"units": "units", "feet": "ft", "inches": "in", "centimeters": "cm", "meters": "m", "yards": "yd"}
SPACES = {"U+202F": "\u202f", "U+2009": "\u2009", "U+00A0": "\u00a0"}
OTHER_WORD = {"east": "west", "even": "odd", "ellipse": "hyperbola", "Evelyn": "Navin", "Navin": "Evelyn"}

# ---------------------------------------------------------------- final-statement templates
BOXED = ["{body}\n\nTherefore, the final answer is $\\boxed{{{a}}}$.", "{body}\n\nThe answer is \\(\\boxed{{{a}}}\\)."]
STATED = ["{body}\n\nThe final answer is ${a}$.", "{body}\n\nSo the answer is ${a}$."]
PLAIN = ["{body}\n\nThe answer is {a}.", "{body}\n\nFinal answer: {a}"]  # unicode forms, no LaTeX
LANG = {  # P14: the final statement in another language ({a}: as stored, {m}: bare number or $gold$)
    "zh": ["{body}\n\n答案是 ${a}$。", "{body}\n\n因此，最终答案为 $\\boxed{{{a}}}$。", "{body}\n\n所以答案是 {m}。"],
    "es": ["{body}\n\nLa respuesta es ${a}$.", "{body}\n\nPor lo tanto, la respuesta final es $\\boxed{{{a}}}$."],
    "de": ["{body}\n\nDie Antwort ist {m}.", "{body}\n\nAlso ist das Ergebnis $\\boxed{{{a}}}$."],
    "fr": ["{body}\n\nLa réponse est ${a}$.", "{body}\n\nDonc la réponse finale est {m}."],
    "ru": ["{body}\n\nОтвет: ${a}$.", "{body}\n\nИтак, ответ: $\\boxed{{{a}}}$."],
    "ja": ["{body}\n\n答えは ${a}$ です。"],
    "pt": ["{body}\n\nPortanto, a resposta é {m}."],
}
THINK_BOX_WRONG = ("<think>\n{body}\n\nHmm, so is it $\\boxed{{{w}}}$? Let me double-check that step.\n\nNo, I made an "
                   "arithmetic slip there; redoing it gives a different value.\n</think>\n\n")
THINK_BOX_GOLD = ("<think>\n{body}\n\nSo far I get $\\boxed{{{a}}}$, but let me verify.\n\nActually there is an error in "
                  "an earlier step; fixing it changes the result.\n</think>\n\n")
AFTER_THINK = {"boxed": "The answer is $\\boxed{{{x}}}$.", "stated": "**Final answer:** {xm}",
               "answer_tag": "<answer>{x}</answer>"}


# ---------------------------------------------------------------- small helpers
def frac_of(g: str) -> Fraction | None:
    n = int_of(g)
    if n is not None:
        return Fraction(n)
    m = FRAC.match(g)
    if m and int(m.group(3)):
        return Fraction(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) else 1)
    return None


def grouped(n: int, sep: str) -> str:
    return ("-" if n < 0 else "") + f"{abs(n):,}".replace(",", sep)


def mathy(a: str) -> str:
    return a if int_of(a) is not None or re.fullmatch(r"-?\d*\.\d+", a) else f"${a}$"


def wrong_value(g: str) -> str | None:
    """A close wrong answer for the format families: gold + 1 for a number (same notation), else the last digit run
    of the gold + 1 (never an exponent, index or base)."""
    n = int_of(g)
    if n is not None:
        return grouped(n + 1, ",") if SEPINT.match(g) else str(n + 1)
    f = frac_of(g)
    if f is not None:
        return fmt_frac(f + 1)
    return last_digit_changed(g)


def perfect_powers(n: int) -> list[tuple[int, int]]:
    """All (b, k) with b >= 2, k >= 2 and b**k == n (n >= 4)."""
    out = []
    for k in range(2, n.bit_length() + 1):
        b = round(n ** (1 / k))
        for c in (b - 1, b, b + 1):
            if c >= 2 and c ** k == n:
                out.append((c, k))
    return out


def sup_exponents(g: str) -> str:
    """x^2 -> x², x^{10} -> x¹⁰ (only plain integer exponents)."""
    return re.sub(r"\^\{?(\d+)\}?", lambda k: k.group(1).translate(SUP), g)


# ---------------------------------------------------------------- form families: (rule, form, label, style)
# style: "both" = once boxed and once stated; "one" = one of boxed / stated; "plain" = a unicode form, boxed or
# in a plain-text sentence.
def power_forms(g: str, rng: random.Random) -> list[tuple[str, str, bool, str]]:
    """P1 / X1: an integer gold +-b^k written as a power; P2 / X1: the same with unicode superscripts."""
    n = int_of(g)
    if n is None or abs(n) < 8 or not (reps := perfect_powers(abs(n))) or rng.random() < 0.35:
        return []
    b, k = rng.choice(reps)
    sg = "-" if n < 0 else ""
    out = [("P1_power_value", f"{sg}{b}^{{{k}}}", True, "one")]
    if k < 10 and rng.random() < 0.5:
        out.append(("P1_power_value", f"{sg}{b}^{k}", True, "one"))
    if n < 0 and k % 2 == 1:
        out.append(("P1_power_value", f"(-{b})^{{{k}}}", True, "one"))  # (-5)^3 = -125
    if n < 0 and k % 2 == 0:
        out.append(("X1_wrong_power", f"(-{b})^{{{k}}}", False, "one"))  # (-3)^2 = 9, not -9
    kk = k + 1 if k == 2 or rng.random() < 0.5 else k - 1
    assert b ** kk != abs(n)
    out.append(("X1_wrong_power", f"{sg}{b}^{{{kk}}}", False, "one"))
    if rng.random() < 0.5:
        out.append(("P2_unicode_superscript", f"{sg}{b}{str(k).translate(SUP)}", True, "plain"))
        out.append(("X1_wrong_power", f"{sg}{b}{str(kk).translate(SUP)}", False, "plain"))
    return out


def superscript_forms(g: str) -> list[tuple[str, str, bool, str]]:
    """P2 / X1 on polynomial golds (x^5 - x^4 ...) and unit golds (15\\mbox{ cm}^2)."""
    out = []
    if re.search(r"\^\d", g) and not re.search(r"\\", g):
        out.append(("P2_unicode_superscript", sup_exponents(g), True, "plain"))
        m = re.search(r"\^\{?(\d+)\}?", g)  # the first exponent + 1
        wrong = g[:m.start()] + f"^{int(m.group(1)) + 1}" + g[m.end():]
        out.append(("X1_wrong_power", sup_exponents(wrong), False, "plain"))
    m = UNIT_GOLD.match(g)
    if m:
        out.append(("P2_unicode_superscript", f"{m.group(1)} {m.group(2)}²", True, "plain"))
        out.append(("X1_wrong_power", f"{m.group(1)} {m.group(2)}³", False, "plain"))
    return out


def radical_forms(g: str, source: str, rng: random.Random) -> list[tuple[str, str, bool, str]]:
    """P3 rational exponents, P4 explicit / other root index, X2 a wrong root."""
    out = []
    if SQRT_ANY.search(g) and "\\text" not in g:
        def half(k, e):
            c, r = k.group(1), k.group(2)
            return (f"{c} \\cdot " if c else "") + f"{r}^{{{e}}}"
        out.append(("P3_rational_exponent", SQRT_ANY.sub(lambda k: half(k, "1/2"), g), True, "both"))
        out.append(("P3_rational_exponent", SQRT_ANY.sub(lambda k: half(k, "\\frac{1}{2}"), g), True, "both"))
        out.append(("P4_root_index", SQRT_ANY.sub(lambda k: f"{k.group(1) or ''}\\sqrt[2]{{{k.group(2)}}}", g), True,
                    "both"))
        m = LONE_SQRT.match(g)
        if m and int(m.group(3)) > 1:
            sg, c, r = m.group(1), m.group(2), int(m.group(3))
            out.append(("P4_root_index", f"{sg}{c}\\sqrt[4]{{{r * r}}}", True, "both"))
            out.append(("X2_wrong_root", f"{sg}{c}\\sqrt[3]{{{r}}}", False, "both"))
            dot = f"{c} \\cdot " if c else ""
            out.append(("X2_wrong_root", f"{sg}{dot}{r}^{{1/3}}", False, "both"))
    n = int_of(g)
    if source == "math500" and n is not None and 2 <= n <= 12 and rng.random() < 0.5:
        out.append(("P4_root_index", f"\\sqrt[3]{{{n ** 3}}}", True, "one"))
        out.append(("X2_wrong_root", f"\\sqrt{{{n ** 3}}}", False, "one"))  # index 2, not 3: n^(3/2) != n
    return out


def fraction_forms(g: str) -> list[tuple[str, str, bool, str]]:
    """P5 sign placement, P6 \\cfrac / \\over, P7 unicode fractions; X3 X4 X5 their wrong twins."""
    out = []
    m = NEG_FRAC.match(g)
    if m:
        a, b = m.groups()
        out += [("P5_fraction_sign", f"\\frac{{-{a}}}{{{b}}}", True, "both"),
                ("P5_fraction_sign", f"\\frac{{{a}}}{{-{b}}}", True, "both"),
                ("X3_fraction_sign", f"\\frac{{-{a}}}{{-{b}}}", False, "both")]
    f = frac_of(g)
    m = FRAC.match(g)
    if m and f is not None:
        sg, a, b = m.group(1), m.group(2), m.group(3)
        if not sg:
            out.append(("X3_fraction_sign", f"\\frac{{-{a}}}{{{b}}}", False, "both"))
        out.append(("P6_cfrac_over", f"{sg}\\cfrac{{{a}}}{{{b}}}", True, "both"))
        out.append(("P6_cfrac_over", f"{sg}{{{a} \\over {b}}}", True, "both"))
        out.append(("X4_cfrac_other", f"{sg}\\cfrac{{{a}}}{{{int(b) + 1}}}", False, "both"))
        whole, part = divmod(abs(f), 1)
        if part in VULGAR:
            vul = ("-" if f < 0 else "") + (str(whole) if whole else "") + VULGAR[part]
            out.append(("P7_unicode_fraction", vul, True, "plain"))
            other = VULGAR_ORDER[(VULGAR_ORDER.index(part) + 1) % len(VULGAR_ORDER)]
            assert other != part
            out.append(("X5_unicode_fraction_other",
                        ("-" if f < 0 else "") + (str(whole) if whole else "") + VULGAR[other], False, "plain"))
        out.append(("P7_unicode_fraction", f"{sg}{a}\u2044{b}", True, "plain"))  # 3⁄56 (U+2044 fraction slash)
        out.append(("P7_unicode_fraction", f"{sg}{a.translate(SUP)}\u2044{b.translate(SUB)}", True, "plain"))  # ³⁄₅₆
        out.append(("X5_unicode_fraction_other", f"{sg}{a}\u2044{int(b) + 1}", False, "plain"))
    elif "\\frac" in g and "\\text" not in g:
        out.append(("P6_cfrac_over", g.replace("\\frac", "\\cfrac"), True, "both"))
    return out


def matrix_forms(g: str) -> list[tuple[str, str, bool, str]]:
    """P8: a pmatrix gold as bmatrix / array; X6: one entry changed."""
    m = PMATRIX.match(g)
    if not m:
        return []
    rows = [[Fraction(c.strip()) for c in r.split("&")] for r in m.group(1).split("\\\\")]
    ncol = len(rows[0])

    def body(rs, frac_tex):
        cell = (lambda f: fmt_frac(f)) if frac_tex else (lambda f: str(f))
        return " \\\\ ".join(" & ".join(cell(c) for c in r) for r in rs)
    out = [("P8_matrix_env", f"\\begin{{bmatrix}} {body(rows, False)} \\end{{bmatrix}}", True, "both"),
           ("P8_matrix_env", f"\\begin{{bmatrix}} {body(rows, True)} \\end{{bmatrix}}", True, "both"),
           ("P8_matrix_env", f"\\left[\\begin{{array}}{{{'c' * ncol}}} {body(rows, True)} \\end{{array}}\\right]",
            True, "both")]
    wrong = [r[:] for r in rows]
    wrong[-1][-1] += 1
    out.append(("X6_matrix_entry", f"\\begin{{bmatrix}} {body(wrong, True)} \\end{{bmatrix}}", False, "both"))
    return out


def infinity_forms(g: str) -> list[tuple[str, str, bool, str]]:
    """P9: \\infty written ∞ / +∞ / +\\infty; X7: a finite end changed."""
    if "\\infty" not in g:
        return []
    plus = re.sub(r"(?<!-)\\infty", r"+\\infty", g)
    out = [("P9_unicode_infinity", g.replace("\\infty", "∞"), True, "both"),
           ("P9_unicode_infinity", plus.replace("\\infty", "∞"), True, "both"),
           ("P9_unicode_infinity", plus, True, "both")]
    w = last_digit_changed(g)
    if w:
        out.append(("X7_infinity_end", w.replace("\\infty", "∞"), False, "both"))
    return out


def thousands_forms(g: str, rng: random.Random) -> list[tuple[str, str, bool, str]]:
    """P10: an integer >= 1000 grouped with a unicode space; X8: gold + 1 in the same form."""
    n = int_of(g)
    if n is None or abs(n) < 1000:
        return []
    name = rng.choice(sorted(SPACES))
    sp = SPACES[name]
    return [("P10_unicode_thousands", grouped(n, sp), True, "plain")] + \
        ([("X8_unicode_thousands_other", grouped(n + 1, sp), False, "plain")] if rng.random() < 0.5 else [])


def money_gold(g: str, source: str, body: str) -> bool:
    """A GSM8K gold that is an amount of money: the last mention of the gold's number in the worked solution is
    written `$<number>` (`... = $32 in all`), not a count (`6/1 = 6 scoops`)."""
    n = int_of(g)
    if source != "gsm8k" or n is None or n < 0:
        return False
    text = re.sub(r"(?<=\d),(?=\d{3})", "", body)
    hits = list(re.finditer(rf"(?<![\d.]){n}(?![\d])", text))
    return bool(hits) and text[:hits[-1].start()].rstrip().endswith("$")


def money_forms(g: str, source: str, body: str, rng: random.Random) -> list[tuple[str, str, bool, str]]:
    """P11: a money gold with cents (\\$1,234.00, \\text{\\$18.00}); X9: 50 cents more; Q1 (policy): a bare $."""
    n = int_of(g)
    if not money_gold(g, source, body) or rng.random() > 0.4:
        return []
    out = []
    if n >= 1000:
        out.append(("P11_currency_cents", f"\\${grouped(n, ',')}.00", True, "one"))
    out.append(("P11_currency_cents", f"\\text{{\\${grouped(n, ',')}.00}}", True, "one"))
    out.append(("X9_currency_other", f"\\${grouped(n, ',')}.50", False, "one"))
    if rng.random() < 0.4:
        out.append(("Q1_bare_dollar", f"${grouped(n, ',')}.00", True, "dollar"))
    return out


def unit_forms(g: str, problem: str) -> list[tuple[str, str, bool, str]]:
    """P12: an area / volume answer with its unit and exponent; X10: gold + 1 with the same unit."""
    m = UNIT_GOLD.match(g)
    if m:
        v, u = m.groups()
        ab = {"inches": "in", "cm": "cm"}[u]
        return [("P12_unit_exponent", f"{v}\\text{{ {ab}}}^2", True, "both"),
                ("P12_unit_exponent", f"{v} \\text{{ {u}}}^{{2}}", True, "both"),
                ("X10_unit_exponent_other", f"{int(v) + 1}\\text{{ {ab}}}^2", False, "both")]
    m = UNIT_ASK.search(problem)
    n = int_of(g)
    if not m or "," in g or "\\text" in g or "\\mbox" in g:
        return []
    e = "2" if m.group(1) == "square" else "3"
    ab = UNIT_ABBR[m.group(2)]
    w = str(n + 1) if n is not None else last_digit_changed(g)
    out = [("P12_unit_exponent", f"{g}\\text{{ {ab}}}^{e}", True, "both"),
           ("P12_unit_exponent", f"{g}\\,\\mathrm{{{ab}}}^{{{e}}}", True, "both")]
    if w:
        out.append(("X10_unit_exponent_other", f"{w}\\text{{ {ab}}}^{e}", False, "both"))
    return out


def word_forms(g: str) -> list[tuple[str, str, bool, str]]:
    """P13: a word gold in another case; X11: another word (the natural opposite) in the same case."""
    m = WORD.match(g)
    if not m:
        return []
    w, o = m.group(1), OTHER_WORD.get(m.group(1))
    out = []
    for case in (str.upper, str.capitalize, str.lower):
        if case(w) != w:
            out.append(("P13_word_case", f"\\text{{{case(w)}}}", True, "both"))
            out.append(("P13_word_case", case(w), True, "plain"))
    if o:
        out.append(("X11_word_other", f"\\text{{{o.upper()}}}", False, "both"))
        out.append(("X11_word_other", o.capitalize() if o.capitalize() != o else o.upper(), False, "plain"))
    return out


def list_forms(g: str, problem: str) -> list[tuple[str, str, bool, str]]:
    """P17: a list of solutions as x \\in \\{...\\} or x = a \\text{ or } x = b; X15: one element changed."""
    if not SOLUTION_WORDS.search(problem) or SEPINT.match(g):
        return []
    inner = g[2:-2] if g.startswith("\\{") and g.endswith("\\}") else g
    items = []
    for x in split_top(inner):
        if "\\pm" in x:
            a, b = (y.strip() for y in x.split("\\pm"))
            items += [f"{a} + {b}", f"{a} - {b}"]
        else:
            items.append(x)
    if len(items) < 2:
        return []
    w = last_digit_changed(items[-1])
    if w is None:
        return []
    wrong = items[:-1] + [w]

    def as_set(xs):
        return "x \\in \\{" + ", ".join(xs) + "\\}"

    def as_or(xs):
        return ", ".join(f"x = {x}" for x in xs[:-1]) + f" \\text{{ or }} x = {xs[-1]}"
    return [("P17_set_or_list", as_set(items), True, "both"), ("P17_set_or_list", as_or(items), True, "both"),
            ("X15_list_other", as_set(wrong), False, "both"), ("X15_list_other", as_or(wrong), False, "both")]


# ---------------------------------------------------------------- output-format families (any gold)
def format_cases(g: str, body: str, rng: random.Random) -> list[tuple[str, str, bool]]:
    out = []
    w = wrong_value(g)
    m, wm = mathy(g), (mathy(w) if w else None)
    if rng.random() < 0.26:  # P14 / X12: another language
        lang = rng.choice(sorted(LANG))
        tpl = rng.choice(LANG[lang])
        out.append((f"P14_other_language+{lang}", tpl.format(body=body, a=g, m=m), True))
        if w and rng.random() < 0.4:
            lang = rng.choice(sorted(LANG))
            out.append((f"X12_other_language_wrong+{lang}", rng.choice(LANG[lang]).format(body=body, a=w, m=wm), False))
    n = int_of(g)
    if rng.random() < 0.13:  # P15 / X13: the answer in a final aligned / align* block
        out.append(aligned_case(g, n, body, rng, True))
        if w and rng.random() < 0.6:
            out.append(aligned_case(w, None if n is None else n + 1, body, rng, False))
    if w and rng.random() < 0.17:  # P16 / X14: <think> with other boxed values
        kind = rng.choice(sorted(AFTER_THINK))
        out.append((f"P16_think_then_answer+{kind}", THINK_BOX_WRONG.format(body=body, w=w)
                     + AFTER_THINK[kind].format(x=g, xm=m), True))
        if rng.random() < 0.75:
            kind = rng.choice(sorted(AFTER_THINK))
            out.append((f"X14_think_gold_then_wrong+{kind}", THINK_BOX_GOLD.format(body=body, a=g)
                        + AFTER_THINK[kind].format(x=w, xm=wm), False))
    return out


def aligned_case(a: str, n: int | None, body: str, rng: random.Random, label: bool) -> tuple[str, str, bool]:
    """The final value at the end of an aligned chain: boxed inside \\begin{aligned}, or (integers) the last line of
    an align* block with no box. For an integer the chain's sum equals the stated value."""
    rule = "P15_aligned_final" if label else "X13_aligned_wrong"
    if n is not None and abs(n) >= 10:
        k = rng.randint(1, 9)
        chain = f"\\text{{total}} &= {n - k} + {k} \\\\\n"
        if rng.random() < 0.5:
            return (f"{rule}+align_star", f"{body}\n\nTherefore,\n\\begin{{align*}}\n{chain}&= {a}.\n\\end{{align*}}",
                    label)
    else:
        chain = ""
    env = rng.choice(["aligned", "align*"])
    lhs = "" if chain else "\\text{answer} "
    block = f"\\begin{{{env}}}\n{chain}{lhs}&= \\boxed{{{a}}}\n\\end{{{env}}}"
    if env == "aligned":
        block = f"\\[\n{block}\n\\]"
    return f"{rule}+{env.replace('*', '_star')}_boxed", f"{body}\n\nPutting it together:\n{block}", label


# ---------------------------------------------------------------- assembly

def cases_for(it: dict, rng: random.Random) -> list[dict]:
    g, body, problem = it["gold"], it["body"], it["problem"]
    rows = []

    def add(rule, completion, label):
        rows.append({"source": it["source"], "id": it["id"], "gold": g, "rule": rule, "completion": completion,
                     "label": label})

    forms = (power_forms(g, rng) + superscript_forms(g) + radical_forms(g, it["source"], rng) + fraction_forms(g)
             + matrix_forms(g) + infinity_forms(g) + thousands_forms(g, rng) + money_forms(g, it["source"], body, rng)
             + unit_forms(g, problem) + word_forms(g) + list_forms(g, problem))
    seen = set()
    for rule, a, label, style in forms:
        if (rule, a) in seen or a == g:
            continue
        seen.add((rule, a))
        if style == "both":
            tpls = [("boxed", rng.choice(BOXED)), ("stated", rng.choice(STATED))]
        elif style == "one":
            tpls = [rng.choice([("boxed", rng.choice(BOXED)), ("stated", rng.choice(STATED))])]
        elif style == "plain":
            tpls = [rng.choice([("boxed", rng.choice(BOXED)), ("plain", rng.choice(PLAIN))])]
        else:  # "dollar": a bare $ amount in a plain sentence
            tpls = [("plain", rng.choice(["{body}\n\nSo the total is {a}.", "{body}\n\n**Answer: {a}**"]))]
        for name, tpl in tpls:
            add(f"{rule}+{name}", tpl.format(body=body, a=a), label)
    for rule, completion, label in format_cases(g, body, rng):
        add(rule, completion, label)
    return rows


def build(data: str | Path = "/work/shared/data", seed: int = 9090) -> list[dict]:
    rng = random.Random(seed)
    return [c for it in items(Path(data)) for c in cases_for(it, rng)]


if __name__ == "__main__":
    write_cases(build, seed=9090, width=30)
