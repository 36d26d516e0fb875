"""Regression tables for the families of misgraded cases found on the third held-out set (bench/cases/README.md,
"The third held-out set"): rewarded rows and near misses that must stay unrewarded, one comment each."""

import pytest

from rlvr.verifiers.math_answer import extract
from rlvr.verifiers.math_normalize import normalize
from tests.verifiers.math_rows import rewarded

PMATRIX = "\\begin{pmatrix} -1/3 \\\\ 2/3 \\\\ 5/3 \\end{pmatrix}"

# 1. How the answer is stated: in bold with a clause after it, named "as the answer" after a display, with doubt
#    about the one value given; and a percent sign on the wrong side of the comparison
STATEMENTS = [
    ("28", "so $x=28$.\n</think>\n\nThe final answer is **28**, as computed above.", True),  # bold, then a clause
    ("28", "So the answer is **28**.", True),
    ("28", "The final answer is **27**, as computed above.", False),
    ("(3, \\frac{\\pi}{2})", "So we obtain\n\\[\n\\left( 3, \\frac{\\pi}{2} \\right)\n\\]\nas the answer.", True),
    ("5", "We take $x=5$ as the answer.", True),  # a named value
    ("5", "So we obtain\n\\[\n6\n\\]\nas the answer.", False),
    ("6", "I believe the answer is 6, though I am not completely sure.", True),  # doubt, one value
    ("6", "I believe the answer is 7, though I am not completely sure.", False),
    ("6", "So the answer is 7, or possibly 6; I am not sure which.", False),  # two values: a hedge
    ("6", "The answer is either 6 or 7.", False),
    ("6", "The answer is 6, but that is wrong.", False),  # retracted
    ("60", "We conclude that the answer is $\\boxed{0.6\\%}$.", False),  # 0.6% is 0.006 (or 0.6), never 60
    ("60", "We conclude that the answer is $\\boxed{60\\%}$.", True),
    ("0.6", "The answer is $\\boxed{60\\%}$.", True),  # the percent-marked side read /100
]

# 2. Where the answer stands: a LaTeX or math fence is math (code fences never hold an answer); an answer the writer
#    withdraws at the end is no answer
PLACES = [
    ("\\frac{243}{625}", "= \\frac{243}{625}.\n\nFinal answer:\n```math\n\\frac{243}{625}\n```", True),
    ("\\frac{14}{3}", "The final answer:\n```latex\n\\boxed{\\frac{14}{3}}\n```", True),
    ("5", "```python\nprint(5)\n```", False),  # a program's output is not a stated answer
    ("3\\sqrt{13}", "So $\\boxed{3\\sqrt{13}}$.\n\nWait, that cannot be right: checking it fails, and I cannot find "
     "the mistake. I do not have a final answer.", False),
    ("3\\sqrt{13}", "So $\\boxed{3\\sqrt{13}}$.\n\nWait, let me check that. Yes, it holds.", True),
]

