"""Answer extraction and normalisation, table by table."""

import pytest

from rlvr.verifiers.math import MathOptions, gold_answer, verify
from rlvr.verifiers.math_answer import extract
from rlvr.verifiers.math_normalize import normalize
from rlvr.verifiers.math_words import words_value

EXTRACT = [
    ("so \\boxed{42}.", "42", "boxed"),  # plain box
    ("\\boxed{\\frac{a}{b}} done", "\\frac{a}{b}", "boxed"),  # nested braces
    ("\\fbox{7}", "7", "boxed"),  # fbox
    ("\\boxed 5.", "5", "boxed"),  # box without braces
    ("first \\boxed{1} then \\boxed{2}", "2", "boxed"),  # the last box is the answer
    ("work\n#### 1,234", "1,234", "gsm8k"),  # GSM8K marker
    ("The answer is $\\frac{3}{4}$.", "\\frac{3}{4}", "answer_is"),  # dollar span
    ("Final answer: 12 apples", "12 apples", "answer_is"),  # final answer colon
    ("Final Answer: The final answer is $7$. I hope it is correct.", "7", "answer_is"),  # Minerva: no lead-in words
    ("The answer is not 5.", None, "negated"),  # a negated answer is no answer (not a fallback to 5)
    ("we get 3 and then 4.5 in total.", "9/2", "sentence"),  # the final sentence's last number
    ("So the answer comes to forty-two.", "42", "sentence"),  # number words
    ("we get 3 and then 4.5 in total, and then we move on to the", None, "none"),  # cut off well after a number
    ("That means he walks 6*5", None, "none"),  # cut off mid-calculation: no answer was given
    ("First 2 + 3 = 5, then we get 18 in the end", "18", "sentence"),  # unpunctuated, a number near the end
    # Unpunctuated final statements (a new user's report): a reduced fraction ends a statement like a plain number
    ("1/2", "1/2", "sentence"),  # the whole completion is the answer
    ("So x = 3/4", "3/4", "sentence"),  # a named value as the last statement
    ("x = 2/3 cups", "2/3", "sentence"),  # a trailing unit word
    ("So x = -3/4", "-3/4", "sentence"),  # a signed fraction
    ("x=3/4", "3/4", "sentence"),  # no spaces around the `=`
    # ...but a text that ends inside a calculation states nothing
    ("Let me verify: 2 + 1/", None, "none"),  # cut after a `/`
    ("x = 3/4 =", None, "none"),  # cut after an `=`
    ("x = 3/4 +", None, "none"),  # cut after an operator
    ("x = (3/4", None, "none"),  # cut inside an open bracket
    ("x = (3", None, "none"),  # likewise for a plain number
    ("His pace was 2/2", None, "none"),  # a fraction not in lowest terms is a step (`2/2 = 1`), not a result
    ("so 2 + 1/2", None, "none"),  # the fraction is an operand of `+`
    ("That means he walks 6 * 5", None, "none"),  # a spaced operator: 5 is an operand, not the result
    ("So we get 2 + 3", None, "none"),  # likewise for `+`
    ("```python\nprint(18)\n```", None, "none"),  # code blocks hold no answer
    ("<think>\\boxed{1}</think>\nSo \\boxed{2}.", "2", "boxed"),  # the answer part after </think>
    ("no digits here.", None, "none"),  # nothing
    ("\\boxed{unclosed", None, "unclosed_box"),  # an unclosed box is not an answer
    ("so 3.\n\\boxed{((3", None, "unclosed_box"),  # ...and no fallback to an earlier number either
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
    ("x\\,=\\,3.", "3"),  # spacing commands, trailing period, a named value
    ("10,\\!080", "10080"),  # LaTeX thin-space thousands separator
    ("0.\\overline{3}", "\\frac{1}{3}"),  # repeating decimal to its exact fraction
    ("5.4 \\text{ cents}", "5.4"),  # any trailing text unit
    ("2\u221a113", "2\\sqrt{113}"),  # unicode root
]

