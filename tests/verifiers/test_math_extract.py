"""Answer extraction and normalisation, table by table."""

import pytest

from rlvr.verifiers.math import gold_answer
from rlvr.verifiers.math_extract import extract
from rlvr.verifiers.math_normalize import normalize

EXTRACT = [
    ("so \\boxed{42}.", ["42"], "boxed"),  # plain box
    ("\\boxed{\\frac{a}{b}} done", ["\\frac{a}{b}"], "boxed"),  # nested braces
    ("\\fbox{7}", ["7"], "boxed"),  # fbox
    ("\\boxed 5.", ["5"], "boxed"),  # box without braces
    ("first \\boxed{1} then \\boxed{2}", ["1", "2"], "boxed"),  # every box, in order
    ("work\n#### 1,234", ["1,234"], "gsm8k"),  # GSM8K marker
    ("The answer is $\\frac{3}{4}$.", ["\\frac{3}{4}"], "answer_is"),  # dollar span
    ("Final answer: 12 apples", ["12 apples"], "answer_is"),  # final answer colon
    ("we get 3 and then 4.5 in total", ["4.5"], "last_number"),  # last number fallback
    ("no digits here", [], "none"),  # nothing
    ("\\boxed{unclosed", [], "none"),  # an unclosed box is not an answer
]

NORMALIZE = [
    ("$\\dfrac{1}{2}$", "\\frac{1}{2}"),  # delimiters + dfrac
    ("\\left( 1, 2 \\right)", "( 1, 2 )"),  # left/right
    ("10\\%", "10"),  # percent
    ("\\$5.00", "5.00"),  # currency
    ("90^{\\circ}", "90"),  # degrees
    ("1,000,000", "1000000"),  # thousands separators
    ("\\text{Evelyn}", "Evelyn"),  # text unwrapped
    ("12 \\text{ cm}^2", "12"),  # units with a power
    ("\\sqrt2", "\\sqrt{2}"),  # sqrt without braces
    ("\\frac12", "\\frac{1}{2}"),  # frac without braces
    ("2.5e-3", "2.5\\times 10^{-3}"),  # scientific notation
    ("infinity", "\\infty"),  # words for infinity
    ("x\\,=\\,3.", "x = 3"),  # spacing commands and trailing period
]


@pytest.mark.parametrize("text, answers, rule", EXTRACT)
def test_extract(text, answers, rule):
    assert extract(text) == (answers, rule)


@pytest.mark.parametrize("raw, expected", NORMALIZE)
def test_normalize(raw, expected):
    assert normalize(raw).text == expected


def test_percent_is_remembered():
    assert normalize("50\\%").percent and not normalize("50").percent


def test_gold_solution_is_reduced_to_its_answer():
    assert gold_answer("Natalia sold 48/2 = 24 clips.\n#### 72") == "72"
    assert gold_answer("so $\\boxed{\\frac{1}{2}}$") == "\\frac{1}{2}"
    assert gold_answer("18") == "18"
