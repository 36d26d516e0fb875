"""Regression tables for math equivalence: one row per case, true and false, with a comment each.
Add a row every time a real completion is misgraded."""

import pytest

from rlvr.verifiers.math import verify
from tests.verifiers.math_rows import rewarded


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

# Issue 16: one table per failure family, written from the issue's stated behaviour (each failed before the fix).
F1_SEPARATORS = [
    ("10,\\!080", "\\boxed{10080}", True),  # gold with a LaTeX thin-space thousands separator is one number
    ("\\$32,\\!348", "The answer is $32,348.", True),  # currency + separator in the gold, GSM8K-style 32,348
    ("11,\\! 111,\\! 111,\\! 100", "\\boxed{11111111100}", True),  # several separators with spaces
    ("10,\\!080", "\\boxed{10,\\!081}", False),  # still a number: off by one is wrong
]
F2_LEAD_IN = [
    ("5", "Final Answer: The final answer is $5$. I hope it is correct.", True),  # Minerva's format
    ("\\text{(B)}", "The final answer is B", True),  # lead-in words are not part of the answer
    ("5", "Final Answer: The final answer is $6$. I hope it is correct.", False),  # Minerva, wrong value
    ("1", "so we get our answer: \\[\\left(\\dfrac{37}{8} \\cdot \\dfrac{8}{37}\\right)^{55} = 1^{55} = 1.\\]",
     True),  # "answer:" then display math holding a true chain: its last value
    ("18", "**Answer:** $\\$18$", True),  # markdown lead-in and an escaped dollar inside $...$
]
F3_SEVERAL_BOXES = [
    ("9", "So \\boxed{12}. Hmm, no: recounting gives \\boxed{9}.", True),  # self-correction: the last box
    ("12", "So \\boxed{12}. Hmm, no: recounting gives \\boxed{9}.", False),  # an earlier box does not count
    ("3", "\\boxed{1, 2, 3, 4, 5}", False),  # hedging inside one answer stays wrong
]
F4_EXACT = [
    ("2^{60}", "\\boxed{1152921504606846977}", False),  # 2^60 + 1: exact inputs compare exactly
    ("7 \\times 10^{12}", "\\boxed{7000000000001}", False),  # off by one in the 13th digit
    ("1.6 \\times 10^{-19}", "\\boxed{1.6 \\times 10^{-18}}", False),  # tiny numbers are not all "equal"
    ("\\frac{1}{3}", "\\boxed{0.333333333}", False),  # an approximation of an exact gold is wrong
    ("\\sqrt{2}", "\\boxed{1.41421356}", False),  # likewise for an irrational gold
    ("2^{60}", "\\boxed{1152921504606846976}", True),  # the exact value is right
]
F5_SOUND_POINTS = [
    ("0", "\\boxed{\\prod_{k=1}^{200}(x-k)}", False),  # integer sample points are its roots
    ("1", "\\boxed{\\frac{\\infty}{\\infty}}", False),  # nan never equals anything
    ("\\infty", "\\boxed{\\infty + 1}", False),  # oo + 1 is not a number to compare (nan/oo arithmetic)
    ("x^2-1", "\\boxed{(x-1)(x+1)}", True),  # a true identity still holds at random points
]
F6_UNITS_NOTATION = [
    ("20", "\\boxed{20\\text{ dollars}}", True),  # unit in text with a leading space
    ("5", "\\boxed{5\\mbox{ inches}^2}", True),  # unit with a power
    ("-20", "\\boxed{-20^\\circ\\text{C}}", True),  # degrees Celsius
    ("18.90", "\\boxed{\\$18.9}", True),  # trailing zero of a currency amount
    ("0.15", "\\boxed{.15}", True),  # decimal without a leading zero
    ("\\frac{6}{5}", "\\boxed{\\frac65}", True),  # frac without braces
    ("\\sqrt{3}", "\\boxed{\\sqrt3}", True),  # sqrt without braces
    ("\\frac{1}{7}", "\\boxed{0.\\overline{142857}}", True),  # a repeating decimal is exact
    ("\\frac{100}{3}\\%", "\\boxed{33.\\overline{3}\\%}", True),  # repeating decimal percent
    ("\\frac{1}{7}", "\\boxed{0.\\overline{142856}}", False),  # another repetend
]
F7_RELATIONS = [
    ("3, 5, 7", "\\boxed{x = 3, 5, 7}", True),  # a variable named before a list of solutions
    ("(-2, 1)", "\\boxed{(a, b) = (-2, 1)}", True),  # named pair
    ("(-\\infty, 2) \\cup (3, \\infty)", "\\boxed{x < 2 \\text{ or } x > 3}", True),  # inequality vs union
    ("\\begin{pmatrix} 16/49 \\\\ 48/49 \\\\ 24/49 \\end{pmatrix}",
     "\\boxed{\\frac{8}{49}\\begin{pmatrix} 2 \\\\ 6 \\\\ 3 \\end{pmatrix}}", True),  # scalar times matrix
    ("\\begin{pmatrix} -2 \\\\ -14 \\end{pmatrix}", "\\boxed{-\\begin{pmatrix} 2 \\\\ 14 \\end{pmatrix}}", True),  # negated
    ("\\begin{pmatrix} -2 \\\\ -14 \\end{pmatrix}", "\\boxed{\\begin{pmatrix} 2 \\\\ 14 \\end{pmatrix}}", False),  # sign
]
F8_BASES = [
    ("52_8", "\\boxed{52_{10}}", False),  # an explicit other base changes the value
    ("52_8", "\\boxed{52}", True),  # a bare answer is read in the gold's base
    ("52_8", "\\boxed{42_{10}}", True),  # the same value, its base named
    ("52_8", "\\boxed{53_8}", False),  # other digits
]
F9_WORDS = [
    ("42", "So the answer is forty-two.", True),  # number words
    ("\\frac{1}{2}", "The answer is one half.", True),  # a fraction in words
    ("12", "So she needs a dozen.", True),  # a dozen
    ("100", "In total there are one hundred.", True),  # one hundred
    ("1450000", "The population grows to 1.45 million.", True),  # a scaled decimal
    ("-3", "The temperature is 3 degrees below zero.", True),  # below zero is negative
    ("\\text{Navin}", "Navin earns 4.5 per hour and Luka 4.2.\nSo Navin would earn the most.", True),  # a named answer
    ("42", "So the answer is forty-three.", False),  # other words
]
F10_REFUSALS = [
    ("5", "\\boxed{2+2 = 4 = 5}", False),  # a boxed chain with a false link states nothing
    ("5", "After checking, the answer is not 5.", False),  # a negated answer
    ("18", "```python\nprint(18)\n```", False),  # an answer only inside a code block
    ("3", "\\boxed{1 + 1 = 3}", False),  # a boxed false statement
]

