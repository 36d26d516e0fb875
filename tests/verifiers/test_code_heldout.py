"""Regression tables for the code verifier's reading of a completion, after the held-out code set
(bench/cases/README.md, "Held-out code set"; `bench/code_heldout.py`): where the answer stands (after `</think>`,
inside `<answer>`), fences indented as Markdown list items, and the two policy rows (Q1, Q2) pinned as they are read.
Each row: a small literal completion, whether it must be rewarded, and why."""

import pytest

from rlvr.verifiers.code import CodeOptions, verify

HE_PREFIX = 'from typing import List\n\n\ndef add(xs: List[int]) -> int:\n    """Sum of xs."""\n'
HE_TESTS = "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n"
HE = {"tests": HE_TESTS, "entry_point": "add", "setup": "", "prompt_prefix": HE_PREFIX}
MBPP = {"tests": "assert square(3) == 9\nassert square(-2) == 4", "entry_point": None, "setup": "", "prompt_prefix": ""}
ADD = "```python\ndef add(xs):\n    return sum(xs)\n```"
SQUARE = "```python\ndef square(x):\n    return x * x\n```"

# 1. The reasoning before `</think>` is not the answer: a right draft there was rewarded whatever followed it
#    (the last block defining the entry point was taken from anywhere), so these were false rewards
THINK_FALSE = [
    (HE, f"<think>\n{ADD}\n</think>\nI could not solve it.", "no_answer"),  # the answer part is prose
    (HE, f"<think>\n{ADD}\n</think>\ndef add(xs):\n    return 0\n", "wrong"),  # a wrong unfenced def after it
    (HE, f"<think>\n{ADD}\n</think>\n    return 0\n", "wrong"),  # a wrong body continuation after it
    (HE, f"<think>\n{ADD}\n</think>\n```python\ndef total(xs):\n    return sum(xs)\n```", "wrong"),  # other name
    (MBPP, f"<think>\n{SQUARE}\n</think>\nNo idea.", "no_answer"),  # MBPP: prose after the think
    (MBPP, f"<think>\n{SQUARE}\n</think>\n```python\ndef sq(x):\n    return x * x\n```", "wrong"),  # other name
    (MBPP, f"{SQUARE}\n</think>\nNo idea.", "no_answer"),  # R1-distill: `<think>` was in the prompt
]

# 2. ...and the answer after `</think>` is read alone: unfenced code there was a SyntaxError with the think in front
THINK_MISSED = [
    (HE, "<think>\nsum them\n</think>\ndef add(xs):\n    return sum(xs)\n", "correct"),  # an unfenced def
    (HE, "<think>\nsum them\n</think>\n    return sum(xs)\n", "correct"),  # an unfenced body continuation
    (HE, "<think>\n```python\ndef add(xs):\n    return 0\n```\nNo.\n</think>\ndef add(xs):\n    return sum(xs)\n",
     "correct"),  # a wrong fenced draft in the think, the right unfenced answer after it
    (MBPP, "sum\n</think>\n\ndef square(x):\n    return x * x", "correct"),  # closing tag only, unfenced answer
]

# 3. R1-zero formats: the code inside `<answer>...</answer>` (the math verifier reads the tag the same way)
ANSWER_TAG = [
    (MBPP, "<think>plan</think>\n<answer>\ndef square(x):\n    return x * x\n</answer>", "correct"),  # unfenced
    (HE, "<answer>\n    return sum(xs)\n</answer>", "correct"),  # a body continuation inside the tag
    (MBPP, f"<think>plan</think>\n<answer>\n{SQUARE}\n</answer>", "correct"),  # fenced: read as before
    (MBPP, "<answer>\ndef square(x):\n    return x + x\n</answer>", "wrong"),  # a wrong one stays wrong
]

# 4. A fence inside a Markdown list item is indented with it: its code was an IndentationError
INDENTED_FENCE = [
    (MBPP, "1. Define it:\n   ```python\n   def square(x):\n       return x * x\n   ```\n2. Done.", "correct"),
    (HE, "- The function:\n  ```python\n  def add(xs):\n      return sum(xs)\n  ```", "correct"),
    (MBPP, "1. Define it:\n   ```python\n   def square(x):\n       return x + x\n   ```", "wrong"),  # still graded
]

