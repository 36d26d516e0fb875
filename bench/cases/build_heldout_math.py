"""Build the held-out labelled math set: answer forms and output formats NOT produced by build_realistic_math.py.

    python bench/cases/build_heldout_math.py [--data /work/shared/data] [--seed 4242] [--out FILE.jsonl]

Golds: every MATH-500 `answer` and every GSM8K test gold (text after `#### `), as stored, read from --data. Each
completion is the dataset's worked solution with its final answer taken out, then a final statement built by one
rule of bench/cases/README.md ("The held-out set"). The label comes only from that rule; no verifier is run here.
`_check` only guards the construction: where both the gold and the written form parse with a small LaTeX->sympy
reader, an equivalence rule must give an equal value and a wrong-form rule an unequal one, else the generator raises
(a bug in the generator, never a relabelling). Deterministic for a given seed. `build(data, seed)` returns the cases.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction
from pathlib import Path

from case_sources import items, write_cases

import sympy
from sympy.parsing.sympy_parser import (convert_xor, implicit_multiplication_application, parse_expr,
                                        standard_transformations)

INT = re.compile(r"^-?\d+$")
DEC = re.compile(r"^-?\d*\.\d+$")
FRAC = re.compile(r"^(-?)\\[dt]?frac\s*\{?(\d+)\}?\s*\{?(\d+)\}?$")  # \frac{14}{3}, \frac43, \frac 34, \frac{270}7
MIXED = re.compile(r"^(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$")
SQRT_IN_FRAC = re.compile(r"^(-?)\\frac\{(\d*)\\sqrt\{(\d+)\}\}\{(\d+)\}$")  # \frac{3\sqrt{3}}{4}
COEF_SQRT_ANY = re.compile(r"(?<![\d.^_])(\d+)\s*\\sqrt\{?(\d+)\}?")  # 2\sqrt{5}, 70 \sqrt{2}, 11\sqrt2
LONE_SQRT = re.compile(r"^(-?)\\sqrt\{(\d+)\}$")
THOUSANDS = re.compile(r"^\\?\$?-?\d{1,3}(,(\\!)? ?\d{3})+$")  # 58,500  10,\!080: one number, not a list
LETTER = re.compile(r"^\\text\{\(([A-E])\)\}$")
TUPLE_WORDS = re.compile(r"ordered|point|coordinates", re.I)
SOLUTION_WORDS = re.compile(r"roots|solutions|separated by commas|unordered set", re.I)
HOW_MANY = re.compile(r"[Hh]ow many (?:more |fewer |total |in total )?([a-z]+)")
UNIT_STOP = {"does", "has", "was", "is", "less", "this", "of", "did", "red", "blue", "female", "male"}
SPACES = ["\\,", "\\;", "\\!", "~"]

TRANSFORMS = standard_transformations + (implicit_multiplication_application, convert_xor)


# ---------------------------------------------------------------- small helpers (pure string work)
def plain_number(g: str) -> bool:
    return bool(INT.match(g) or DEC.match(g))


def split_top(s: str, seps: str) -> list[str]:
    """Split s at the characters in seps that sit outside every {}, () and [] (a \\left/\\right pair counts)."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        if ch in seps and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    return out + [cur]


def terms(s: str) -> list[tuple[str, str]] | None:
    """A sum split into (sign, term) at top-level binary + and -; None unless there are >= 2 terms."""
    out, depth, cur, sign, prev = [], 0, "", "+", ""
    for ch in s:
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        if ch in "+-" and depth == 0 and prev != "^":
            if cur.strip():
                out.append((sign, cur.strip()))
            elif out:
                return None  # "a - - b": not a plain sum
            sign, cur = ch, ""
        else:
            cur += ch
        if not ch.isspace():
            prev = ch
    if cur.strip():
        out.append((sign, cur.strip()))
    return out if len(out) >= 2 else None


