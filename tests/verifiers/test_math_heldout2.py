"""Regression tables for the families of misgraded cases found on the second held-out set (bench/cases/README.md,
"The second held-out set"): one table per family, rewarded rows and near misses that must stay unrewarded, with a
comment each."""

import pytest

from rlvr.verifiers.math_answer import extract
from rlvr.verifiers.math_normalize import normalize
from tests.verifiers.math_rows import rewarded


# 1. Unicode superscripts are exponents: `3³` is `3^{3}`, `x⁻¹` is `x^{-1}`; a unit's power is kept for comparison
SUPERSCRIPTS = [
    ("27", "The answer is $\\boxed{3³}$.", True),  # a power in a box
    ("1024", "The answer is 2¹⁰.", True),  # a two-digit exponent, plain sentence
    ("-125", "Final answer: -5³", True),  # the sign outside the power
    ("x^5 - x^4 + x^3 - x^2 + x - 1", "The answer is $\\boxed{x⁵ - x⁴ + x³ - x² + x - 1}$.", True),  # polynomial
    ("3R^2", "The answer is $\\boxed{3R²}$.", True),  # a coefficient and a variable
    ("\\frac{1}{x}", "The answer is $\\boxed{x⁻¹}$.", True),  # superscript minus
    ("15\\mbox{ cm}^2", "The answer is 15 cm².", True),  # a unit with its power
    ("1024", "The answer is 2⁹.", False),  # the exponent one less: 512
    ("x^5 - x^4 + x^3 - x^2 + x - 1", "The answer is $\\boxed{x⁶ - x⁴ + x³ - x² + x - 1}$.", False),  # x^6
    ("15\\mbox{ cm}^2", "The answer is 15 cm³.", False),  # a volume for an area (units otherwise not graded)
    ("9", "Final answer: 3³", False),  # 27, not 9 (the superscript is not a digit of the base)
    ("33", "The answer is $\\boxed{3³}$.", False),  # nor a digit after it
]

# 2. Unicode fractions: vulgar fractions (`½`; after a whole number a mixed number), U+2044, super/subscript digits
UNICODE_FRACTIONS = [
    ("\\frac{14}{3}", "Final answer: 4⅔", True),  # a mixed number
    ("\\frac{1}{2}", "The answer is $\\boxed{½}$.", True),  # a lone vulgar fraction
    ("-\\frac{3}{8}", "The answer is -⅜.", True),  # signed
    ("\\frac{14}{3}", "Final answer: 14⁄3", True),  # U+2044 fraction slash
    ("\\frac{14}{3}", "The answer is $\\boxed{¹⁴⁄₃}$.", True),  # superscript over subscript digits
    ("-\\frac{13}{15}", "The answer is -¹³⁄₁₅.", True),
    ("\\frac{9}{2}", "The answer is 4 ½.", True),  # a mixed number with a space
    ("\\frac{5}{2}", "So she needs 2½ cups.", True),  # the final sentence's number (5/2, not 2)
    ("\\frac{14}{3}", "Final answer: 4⅓", False),  # the next vulgar fraction
    ("\\frac{2}{3}", "Final answer: 4⅔", False),  # the whole part counts
    ("\\frac{14}{3}", "Final answer: 14⁄4", False),  # another denominator
    ("\\frac{1}{2}", "The answer is $\\boxed{⅓}$.", False),
    ("2", "So she needs 2½ cups.", False),  # not the whole part alone
]

# 3. TeX's `{a \over b}` is a fraction (it read as a set); `{n \choose k}` a binomial coefficient
OVER = [
    ("\\frac{14}{3}", "The answer is $\\boxed{{14 \\over 3}}$.", True),  # braced, in a box
    ("\\frac{14}{3}", "The final answer is ${14 \\over 3}$.", True),  # stated
    ("\\frac{14}{3}", "The answer is $\\boxed{14 \\over 3}$.", True),  # the box is the group
    ("-\\frac{35}{9}", "The answer is $\\boxed{-{35 \\over 9}}$.", True),  # sign outside
    ("\\sqrt{\\frac{3}{2}}", "The answer is $\\boxed{\\sqrt{3 \\over 2}}$.", True),  # an argument keeps its braces
    ("10", "The answer is $\\boxed{{5 \\choose 2}}$.", True),  # binomial
    ("\\frac{14}{3}", "The answer is $\\boxed{{14 \\over 4}}$.", False),  # another denominator
    ("\\frac{3}{14}", "The answer is $\\boxed{{14 \\over 3}}$.", False),  # upside down
    ("\\frac{1}{3}", "The answer is $\\boxed{0.\\overline{3}}$.", True),  # `\overline` is not `\over`
    ("\\frac{1}{3}", "The answer is $\\boxed{0.\\overline{4}}$.", False),
]