# 5. Tags that are code, not markup, are left alone: inside a fenced block they are a string of the program
TAGS_IN_CODE = [
    ({"tests": "assert strip_think('<think>a</think>b') == 'b'", "entry_point": None, "setup": "",
      "prompt_prefix": ""},
     "```python\ndef strip_think(s):\n    return s.split('</think>')[-1]\n```", "correct"),
    ({"tests": "assert tag('x') == '<answer>x</answer>'", "entry_point": None, "setup": "", "prompt_prefix": ""},
     "```python\ndef tag(s):\n    return '<answer>' + s + '</answer>'\n```", "correct"),
]

# 5b. Found by a user audit of 5.: the R1-zero template's spaces (`</think> <answer> def f...`) were read as
#     indentation, a draft's fence left open hid the `</think>` after it, and `<answer>` in a sentence after the
#     solution was taken for the tag
TAG_LAYOUT = [
    (HE, "<think>sum</think> <answer> def add(xs):\n    return sum(xs)\n</answer>", "correct"),
    (HE, "<think>sum</think> def add(xs):\n    return sum(xs)\n", "correct"),
    (HE, "<think>hmm</think> <answer> I don't know </answer>", "no_answer"),  # prose, not an IndentationError
    (HE, "<think>\nDraft:\n```python\ndef add(xs):\n    return 0\n</think>\n" + ADD, "correct"),  # open draft fence
    (HE, "<think>\nDraft:\n```python\ndef add(xs):\n    return sum(xs)\n</think>\n```python\ndef add(xs):\n"
         "    return 0\n```", "wrong"),  # ...and a wrong answer after it stays wrong
    (HE, f"<think>x</think>\n{ADD}\nWrap answers in <answer> tags.", "correct"),  # a tag named in a sentence
    (MBPP, "<think>x</think>\n<answer>\ndef square(x):\n    return x * x", "correct"),  # open tag on its own line
]

# 6. Policy rows of the held-out set, pinned as the verifier reads them (docs/verifiers.md): the set labels both
#    false, a lenient grader rewards both. Q1, an unclosed think, has no answer (as the blind set labels it too, and
#    as the math verifier reads it; option `read_unclosed_think` reads it whole); Q2 is rewarded
POLICY = [
    (MBPP, f"<think>\nPlan.\n{SQUARE}\nLet me double-check with the example:", "no_answer"),  # Q1: unclosed think
    (HE, "```python\nreturn sum(xs)\n```", "correct"),  # Q2: a body at column 0 is indented into the function
]


@pytest.mark.parametrize("reference, completion, status",
                         THINK_FALSE + THINK_MISSED + ANSWER_TAG + INDENTED_FENCE + TAGS_IN_CODE + TAG_LAYOUT + POLICY)
def test_where_the_answer_stands(reference, completion, status):
    assert verify(completion, reference).status == status


def test_the_verdict_says_which_part_was_read():
    assert verify(f"<think>\n{SQUARE}\n</think>\nNo idea.", MBPP).detail["read"] == "after </think>"
    tagged = verify("<answer>\ndef square(x):\n    return x * x\n</answer>", MBPP)
    assert tagged.detail["read"] == "completion, <answer>"
    assert verify(SQUARE, MBPP).detail["read"] == "completion"
    nothing_after = verify(f"<think>\n{SQUARE}\n</think>\n\n", MBPP)  # a right draft, no answer after the trace
    assert (nothing_after.status, nothing_after.detail["rule"]) == ("no_answer", "nothing_after_think")
    assert verify(f"{SQUARE}\n</think>", MBPP).status == "no_answer"  # R1-distill: the <think> was in the prompt
    lenient = verify(f"<think>\n{SQUARE}\n</think>\n\n", MBPP, CodeOptions(read_unclosed_think=True))
    assert (lenient.status, lenient.detail["read"]) == ("correct", "completion")