def join_terms(ts: list[tuple[str, str]]) -> str:
    s = ("-" if ts[0][0] == "-" else "") + ts[0][1]
    return s + "".join(f" {sg} {t}" for sg, t in ts[1:])


def sum_gold(g: str) -> bool:
    """A symbolic sum we may reorder / sign-flip: no lists, sets, intervals, equations, text or matrices."""
    bad = ("=", ",", "\\pm", "\\cup", "\\text", "\\mbox", "\\circ", "\\begin", "\\in", "\\{", "\\$")
    return not any(b in g for b in bad) and not plain_number(g)


def frac_value(g: str) -> Fraction | None:
    if INT.match(g) or DEC.match(g):
        return Fraction(g)
    m = FRAC.match(g)
    if m and int(m.group(3)):
        return Fraction(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) else 1)
    return None


def slash(k: re.Match) -> str:
    """\\frac{A}{B} -> A/B, with parentheses where A is a sum or B is more than one factor."""
    a, b = k.group(1).strip(), k.group(2).strip()
    a = f"({a})" if terms(a) else a
    b = b if re.fullmatch(r"\d+|\\pi|\\sqrt\{\d+\}", b) else f"({b})"
    return f"{a}/{b}"


def poly_str(e) -> str:
    """sympy str -> the LaTeX a model writes: x**2 -> x^2, 6*r -> 6r, x**10 -> x^{10}."""
    s = str(e).replace("**", "^").replace("*", "")
    return re.sub(r"\^(\d{2,})", r"^{\1}", s)


# ---------------------------------------------------------------- construction guard (not a label source)
def to_expr(tex: str):
    """A small LaTeX reader for the gold shapes used here; None when it cannot read the text."""
    s = tex
    s = re.sub(r"(?<=\d)\\,(?=\d{3})", "", s)  # 1\,200: a thousands separator, not a product
    for a in ("\\left", "\\right", "\\displaystyle", "\\mathbf", "\\mathrm", "\\,", "\\;", "\\!", "~"):
        s = s.replace(a, " ")
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\{([^{}]*)\}\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt\s*(\d)", r"\\sqrt{\1}", s)
    if re.search(r"\\(?!frac|sqrt|pi|cdot|times)[a-zA-Z]+", s) or re.search(r"[,=\[\]]", s):
        return None
    for _ in range(6):
        s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", s)
        s = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", s)
    s = s.replace("\\pi", " pi ").replace("\\cdot", "*").replace("\\times", "*").replace("{", "(").replace("}", ")")
    if "\\" in s:
        return None
    letters = set(re.findall(r"(?<![a-z])[a-zA-Z](?![a-z])", s.replace("pi", "").replace("sqrt", "")))
    local = {"i": sympy.I} if letters == {"i"} else {}
    try:
        return parse_expr(s, local_dict=local, transformations=TRANSFORMS)
    except Exception:  # noqa: BLE001 - unreadable: the guard is skipped
        return None


NO_CHECK = {"S7_mixed_number", "S8_scientific"}  # the reader takes 2\frac12 as a product; S8 is checked exactly in sci()


def _check(gold: str, form: str, label: bool, rule: str) -> None:
    if rule in NO_CHECK:
        return
    a, b = to_expr(gold), to_expr(form)
    if a is None or b is None:
        return
    equal = sympy.simplify(sympy.expand(a - b)) == 0
    if equal != label:
        raise AssertionError(f"generator bug: {form!r} for gold {gold!r} should be {'equal' if label else 'unequal'}")