# 4. A solution list as `x \in \{...\}` or `x = a \text{ or } x = b` (one variable) is the list of values
SOLUTION_LISTS = [
    ("1,-2", "The answer is $\\boxed{x \\in \\{1, -2\\}}$.", True),
    ("1,-2", "The final answer is $x = 1 \\text{ or } x = -2$.", True),
    ("3, 5, 7", "The answer is \\(\\boxed{x = 3, x = 5 \\text{ or } x = 7}\\).", True),  # commas and `or`
    ("3, 5, 7", "So the answer is $x = 3, x = 5 \\text{ and } x = 7$.", True),  # `and`
    ("1 \\pm \\sqrt{19}", "The answer is $x = 1 + \\sqrt{19} \\text{ or } x = 1 - \\sqrt{19}$.", True),  # +- expanded
    ("\\{1\\pm\\sqrt{5},-2\\}", "The answer is $\\boxed{x \\in \\{1 + \\sqrt{5}, 1 - \\sqrt{5}, -2\\}}$.", True),
    ("(2,12) \\cup (12,102)", "The answer is $x \\in (2,12) \\cup (12,102)$.", True),  # an interval named by `\in`
    ("1,-2", "The answer is $\\boxed{x \\in \\{1, -3\\}}$.", False),  # one element changed
    ("1,-2", "The final answer is $x = 1 \\text{ or } x = -3$.", False),
    ("1,-2", "The final answer is $x = 1 \\text{ or } y = -2$.", False),  # two variables: not a solution list
    ("1", "The final answer is $x = 1 \\text{ or } x = -2$.", False),  # two values for one: a hedge
    ("1", "The answer is $\\boxed{x \\in \\{1, -2\\}}$.", False),
    ("1,-2", "The answer is $\\boxed{x \\notin \\{1, -2\\}}$.", False),  # not the set
    ("3, 5, 7", "So the answer is $x = 3, x = 5 \\text{ or } x = 8$.", False),
]

# 5. `<answer>...</answer>` after `</think>` (R1-style) holds the answer; a box inside it is fine
ANSWER_TAG = [
    ("225", "<think>\nIs it $\\boxed{226}$? No, slip.\n</think>\n\n<answer>225</answer>", True),
    ("\\frac{14}{3}", "<think>\nso $\\boxed{5}$?\n</think>\n<answer>\\frac{14}{3}</answer>", True),  # LaTeX content
    ("225", "<think>\nso $\\boxed{226}$?\n</think>\n<answer>$\\boxed{225}$</answer>", True),  # a box inside it
    ("225", "<think>\nwork\n</think>\n<answer>The answer is $225$.</answer>", True),  # a sentence inside it
    ("225", "<answer>225</answer>", True),  # no think part
    ("225", "<think>\nSo far I get $\\boxed{225}$.\n</think>\n\n<answer>226</answer>", False),  # gold retracted
    ("225", "<think>\nwork\n</think>\n<answer>$\\boxed{226}$</answer>", False),
    ("225", "<answer>225</answer> wait, <answer>226</answer>", False),  # the last tag
    ("225", "<think>\nwork\n</think>\n<answer>\\boxed{225</answer>", False),  # a box that never closes in it
    ("225", "<think>\nwork\n</think>\n<answer>The answer is not 225.</answer>", False),  # negated
]

# 6. A text that ends with an `align*` / `aligned` block: the right side of its last line is the answer
FINAL_BLOCK = [
    ("11", "Therefore,\n\\begin{align*}\n\\text{total} &= 8 + 3 \\\\\n&= 11.\n\\end{align*}", True),
    ("11", "So\n\\[\n\\begin{aligned}\nx &= 8 + 3 \\\\\n&= 11\n\\end{aligned}\n\\]", True),  # aligned in \[ \]
    ("11", "Thus\n\\begin{align*}\nx &= 8 + 3 \\\\\n&= 11 \\\\\n\\end{align*}", True),  # a trailing `\\`
    ("12", "Hence the desired answer is $12$.\n\nTherefore,\n\\begin{align*}\n\\text{total} &= 4 + 9 \\\\\n&= 13.\n"
     "\\end{align*}", False),  # the block is the last statement: 13, not the earlier 12
    ("13", "Therefore,\n\\begin{align*}\n\\text{total} &= 4 + 9 \\\\\n&= 12.\n\\end{align*}", False),
    ("12", "So\n\\begin{align*}\nx &= 4 + 8 \\\\\n&= 12\n\\end{align*}\nBut that is wrong; the answer is 13.",
     False),  # the block does not end the text: the later statement wins
]

