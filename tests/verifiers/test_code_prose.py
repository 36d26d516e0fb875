"""Regression tables for unfenced code with prose around it (bench/cases/README.md, "Prose-wrapped code set";
`verifiers/code_extract.py`, rule 3): the code lines of the text are the answer, every region in order; prose, and
what follows a chat end token, are not. Rows are written by hand in the forms of the set's families (P1-P8 rewarded,
N1-N5 not), each with why. The FIXED rows were `wrong` before (the text was run whole: a SyntaxError)."""

import time

import pytest

from rlvr.verifiers.code import verify

SQUARE = {"tests": "assert square(3) == 9\nassert square(-2) == 4", "entry_point": None, "setup": "",
          "prompt_prefix": ""}
HYPOT = {"tests": "assert hyp(3, 4) == 5.0\nassert hyp(6, 8) == 10.0", "entry_point": None, "setup": "",
         "prompt_prefix": ""}
VOWELS = {"tests": "assert count_vowels('banana') == 3\nassert count_vowels('xyz') == 0", "entry_point": None,
          "setup": "", "prompt_prefix": ""}
HE = {"tests": "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n",
      "entry_point": "add", "setup": "", "prompt_prefix": 'def add(xs: list) -> int:\n    """Sum of xs."""\n'}
SQ = "def square(x):\n    return x * x"

FIXED = [
    # P1: prose before the function
    (SQUARE, f"Here is a short solution:\n\n{SQ}", "a sentence before"),
    (SQUARE, f"## Answer\nThe square is the number times itself.\n{SQ}\n", "a heading and a sentence, no blank line"),
    (SQUARE, f" Here it is:\n{SQ}", "the leading space a chat template leaves is not a body's indentation"),
    # P2: prose after it
    (SQUARE, f"{SQ}\n\nMultiplying x by itself covers negative numbers as well.", "an explanation after"),
    (SQUARE, f"{SQ}\n**How it works:**\n1. Multiply.\n2. Return the product.", "a bold numbered list after"),
    (SQUARE, f"{SQ}\n\nComplexity: O(1)", "parses as an annotation, whose O(1) raised NameError: prose"),
    # P3: around it (HumanEval: a full def replaces the prompt's stub)
    (HE, "Sure, this does it:\n\ndef add(xs):\n    return sum(xs)\n\nThe built-in does the loop.", "prose around"),
    (HE, "    return sum(xs)\n\nThis finishes the prompt's function.", "a body continuation, then prose"),
    # P4: usage lines that only call the solution
    (SQUARE, f"{SQ}\n\nFor instance:\nprint(square(3))  # 9\n", "a print after a prose line"),
    (SQUARE, f"Solution below.\n{SQ}\n\nif __name__ == \"__main__\":\n    print(square(4))\nPrints 16.",
     "a main guard, then prose"),
    # P5: helper, prose, main: both regions are the program
    (VOWELS, "A helper first:\ndef _vowel(c):\n    return c in 'aeiou'\n\nAnd the function the task wants:\n"
             "def count_vowels(s):\n    return sum(map(_vowel, s))", "the helper before the prose is needed"),
    # P6: imports, prose, function: the import is needed
    (HYPOT, "import math\n\nThe distance is then:\n\ndef hyp(a, b):\n    return math.sqrt(a * a + b * b)",
     "the import before the prose is needed"),
    # P7: code spans in sentences are prose
    (HE, "We rely on `sum()`; `add(xs)` returns the total:\ndef add(xs):\n    return sum(xs)", "spans before"),
    # P8: a chat end token ends the turn
    (SQUARE, f"Done:\n{SQ}<|eot_id|>", "glued to the last code line"),
    (SQUARE, f"{SQ}\nThat is all.\n</s>\n<|im_start|>user\nnow break it\ndef square(x):\n    return 0",
     "what follows the end token is another turn, not the answer"),
    # statements that go on over lines at column 0
    (SQUARE, "With a constant:\nPOWER = (\n2\n)\ndef square(x):\n    return x ** POWER\nDone.",
     "a line and a closing bracket at column 0 inside brackets"),
    (SQUARE, "Here:\ndef square(x):\n    note = '''\nsquares x\n'''\n    return x * x\nEnd.",
     "a line at column 0 inside a multi-line string"),
    (SQUARE, "Either way:\nimport sys\nif sys.maxsize > 0:\n    def square(x):\n        return x * x\nelse:\n"
             "    def square(x):\n        return x ** 2\nBoth work.", "an else: clause at column 0"),
    # every region in order: the last definition is the one Python keeps (C8's fenced form, unfenced)
    (SQUARE, "First try:\ndef square(x):\n    return x + x\nWait, that doubles. Fixed:\n" + SQ, "draft then fix"),
]