# ---------------------------------------------------------------- S: equivalent symbolic forms (label true)
def sym_forms(g: str, problem: str, rng: random.Random) -> list[tuple[str, str]]:
    out = []
    m = SQRT_IN_FRAC.match(g)
    if m:
        sg, c, n, d = m.group(1), int(m.group(2) or 1), int(m.group(3)), int(m.group(4))
        f = Fraction(c, d)
        out.append(("S1_coefficient_outside_frac", f"{sg}\\frac{{{f.numerator}}}{{{f.denominator}}}\\sqrt{{{n}}}"))
        r = Fraction(c * n, d)  # c*sqrt(n)/d = (c*n/d) / sqrt(n)
        num, den = r.numerator, r.denominator
        out.append(("S3_unrationalised", f"{sg}\\frac{{{num}}}{{{'' if den == 1 else den}\\sqrt{{{n}}}}}"))
    m = LONE_SQRT.match(g)
    if m:
        out.append(("S3_unrationalised", f"{m.group(1)}\\frac{{{m.group(2)}}}{{\\sqrt{{{m.group(2)}}}}}"))
    m = COEF_SQRT_ANY.search(g)
    if m and int(m.group(1)) > 1:
        a, b = int(m.group(1)), int(m.group(2))
        out.append(("S2_unsimplified_radical", g[:m.start()] + f"\\sqrt{{{a * a * b}}}" + g[m.end():]))
    if ("\\pi" in g or "\\sqrt" in g) and "\\frac" in g:
        s = re.sub(r"\\frac\{((?:[^{}]|\{[^{}]*\})+)\}\{((?:[^{}]|\{[^{}]*\})+)\}(?![a-zA-Z\\\d(])", slash, g)
        if s != g and "\\frac" not in s:
            out.append(("S4_inline_slash", s.replace("\\left(", "(").replace("\\right)", ")")))
    if sum_gold(g):
        ts = terms(g)
        if ts:
            out.append(("S6_reordered_sum", join_terms(ts[::-1])))
        m = re.match(r"^\\frac\{([^{}]+)\}\{(\d+)\}$", g)
        if m and (ts := terms(m.group(1))):
            out.append(("S6_reordered_sum", f"\\frac{{{join_terms(ts[::-1])}}}{{{m.group(2)}}}"))
    if "=" in g and g.count("=") == 1:
        lhs, rhs = (x.strip() for x in g.split("="))
        if rhs == "0" and (ts := terms(lhs)):
            out.append(("S6_reordered_sum", f"{join_terms(ts[::-1])} = 0"))
        elif re.fullmatch(r"[a-z]", lhs) and (ts := terms(rhs)):
            out.append(("S6_reordered_sum", f"{lhs} = {join_terms(ts[::-1])}"))
    out += poly_forms(g)[0]
    v = frac_value(g)
    if v is not None and v.denominator > 1 and abs(v) > 1 and FRAC.match(g):
        w, r = divmod(abs(v.numerator), v.denominator)
        out.append(("S7_mixed_number", f"{'-' if v < 0 else ''}{w}\\frac{{{r}}}{{{v.denominator}}}"))
    m = MIXED.match(g)
    if m:
        w, r, d = (int(x) for x in m.groups())
        out.append(("S7_mixed_number", f"\\frac{{{w * d + r}}}{{{d}}}"))
    if "\\frac" in g or "\\dfrac" in g:
        out.append(("S9_tfrac", re.sub(r"\\d?frac", r"\\tfrac", g)))
    if "\\frac" in g or "\\sqrt" in g or "\\pi" in g:
        out.append(("S10_displaystyle", "\\displaystyle " + g))
    if not plain_number(g) and re.search(r"[+\-,]|\d\s*\\(sqrt|pi)", g) and not re.search(r"\\(text|begin|!)", g):
        sp = rng.choice(SPACES)
        s = re.sub(r"(?<!\\),\s*", lambda k: ",\\, ", g)
        s = re.sub(r"(?<=[^\s^{(,\[])\s*([+\-])\s*", lambda k: f" {sp}{k.group(1)}{sp} ", s)
        s = re.sub(r"(\d)\s*\\(sqrt|pi)", lambda k: f"{k.group(1)}{sp}\\{k.group(2)}", s)
        if s != g:
            out.append(("S11_latex_spacing", s))
    if re.search(r"[(\[]", g) and not re.search(r"\\(left|begin|text)", g):
        s = re.sub(r"(?<!\\)([(\[])", r"\\left\1", g)
        out.append(("S12_left_right", re.sub(r"([)\]])", r"\\right\1", s)))
    if (v is not None or "\\sqrt" in g or "\\pi" in g) and "," not in g and not plain_number(g):
        out.append(("S13_wrapper", rng.choice(["\\mathbf", "\\mathrm"]) + "{" + g + "}"))
    out += list_forms(g, problem)
    return out


