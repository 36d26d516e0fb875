"""Regression tables for math equivalence: one row per case, true and false, with a comment each.
Add a row every time a real completion is misgraded."""

import pytest

from rlvr.verifiers.math import verify


def _ok(gold, completion):
    v = verify(completion, gold)
    assert v.status in ("correct", "wrong"), v
    return v.status == "correct"


NUMBERS = [
    ("18", "#### 18", True),  # GSM8K marker
    ("18", "The answer is 18.", True),  # "the answer is"
    ("18", "\\boxed{18.0}", True),  # trailing .0
    ("18", "\\boxed{17}", False),  # off by one
    ("1000", "\\boxed{1,000}", True),  # thousands separator
    ("1000", "\\boxed{1{,}000}", True),  # LaTeX thousands separator
    ("\\frac{1}{2}", "\\boxed{0.5}", True),  # fraction vs decimal
    ("\\frac{1}{2}", "\\boxed{\\dfrac{1}{2}}", True),  # dfrac
    ("\\frac{1}{2}", "\\boxed{\\tfrac12}", True),  # tfrac without braces
    ("\\frac{1}{3}", "\\boxed{0.33}", False),  # too coarse a decimal
    ("\\frac{1}{3}", "\\boxed{1/3}", True),  # plain slash
    ("-2", "\\boxed{-2}", True),  # negative
    ("-2", "\\boxed{2}", False),  # sign matters
    ("5", "\\boxed{5 \\text{ cm}}", True),  # unit in text
    ("5", "\\boxed{5\\mbox{ inches}}", True),  # unit in mbox
    ("12", "\\boxed{\\$12}", True),  # currency
    ("12", "\\boxed{12 dollars}", True),  # currency word
    ("30", "\\boxed{30^\\circ}", True),  # degrees
    ("30^\\circ", "\\boxed{30}", True),  # degrees in gold
]

SCI_PERCENT = [
    ("1500", "\\boxed{1.5\\times 10^{3}}", True),  # scientific notation, LaTeX
    ("1500", "\\boxed{1.5e3}", True),  # scientific notation, e
    ("1500", "\\boxed{1.5\\times 10^{4}}", False),  # wrong exponent
    ("50\\%", "\\boxed{50}", True),  # percent sign dropped
    ("50\\%", "\\boxed{0.5}", True),  # percent as a fraction
    ("50", "\\boxed{50\\%}", True),  # percent in prediction
    ("50\\%", "\\boxed{40\\%}", False),  # different percent
]

SYMBOLIC = [
    ("x^2+2x+1", "\\boxed{(x+1)^2}", True),  # factored form
    ("x^2+2x+1", "\\boxed{(x+1)^3}", False),  # wrong power
    ("\\frac{\\sqrt{3}}{2}", "\\boxed{\\frac{1}{2}\\sqrt{3}}", True),  # reordered
    ("\\frac{\\sqrt{2}}{2}", "\\boxed{\\frac{1}{\\sqrt{2}}}", True),  # rationalised denominator
    ("2", "\\boxed{\\sqrt{4}}", True),  # evaluates to the gold
    ("\\pi", "\\boxed{3.14}", False),  # approximation of pi is not pi
    ("2\\pi", "\\boxed{2 \\pi}", True),  # spacing
    ("\\sqrt{2}", "\\boxed{\\sqrt2}", True),  # sqrt without braces
    ("x+y", "\\boxed{y+x}", True),  # commutative
    ("x-y", "\\boxed{y-x}", False),  # not commutative
]

STRUCTURES = [
    ("(1,2)", "\\boxed{(1, 2)}", True),  # tuple / open interval
    ("(1,2)", "\\boxed{(2,1)}", False),  # order matters in tuples
    ("(1,2,3)", "\\boxed{(1,2,3)}", True),  # 3-tuple
    ("(1,2,3)", "\\boxed{(1,3,2)}", False),  # 3-tuple reordered
    ("\\{1,2\\}", "\\boxed{\\{2,1\\}}", True),  # sets are unordered
    ("\\{1,2\\}", "\\boxed{\\{1,3\\}}", False),  # different set
    ("1, 2", "\\boxed{2, 1}", True),  # list of solutions, unordered
    ("[1,2)", "\\boxed{[1,2)}", True),  # half-open interval
    ("[1,2)", "\\boxed{[1,2]}", False),  # closed end differs
    ("(-\\infty, 3) \\cup (4, \\infty)", "\\boxed{(4,\\infty)\\cup(-\\infty,3)}", True),  # union order
    ("(-\\infty, 3) \\cup (4, \\infty)", "\\boxed{(-\\infty,3]\\cup(4,\\infty)}", False),  # closed end
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\boxed{\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}}", True),  # matrix
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\boxed{\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}}", False),  # rows
    ("\\begin{pmatrix} 1/2 \\\\ 2 \\end{pmatrix}", "\\boxed{\\begin{pmatrix} 0.5 \\\\ 2 \\end{pmatrix}}", True),  # elementwise
]

RELATIONS = [
    ("3", "\\boxed{x=3}", True),  # assignment vs value
    ("x=3", "\\boxed{3}", True),  # value vs equation
    ("x=3", "\\boxed{x=4}", False),  # wrong value
    ("y=2x+1", "\\boxed{2x-y+1=0}", True),  # same line, rearranged
    ("y=2x+1", "\\boxed{y=2x-1}", False),  # different line
    ("(3,\\infty)", "\\boxed{x>3}", True),  # inequality vs interval
    ("(3,\\infty)", "\\boxed{x\\ge 3}", False),  # closed end
    ("x>3", "\\boxed{x>3}", True),  # same inequality
    ("[2,5)", "\\boxed{2 \\le x < 5}", True),  # compound inequality
]

SPECIAL = [
    ("3+4i", "\\boxed{4i+3}", True),  # complex, reordered
    ("3+4i", "\\boxed{3-4i}", False),  # conjugate
    ("\\infty", "\\boxed{\\infty}", True),  # infinity
    ("\\infty", "\\boxed{-\\infty}", False),  # negative infinity
    ("1011_2", "\\boxed{1011_{2}}", True),  # base subscript
    ("4210_{5}", "\\boxed{4201_5}", False),  # digits differ
    ("\\text{(C)}", "The answer is (C).", True),  # multiple choice letter
    ("\\text{(C)}", "\\boxed{C}", True),  # letter without parentheses
    ("\\text{(C)}", "\\boxed{(D)}", False),  # wrong letter
    ("\\text{Evelyn}", "\\boxed{\\text{Evelyn}}", True),  # word answer
    ("\\text{Evelyn}", "\\boxed{\\text{Elevyn}}", False),  # anagram is not the word
]


@pytest.mark.parametrize("gold, completion, expected", NUMBERS)
def test_numbers(gold, completion, expected):
    assert _ok(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", SCI_PERCENT)
def test_scientific_and_percent(gold, completion, expected):
    assert _ok(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", SYMBOLIC)
def test_symbolic(gold, completion, expected):
    assert _ok(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", STRUCTURES)
def test_structures(gold, completion, expected):
    assert _ok(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", RELATIONS)
def test_relations(gold, completion, expected):
    assert _ok(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", SPECIAL)
def test_special(gold, completion, expected):
    assert _ok(gold, completion) is expected


def test_detail_shows_parsed_gold_prediction_and_rule():
    v = verify("so \\boxed{(x+1)^2}", "x^2+2x+1")
    assert v.detail["gold"] == "x^2+2x+1" and v.detail["pred"] == "(x+1)^2"
    assert v.detail["rule"] == "symbolic" and v.detail["extracted_by"] == "boxed"