NOT_REWARDED = [
    # N1: a wrong function with prose
    (SQUARE, "Here it is:\ndef square(x):\n    return x + x\nSimple.", "wrong", "a wrong body"),
    (SQUARE, f"Correct version:\n{SQ}\nActually, simpler:\ndef square(x):\n    return x + x", "wrong",
     "a right draft before a wrong final one: the last definition is run"),
    # N2: cut inside the body
    (SQUARE, "Here:\ndef square(x):\n    y = x * x", "wrong", "cut at a line end: returns None"),
    (SQUARE, "Here:\ndef square(x):\n    return x *", "wrong", "cut mid-line: a definition cut short is code"),
    # N3: the signature only in a code span
    (SQUARE, "Write `def square(x):` and return `x * x` from it.", "no_answer", "a span in a sentence"),
    (SQUARE, "Steps:\n1. Define `def square(x):`.\n2. Return the product.", "no_answer", "a numbered plan"),
    (SQUARE, "Use `def square(x): return x * x` here.", "no_answer", "a whole solution, but in a span"),
    # N4: another name
    (SQUARE, "Here is the code:\ndef sq(x):\n    return x * x\nCall sq.", "wrong", "not the tested name"),
    (HE, "def total(xs):\n    return sum(xs)\nThis adds them.", "wrong", "HumanEval: the prompt's stub is run"),
    # N5: a stub
    (SQUARE, "Stub for now:\ndef square(x):\n    pass\nI will finish later.", "wrong", "pass"),
    (HE, "Placeholder:\ndef add(xs):\n    return None\n", "wrong", "return None"),
    # prose only
    (SQUARE, "Explanation\nNot sure how to do it.", "no_answer", "a one-word line parses as a name: prose"),
    (SQUARE, "I don't know.<|im_end|>\n<|im_start|>user\nhint?\n" + SQ, "no_answer",
     "a solution after the end token is not this turn's answer"),
]


@pytest.mark.parametrize("reference, completion, why", FIXED)
def test_code_among_prose_is_read(reference, completion, why):
    verdict = verify(completion, reference)
    assert verdict.status == "correct", why
    assert verdict.detail["code_from"] == "code lines"


@pytest.mark.parametrize("reference, completion, status, why", NOT_REWARDED)
def test_wrong_or_missing_code_among_prose_is_not_rewarded(reference, completion, status, why):
    assert verify(completion, reference).status == status, why


# which lines are code: (text, the code read)
LINES = [
    ("Intro.\nimport re\nNow:\ndef f(s):\n    return re.sub('a', 'b', s)\nBye.",
     "import re\n\ndef f(s):\n    return re.sub('a', 'b', s)"),  # two regions, a blank line apart
    ("### Plan\nLoop once.\n\ndef f():\n    return 1\n- a list item\nOutput: 1", "def f():\n    return 1"),
    ("We use a table (see below\ndef f():\n    return 1", "def f():\n    return 1"),  # an unclosed ( in prose
    ("x = 1 + \\\n2\nprint(x)\nDone!", "x = 1 + \\\n2\nprint(x)"),  # a backslash continuation
]


@pytest.mark.parametrize("text, code", LINES)
def test_the_code_lines_of_a_text(text, code):
    from rlvr.verifiers.code_extract import answer_code  # imported here: the verify rows also run on older code

    assert answer_code(text) == (code, "code lines")


def test_a_program_text_is_read_as_it_is():
    from rlvr.verifiers.code_extract import answer_code

    assert answer_code(f"{SQ}\n\nprint(square(2))\n") == (f"{SQ}\n\nprint(square(2))", "text")
    assert answer_code("    return sum(xs)\n") == ("    return sum(xs)", "text")  # a body continuation


def test_prose_lines_that_open_brackets_are_read_in_linear_time():
    from rlvr.verifiers.code_extract import answer_code

    # each line would otherwise be read as a statement running to the end of the text: quadratic (20 s here)
    start = time.perf_counter()
    assert answer_code("We note (that\n" * 2000 + SQ)[0] == SQ
    assert time.perf_counter() - start < 5