def poly_forms(g: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(S5 factored/expanded forms, W3 different polynomials) for a polynomial gold in 1-2 letters."""
    if not sum_gold(g) and not re.fullmatch(r"\([a-z0-9+\- ]+\)\([a-z0-9+\- ]+\)", g):
        return [], []
    if "\\" in g or set(re.findall(r"[a-zA-Z]", g)) == {"i"}:
        return [], []
    e = to_expr(g)
    if e is None or not e.free_symbols or not e.is_polynomial() or len(e.free_symbols) > 2:
        return [], []
    good, bad = [], []
    fac, exp = sympy.factor(e), sympy.expand(e)
    if fac.is_Mul and sympy.expand(fac) == exp and poly_str(fac) != poly_str(exp):
        args = [a for a in sympy.Mul.make_args(fac)]
        const = [a for a in args if a.is_Number]
        rest = [a for a in args if not a.is_Number]
        text = "".join(f"({poly_str(a)})" if a.is_Add else poly_str(a) for a in rest)
        cstr = {1: "", -1: "-"}.get(const[0], poly_str(const[0])) if const else ""
        text = cstr + text
        if re.sub(r"\s", "", text) != re.sub(r"\s", "", g) and "(" in text:
            good.append(("S5_factored_expanded", text))
            # wrong: the constant of the last factor with one, negated
            for i in range(len(rest) - 1, -1, -1):
                ts = terms(poly_str(rest[i])) if rest[i].is_Add else None
                if ts and re.fullmatch(r"\d+", ts[-1][1]):
                    ts[-1] = ("+" if ts[-1][0] == "-" else "-", ts[-1][1])
                    parts = [f"({poly_str(a)})" if a.is_Add else poly_str(a) for a in rest]
                    parts[i] = f"({join_terms(ts)})"
                    bad.append(("W3_other_polynomial", cstr + "".join(parts)))
                    break
    if exp != e or re.search(r"\)\s*\(", g):
        text = poly_str(exp)
        good.append(("S5_factored_expanded", text))
        m = re.fullmatch(r"\(([a-z])([+-]\d+)\)\(([a-z])([+-]\d+)\)", g.replace(" ", ""))
        if m:  # (a+5)(b+2) -> (a+2)(b+5)
            bad.append(("W3_other_polynomial", f"({m.group(1)}{m.group(4)})({m.group(3)}{m.group(2)})"))
    return good, bad


def list_forms(g: str, problem: str) -> list[tuple[str, str]]:
    """S14: a list of solutions (or a set / a union) written in another order, as a set, or with \\pm expanded."""
    out = []
    if "\\cup" in g:
        parts = [p.strip() for p in g.split("\\cup")]
        out.append(("S14_unordered_list", " \\cup ".join(parts[::-1])))
        return out
    if not SOLUTION_WORDS.search(problem) or THOUSANDS.match(g):
        return out
    inner = g[2:-2] if g.startswith("\\{") and g.endswith("\\}") else g
    items = [x.strip() for x in split_top(inner, ",")]
    expanded = []
    for x in items:
        if "\\pm" in x:
            a, b = (y.strip() for y in x.split("\\pm"))
            expanded += [f"{a} + {b}", f"{a} - {b}"]
        else:
            expanded.append(x)
    if len(expanded) < 2:
        return out
    rev = expanded[::-1]
    out.append(("S14_unordered_list", ", ".join(rev)))
    out.append(("S14_unordered_list", "\\{" + ", ".join(rev) + "\\}"))
    if any("\\pm" in x for x in items):
        out.append(("S14_unordered_list", ", ".join(expanded)))
    return out


def list_wrong(g: str, problem: str) -> list[tuple[str, str]]:
    if "\\cup" in g or not SOLUTION_WORDS.search(problem) or THOUSANDS.match(g):
        return []
    inner = g[2:-2] if g.startswith("\\{") and g.endswith("\\}") else g
    items = [x.strip() for x in split_top(inner, ",")]
    if len(items) >= 2:
        return [("W9_list_missing_one", ", ".join(items[1:]))]
    if "\\pm" in g:
        a, b = (y.strip() for y in g.split("\\pm"))
        return [("W9_list_missing_one", f"{a} + {b}")]
    return []


# ---------------------------------------------------------------- W: wrong but close (label false)
def wrong_forms(g: str, problem: str) -> list[tuple[str, str]]:
    out = []
    if sum_gold(g):
        ts = terms(g)
        if ts and ts[-1][1] != "0":
            ts[-1] = ("+" if ts[-1][0] == "-" else "-", ts[-1][1])
            out.append(("W1_sign_error", join_terms(ts)))
        elif not ts and g.startswith("-") and frac_value(g) is None:
            out.append(("W1_sign_error", g[1:].strip()))
        m = re.match(r"^\\frac\{([^{}]+)\}\{(\d+)\}$", g)
        if m and (ts := terms(m.group(1))):
            ts[-1] = ("+" if ts[-1][0] == "-" else "-", ts[-1][1])
            out.append(("W1_sign_error", f"\\frac{{{join_terms(ts)}}}{{{m.group(2)}}}"))
    if "=" in g and g.count("=") == 1 and "\\in" not in g:
        lhs, rhs = (x.strip() for x in g.split("="))
        side = lhs if rhs == "0" else rhs if re.fullmatch(r"[a-z]", lhs) else None
        if side and (ts := terms(side)):
            ts[-1] = ("+" if ts[-1][0] == "-" else "-", ts[-1][1])
            out.append(("W1_sign_error", f"{join_terms(ts)} = 0" if rhs == "0" else f"{lhs} = {join_terms(ts)}"))
    m = COEF_SQRT_ANY.search(g)
    if m and int(m.group(1)) > 1:
        a, b = int(m.group(1)), int(m.group(2))
        out.append(("W2_radical_factor", g[:m.start()] + f"\\sqrt{{{a * b}}}" + g[m.end():]))  # a not squared
        out.append(("W2_radical_factor", g[:m.start()] + f"{a + 1}\\sqrt{{{b}}}" + g[m.end():]))
    m = SQRT_IN_FRAC.match(g)
    if m and not m.group(2):
        out.append(("W2_radical_factor", f"{m.group(1)}\\frac{{\\sqrt{{{m.group(3)}}}}}{{{int(m.group(4)) + 1}}}"))
    out += poly_forms(g)[1] + list_wrong(g, problem)
    if "\\cup" not in g and "," in g and not TUPLE_WORDS.search(problem):  # an interval
        m = re.fullmatch(r"(x \\in )?(\\left)?([(\[])\s*(.+?)\s*,\s*(.+?)\s*(\\right)?([)\]])", g)
        if m:
            x, L, lo_b, lo, hi, R, hi_b = m.groups()
            L, R, x = L or "", R or "", x or ""
            if "infty" in lo or "infty" in hi:  # (5,\infty) -> (-\infty,5): the other ray
                end = hi if "infty" in lo else lo
                other = f"[{end}, \\infty)" if "infty" in lo else f"(-\\infty, {end}]"
                if lo_b + hi_b in ("()",):
                    other = other.replace("[", "(").replace("]", ")")
                out.append(("W4_interval_swapped", x + other))
            else:
                out.append(("W4_interval_swapped", f"{x}{L}{lo_b}{hi}, {lo}{R}{hi_b}"))
                if lo_b + hi_b in ("(]", "[)"):
                    flip = {"(": "[", "[": "(", ")": "]", "]": ")"}
                    out.append(("W4_interval_swapped", f"{x}{L}{flip[lo_b]}{lo}, {hi}{R}{flip[hi_b]}"))
    if TUPLE_WORDS.search(problem) and re.match(r"^(\\left)?\(", g) and "\\infty" not in g and "\\cup" not in g:
        inner = re.sub(r"^(\\left)?\(\s*|\s*(\\right)?\)$", "", g)
        items = [x.strip() for x in split_top(inner, ",")]
        if len(items) >= 2 and items[0] != items[1]:
            items[0], items[1] = items[1], items[0]
            out.append(("W5_tuple_order", "(" + ", ".join(items) + ")"))
    e = to_expr(g) if ("\\sqrt" in g or "\\pi" in g) and "," not in g and "\\pm" not in g else None
    if e is not None and e.is_real and not e.is_rational:
        out.append(("W7_rounded_irrational", f"{float(e):.2f}"))
    m = LETTER.match(g)
    if m:
        other = "ABCDE"[("ABCDE".index(m.group(1)) + 1) % 5]
        out.append(("W8_other_letter_text", f"\\text{{{other}}}"))
    return out


# ---------------------------------------------------------------- F: output formats of real models (label true)
def mathy(a: str) -> str:
    return a if plain_number(a) else f"${a}$"


FORMATS = {  # rule -> template with {body} and {a} (the gold as stored) / {m} (bare number or $gold$)
    "F1_display_box_own_lines": ["{body}\n\nPutting everything together, the answer is:\n\n\\[ \\boxed{{{a}}} \\]\n",
                                 "{body}\n\n\\[\n\\boxed{{{a}}}\n\\]\n\nThis is the required value."],
    "F2_boxed_space": ["{body}\n\nTherefore, the answer is $\\boxed {{{a}}}$.", "{body}\n\nSo $\\boxed  {{{a}}}$."],
    "F3_fbox": ["{body}\n\nThe answer is $\\fbox{{{a}}}$.", "{body}\n\n\\[\\fbox{{${a}$}}\\]"],
    "F5_bold_last_line": ["{body}\n\n**{m}**", "{body}\n\nFinal result:\n\n**{m}**"],
    "F6_final_answer_heading": ["{body}\n\n### Final Answer\n{m}", "{body}\n\n### Final Answer\n\n{m}\n"],
    "F7_ANSWER_colon": ["{body}\n\nANSWER: {m}", "{body}\nANSWER: {m}\n"],
    "F8_answer_dollar": ["{body}\n\nAnswer: ${a}$", "{body}\n\nAnswer: ${a}$\n"],
    "F10_explanation_after": [
        "{body}\n\nThe answer is $\\boxed{{{a}}}$, since this is the only value that satisfies every condition.",
        "{body}\n\nThe answer is {m}. This follows from the last step, where all 3 parts were combined.",
        "{body}\n\nSo the final answer is {m}, which we can double-check by substituting it back."],
}


def unit_word(problem: str) -> str | None:
    m = HOW_MANY.search(problem)
    if not m:
        return None
    w = m.group(1)
    return w if (w.endswith("s") or w in ("people", "children", "feet")) and w not in UNIT_STOP else None


def format_cases(g: str, problem: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """(rule, template, answer text) for output-format rules; the answer states the gold."""
    out = []
    for rule in rng.sample(sorted(FORMATS), 1 + (rng.random() < 0.3)):
        out.append((rule, rng.choice(FORMATS[rule]), g))
    m = LETTER.match(g)
    if m:
        c = m.group(1)
        for t in (f"$\\boxed{{\\text{{{c}}}}}$", f"$\\boxed{{{c}}}$", f"$\\boxed{{\\textbf{{({c})}}}}$",
                  f"**({c})**"):
            out.append(("F4_letter_choice", "{body}\n\nThe correct option is " + t.replace("{", "{{")
                        .replace("}", "}}") + ".", g))
    if INT.match(g) and rng.random() < 0.12:
        out.append(("F9_period_in_box", "{body}\n\nThe answer is $\\boxed{{{a}.}}$", g))
    if INT.match(g) and (w := unit_word(problem)) and rng.random() < 0.3:
        out.append(("F11_unit_in_words", rng.choice(["{body}\n\n{a} " + w, "{body}\n\nAnswer: {a} " + w + "\n"]), g))
    return out


# ---------------------------------------------------------------- numeric forms for integer / decimal golds
def sci(g: str) -> str | None:
    """S8: the exact value in scientific notation (1.2\\times10^{3} for 1200, 6.72\\times10^{-5} for .0000672)."""
    v = frac_value(g)
    if v is None or v == 0 or not plain_number(g) or not (abs(v) >= 1000 or abs(v) < Fraction(1, 100)):
        return None
    digits = g.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    k = 0
    while abs(v) >= 10 ** (k + 1):
        k += 1
    while abs(v) < 10 ** k:
        k -= 1
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    assert Fraction(mant) * Fraction(10) ** k == abs(v), g
    return ("-" if v < 0 else "") + f"{mant}\\times10^{{{k}}}"


def numeric_forms(g: str, problem: str, rng: random.Random) -> list[tuple[str, str, bool]]:
    out = []
    if (s := sci(g)) and rng.random() < 0.5:
        out.append(("S8_scientific", rng.choice([s, s.replace("\\times10", "\\times 10")]), True))
    if INT.match(g) and abs(int(g)) >= 1000 and rng.random() < 0.3:
        out.append(("S11_latex_spacing", f"{int(g):,}".replace(",", "\\,"), True))
    if plain_number(g) and rng.random() < 0.1:
        w = rng.choice(["\\mathbf", "\\mathrm"] + (["\\mbox", "\\textbf"] if not g.startswith("-") else []))
        out.append(("S13_wrapper", f"{w}{{{g}}}", True))
    if INT.match(g) and int(g) != 0 and unit_word(problem) and not re.search(r"percent|%", problem) \
            and rng.random() < 0.12:
        out.append(("W6_percent_for_count", f"{g}\\%", False))
    return out


# ---------------------------------------------------------------- assembly
BOXED = ["{body}\n\nTherefore, the answer is $\\boxed{{{a}}}$.", "{body}\n\nSo we get $\\boxed{{{a}}}$."]
STATED = ["{body}\n\nThe final answer is ${a}$.", "{body}\n\nHence the answer is ${a}$."]



def cases_for(it: dict, rng: random.Random) -> list[dict]:
    g, body, problem = it["gold"], it["body"], it["problem"]
    rows = []

    def add(rule, completion, label):
        rows.append({"source": it["source"], "id": it["id"], "gold": g, "rule": rule, "completion": completion,
                     "label": label})

    for rule, template, a in format_cases(g, problem, rng):
        add(rule, template.format(body=body, a=a, m=mathy(a)), True)
    forms = [(r, a, True) for r, a in sym_forms(g, problem, rng)] + [(r, a, False) for r, a in wrong_forms(g, problem)]
    numeric = numeric_forms(g, problem, rng)
    seen = set()
    for rule, a, label in forms + numeric:
        if (rule, a) in seen or a == g:
            continue
        seen.add((rule, a))
        _check(g, a, label, rule)
        tpls = [rng.choice(BOXED), rng.choice(STATED)]  # symbolic forms: both; numeric forms: one of them
        for tpl in (tpls if (rule, a, label) in forms else [rng.choice(tpls)]):
            add(f"{rule}+{'boxed' if 'boxed' in tpl else 'stated'}", tpl.format(body=body, a=a), label)
    return rows


def build(data: str | Path = "/work/shared/data", seed: int = 4242) -> list[dict]:
    rng = random.Random(seed)
    return [c for it in items(Path(data)) for c in cases_for(it, rng)]


if __name__ == "__main__":
    write_cases(build, seed=4242, width=30)