# 3. Answer forms: repetends, bases, vectors, the imaginary unit, +-, set-builder sets, ISO intervals, currency codes
FORMS = [
    ("\\frac{14}{3}", "The answer is $\\boxed{4.\\dot{6}}$.", True),  # a dot over the repeated digit
    ("\\frac{142}{999}", "The answer is $\\boxed{0.\\dot{1}4\\dot{2}}$.", True),  # dots over its first and last
    ("\\frac{14}{3}", "Our final answer is $4.(6)$.", True),  # brackets
    ("\\frac{14}{3}", "The answer is $\\boxed{4.6666666\\ldots}$.", True),  # written out, then an ellipsis
    ("\\frac{3}{56}", "Therefore, the answer is $0.053571428571428\\ldots$.", True),  # a six-digit block
    ("\\frac{14}{3}", "The answer is $\\boxed{4.\\dot{5}}$.", False),
    ("\\frac{5}{9}", "The answer is $\\boxed{0.55\\ldots}$.", False),  # too few digits to show a repetend
    ("\\pi", "The answer is $\\boxed{3.14159\\ldots}$.", False),  # no repetend: a truncated decimal
    ("52_8", "Hence, the answer is $\\boxed{(52)_{8}}$.", True),
    ("52_8", "The answer is $52_{(8)}$.", True),
    ("52_8", "Final answer: 52 in base 8", True),
    ("52_8", "Final answer: 25 in base 8", False),  # digits reversed
    (PMATRIX, "Hence, the answer is $\\boxed{(-\\frac{1}{3}, \\frac{2}{3}, \\frac{5}{3})}$.", True),  # a tuple
    (PMATRIX, "The answer is $\\boxed{\\langle -\\frac{1}{3}, \\frac{2}{3}, \\frac{5}{3} \\rangle}$.", True),
    (PMATRIX, "The answer is $\\boxed{\\langle \\frac{2}{3}, -\\frac{1}{3}, \\frac{5}{3} \\rangle}$.", False),  # order
    (PMATRIX, "The answer is $\\boxed{(-\\frac{1}{3}, \\frac{2}{3})}$.", False),  # an entry short
    ("6 - 5i", "Our final answer is $6 - 5\\mathrm{i}$.", True),  # the upright i is no unit
    ("6 - 5i", "Our final answer is $6 - 5\\mathrm{i} + 1$.", False),
    ("1 \\pm \\sqrt{19}", "The answer is $\\boxed{\\pm \\sqrt{19} + 1}$.", True),
    ("3 \\pm 2 \\sqrt{2}", "The answer is $\\boxed{\\pm 2 \\sqrt{2} + 3}$.", True),
    ("1 \\pm \\sqrt{19}", "The answer is $\\boxed{\\pm \\sqrt{19} - 1}$.", False),
    ("(3,4]", "The answer is $\\boxed{\\{x \\mid 3 < x \\le 4\\}}$.", True),  # set-builder
    ("(3,4]", "The answer is $\\boxed{\\{x \\in \\mathbb{R} : 3 < x \\le 4\\}}$.", True),
    ("(0,9) \\cup (9,36)", "The answer is $\\{x \\mid 0 < x < 9 \\text{ or } 9 < x < 36\\}$.", True),
    ("(3,4]", "The answer is $\\boxed{\\{x \\mid 3 \\le x \\le 4\\}}$.", False),  # one end's strictness flipped
    ("(3,4]", "Our final answer is $]3, 4]$.", True),  # ISO interval
    ("(0,9) \\cup (9,36)", "The answer is $\\boxed{]0, 9[ \\cup ]9, 36[}$.", True),
    ("(3,4]", "Our final answer is $]3, 4[$.", False),
    ("70000", "Therefore, the answer is $\\text{US}\\$70000$.", True),
    ("125", "Hence, the answer is $\\boxed{\\text{US}\\$125}$.", True),
    ("125", "The answer is $125 \\text{ USD}$.", True),
    ("14", "The answer is $\\boxed{\\$1.40}$.", False),  # a decimal slip
]


@pytest.mark.parametrize("gold, completion, expected", STATEMENTS + PLACES + FORMS,
                         ids=lambda x: x[:40] if isinstance(x, str) else str(x))
def test_heldout3_families(gold, completion, expected):
    assert rewarded(gold, completion) is expected


@pytest.mark.parametrize("text, answer, rule", [
    ("The final answer is **28**, as computed above.", "28", "answer_is"),
    ("So we obtain\n\\[\nx + 1\n\\]\nas the answer.", "x + 1", "as_answer"),
    ("The answer is $\\boxed{3}$. I do not have a final answer.", None, "withdrawn"),
    ("Final answer:\n```math\n\\frac{1}{2}\n```", "\\frac{1}{2}", "answer_is"),
])
def test_extract_heldout3_forms(text, answer, rule):
    assert extract(text) == (answer, rule)


@pytest.mark.parametrize("raw, expected", [
    ("4.\\dot{6}", "\\frac{14}{3}"), ("4.(6)", "\\frac{14}{3}"), ("0.592592592\\ldots", "\\frac{16}{27}"),
    ("3.14159\\ldots", "3.14159\\ldots"), ("f(3)", "f(3)"), ("(52)_{8}", "52_{8}"), ("52 in base 8", "52_{8}"),
    ("]3, 4]", "(3, 4]"), ("[1, 2[", "[1, 2)"), ("(1,2)", "(1,2)"), ("\\pm \\sqrt{19} + 1", "1 \\pm \\sqrt{19}"),
    ("\\text{US}\\$70000", "70000"), ("5 \\text{ m}", "5"), ("6 - 5\\mathrm{i}", "6 - 5i"),
])
def test_heldout3_normal_forms(raw, expected):
    assert normalize(raw).text == expected