WORDS = [
    ("forty-two", 42), ("one half", 0.5), ("a dozen", 12), ("one hundred five", 105), ("1.45 million", 1450000),
    ("3 degrees below zero", -3), ("two thousand twenty", 2020), ("no number", None),
]


@pytest.mark.parametrize("text, value", WORDS)
def test_words_value(text, value):
    assert words_value(text) == value


@pytest.mark.parametrize("text, answers, rule", EXTRACT)
def test_extract(text, answers, rule):
    assert extract(text) == (answers, rule)


UNCLOSED_THINK = [
    "<think>\nSo the total is $\\boxed{5}$. Let me double-check the second step",  # cut after a right box
    "<think>\nThe answer is 5.\nLet me double-check the",  # cut after a stated answer
    "<think>\nFirst\n</think>\nThe answer is \\boxed{4}.\n<think>\nHmm, is it \\boxed{5}",  # a new trace, cut
]


@pytest.mark.parametrize("completion", UNCLOSED_THINK)
def test_an_unclosed_think_has_no_answer(completion):
    """A `<think>` that never closes is a trace cut before its answer: no answer (a right box in it was rewarded);
    `read_unclosed_think` reads it whole, as before. The code verifier reads it the same way (`think.py`)."""
    verdict = verify(completion, "5")
    assert (verdict.status, verdict.detail["rule"]) == ("no_answer", "unclosed_think")
    assert extract(completion, read_unclosed_think=False) == (None, "unclosed_think")
    assert verify(completion, "5", MathOptions(read_unclosed_think=True)).status == "correct"


NOTHING_AFTER_THINK = [
    "<think>\nSo the total is $\\boxed{5}$.\n</think>",  # the answer only in the trace
    "<think>\nThe answer is 5.\n</think>\n\n",  # blank lines after it are nothing
    "Adding them, \\boxed{5}.\n</think>",  # R1-distill: the opening tag was in the prompt
]


@pytest.mark.parametrize("completion", NOTHING_AFTER_THINK)
def test_a_trace_with_nothing_after_it_has_no_answer(completion):
    """The answer comes after `</think>`; vLLM's reasoning parsers give this output no content. Was read whole:
    a box left in the trace was rewarded. `read_unclosed_think` reads it whole, as for an unclosed trace."""
    verdict = verify(completion, "5")
    assert (verdict.status, verdict.detail["rule"]) == ("no_answer", "nothing_after_think")
    assert verify(completion, "5", MathOptions(read_unclosed_think=True)).status == "correct"


def test_a_closed_think_and_other_texts_are_read_as_before():
    assert verify("<think>\n$\\boxed{4}$?\n</think>\nSo \\boxed{5}.", "5").status == "correct"
    assert verify("I would rather not <think> aloud: \\boxed{5}", "5").status == "correct"  # a tag in a sentence
    assert verify("steps\n</think>\n\\boxed{5}", "5").status == "correct"  # `<think>` was in the prompt (R1)
    assert gold_answer("<think>\nworking \\boxed{5}") == "5"  # a gold is read whole
    assert gold_answer("<think>\nworking \\boxed{5}\n</think>") == "5"


def test_a_gold_word_named_in_the_final_sentence():
    assert extract("Navin earns 4.5.\nSo Navin would earn the most.", gold_word="Navin") == ("Navin", "sentence_word")


@pytest.mark.parametrize("raw, expected", NORMALIZE)
def test_normalize(raw, expected):
    assert normalize(raw).text == expected


def test_percent_is_remembered():
    assert normalize("50\\%").percent and not normalize("50").percent


def test_gold_solution_is_reduced_to_its_answer():
    assert gold_answer("Natalia sold 48/2 = 24 clips.\n#### 72") == "72"
    assert gold_answer("so $\\boxed{\\frac{1}{2}}$") == "\\frac{1}{2}"
    assert gold_answer("18") == "18"