# A final statement without closing punctuation (a new user's report): the verifier does not know the finish reason,
# so a text that ends inside a calculation is no answer; a complete last number or reduced fraction is one.
UNPUNCTUATED = [
    ("1/2", "1/2", True),  # the whole completion is the answer
    ("3/4", "So x = 3/4", True),  # a named value as the last statement
    ("2/3", "x = 2/3 cups", True),  # a trailing unit word
    ("1/2", "So x = 1/2.", True),  # with a final period (worked before)
    ("3", "x = 3", True),  # a plain number (worked before)
    ("1/23", "So x = 1/2", False),  # another fraction is wrong
    ("1", "Let me verify: 2 + 1/", False),  # cut after a `/`: not its numerator
    ("2", "Let me verify: 2 + 1/", False),  # ...nor its first operand
    ("3/4", "x = 3/4 +", False),  # cut after an operator
    ("3/4", "x = 3/4 =", False),  # cut after an `=`: the value may go on
    ("3/4", "x = (3/4", False),  # cut inside an open bracket
    ("24", "Natalia sold 48/2", False),  # an unreduced fraction is a step cut before its `= 24`
    ("1", "His pace was 2/2", False),  # likewise, a T1 text of the realistic set
    ("1/2", "so 2 + 1/2", False),  # the fraction is an operand of `+`
    ("5", "That means he walks 6 * 5", False),  # a spaced operator: 5 is an operand
    ("3", "So we get 2 + 3", False),  # likewise for `+`
]


@pytest.mark.parametrize("gold, completion, expected", UNPUNCTUATED)
def test_unpunctuated_final_statement(gold, completion, expected):
    assert rewarded(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", F1_SEPARATORS + F2_LEAD_IN + F3_SEVERAL_BOXES + F4_EXACT
                         + F5_SOUND_POINTS + F6_UNITS_NOTATION + F7_RELATIONS + F8_BASES + F9_WORDS + F10_REFUSALS)
def test_issue16_families(gold, completion, expected):
    assert rewarded(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", NUMBERS)
def test_numbers(gold, completion, expected):
    assert rewarded(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", SCI_PERCENT)
def test_scientific_and_percent(gold, completion, expected):
    assert rewarded(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", SYMBOLIC)
def test_symbolic(gold, completion, expected):
    assert rewarded(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", STRUCTURES)
def test_structures(gold, completion, expected):
    assert rewarded(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", RELATIONS)
def test_relations(gold, completion, expected):
    assert rewarded(gold, completion) is expected


@pytest.mark.parametrize("gold, completion, expected", SPECIAL)
def test_special(gold, completion, expected):
    assert rewarded(gold, completion) is expected


def test_detail_shows_parsed_gold_prediction_and_rule():
    v = verify("so \\boxed{(x+1)^2}", "x^2+2x+1")
    assert v.detail["gold"] == "x^2+2x+1" and v.detail["pred"] == "(x+1)^2"
    assert v.detail["rule"] == "random_points" and v.detail["extracted_by"] == "boxed"
    assert v.detail["gold_parsed"] == "x**2 + 2*x + 1" and v.detail["pred_parsed"] == "(x + 1)**2"