# 7. The final statement in another language; a `$...$` segment that ends the final sentence is read whole
OTHER_LANGUAGE = [
    ("15x - 80", "答えは $15x - 80$ です。", True),  # Japanese
    ("\\frac 34", "La réponse est $\\frac 34$.", True),  # French; `\frac 34` is 3/4
    ("13", "So the answer is $12.$\n\nPortanto, a resposta é 13.", True),  # Portuguese, last
    ("42", "所以答案是 42。", True),  # Chinese, a bare number before `。`
    ("\\frac{2}{1005}", "答案是 $\\frac{2}{1005}$。", True),
    ("1 \\pm \\sqrt{19}", "La respuesta es $1 \\pm \\sqrt{19}$.", True),  # Spanish
    ("288 \\pi", "Donc la réponse finale est $288 \\pi$.", True),  # `finale`
    ("5", "Die Antwort ist 5.", True),  # German
    ("5", "Ответ: $5$.", True),  # Russian
    ("\\frac 34", "Quindi otteniamo $\\frac 34$.", True),  # an unknown phrase: the final math segment, whole
    ("12", "So the answer is $12.$\n\nPortanto, a resposta é 13.", False),  # the last statement says 13
    ("34", "La réponse est $\\frac 34$.", False),  # not 34
    ("80", "答えは $15x - 80$ です。", False),  # not its last number
    ("5", "La réponse n'est pas 5.", False),  # negated
    ("5", "Die Antwort ist nicht 5.", False),
    ("5", "答案不是 5。", False),
    ("\\frac 34", "Quindi otteniamo $\\frac 34$ e poi 7.", False),  # a number after the segment: not it
]

# 8. A comma inside an interval or tuple separates; `1,000` elsewhere is still a thousand
BRACKET_COMMAS = [
    ("(2,12) \\cup (12,102)", "The answer is $\\boxed{(2,12) \\cup (12,102)}$.", True),
    ("(2,12) \\cup (12,102)", "The answer is $\\boxed{(2,\\, 12) \\cup (12,\\, 102)}$.", True),  # spaced commas
    ("(2,12) \\cup (12,102)", "The answer is $(2, 12) \\cup (12, 102)$.", True),  # HEAD: the gold read as 12102
    ("(2,12) \\cup (12,102)", "The answer is $\\boxed{(2,12) \\cup (12,103)}$.", False),  # HEAD: 12102 vs 12103
    ("(2,12) \\cup (12,102)", "The answer is $\\boxed{(2,12) \\cup (12102, 12103)}$.", False),
    ("(2,12) \\cup (12,102)", "The answer is $\\boxed{(2,12) \\cup \\{12102\\}}$.", False),  # HEAD read it so
    ("1000", "The answer is $\\boxed{1,000}$.", True),  # a thousands separator outside brackets
    ("12102", "The answer is $\\boxed{12,102}$.", True),
    ("1000", "The answer is $\\boxed{1,001}$.", False),
]


@pytest.mark.parametrize("gold, completion, expected", SUPERSCRIPTS + UNICODE_FRACTIONS + OVER + SOLUTION_LISTS
                         + ANSWER_TAG + FINAL_BLOCK + OTHER_LANGUAGE + BRACKET_COMMAS)
def test_heldout2_families(gold, completion, expected):
    assert rewarded(gold, completion) is expected


@pytest.mark.parametrize("text, answer, rule", [
    ("<think>\n$\\boxed{1}$\n</think>\n<answer> 7 </answer>", "7", "answer_tag"),
    ("Therefore,\n\\begin{align*}\nx &= 8 + 3 \\\\\n&= 11.\n\\end{align*}", "11", "final_block"),
    ("So\n\\begin{align*}\nx &= 8 + 3 \\nonumber \\\\\n&= 11 \\tag{1}\n\\end{align*}.", "11", "final_block"),
    ("La réponse est $\\frac 34$.", "\\frac 34", "answer_is"),
    ("Portanto, a resposta é 13.", "13", "answer_is"),
    ("Quindi otteniamo $\\frac 34$.", "\\frac 34", "sentence_math"),
])
def test_extract_heldout2_forms(text, answer, rule):
    assert extract(text) == (answer, rule)


@pytest.mark.parametrize("raw, expected", [
    ("3³", "3^{3}"), ("x⁻¹", "x^{-1}"), ("4⅔", "\\frac{14}{3}"), ("¹⁴⁄₃", "\\frac{14}{3}"), ("14⁄3", "\\frac{14}{3}"),
    ("{14 \\over 3}", "\\frac{14}{3}"), ("\\sqrt{a \\over b}", "\\sqrt{\\frac{a}{b}}"),
    ("{n \\choose k}", "\\binom{n}{k}"),
    ("x \\in \\{1, -2\\}", "\\{1, -2\\}"), ("x = 3, x = 5 or x = 7", "3, 5, 7"), ("x = 1, y = 2", "x = 1, y = 2"),
    ("(2,12) \\cup (12,102)", "(2,12) \\cup (12,102)"), ("1,000", "1000"), ("(12,\\! 102)", "(12,102)"),
])
def test_heldout2_normal_forms(raw, expected):
    assert normalize(raw).text == expected


def test_unit_power_is_kept():
    assert normalize("15 cm²").unit_power == 2 and normalize("15\\mbox{ cm}^2").unit_power == 2
    assert normalize("15 cm").unit_power is None and normalize("15").text == "15"
