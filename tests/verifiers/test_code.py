"""Code verifier: reference formats, code extraction, program assembly, and the real datasets when present."""

import gzip
import json
import os

import pytest

from rlvr.verifiers.code import assemble, verify
from rlvr.verifiers.code_extract import extract_code
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.pool import VerifierPool

DATA = "/work/shared/data"
HE_PREFIX = 'from typing import List\n\n\ndef add(xs: List[int]) -> int:\n    """Sum of xs."""\n'
HE_TESTS = "METADATA = {}\n\ndef check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n"
HE_REF = {"tests": HE_TESTS, "entry_point": "add", "setup": "", "prompt_prefix": HE_PREFIX}
MBPP_REF = {"tests": "assert square(3) == 9\nassert square(-2) == 4", "entry_point": None, "setup": "",
            "prompt_prefix": ""}

EXTRACT = [
    ("```python\nx = 1\n```", "x = 1"),  # one python block
    ("```py\na\n```\ntext\n```python\nb\n```", "b"),  # the last python block
    ("```\nplain\n```", "plain"),  # a fence without language
    ("```js\nno\n```\n```\nyes\n```", "yes"),  # no python fence: the last fence
    ("def f():\n    return 1", "def f():\n    return 1"),  # no fence: raw text
    ("```python\ndef f():\n    return 1", "def f():\n    return 1"),  # unclosed fence (truncated sample)
]

COMPLETIONS = [
    ("    return sum(xs)\n", HE_REF, "correct"),  # HumanEval body continuation
    ("```python\ndef add(xs):\n    return sum(xs)\n```", HE_REF, "correct"),  # full definition in a fence
    ("```python\nreturn sum(xs)\n```", HE_REF, "correct"),  # flush-left body is indented into the function
    ("    return sum(xs) + 1\n", HE_REF, "wrong"),  # wrong answer
    ("    return sum(xs\n", HE_REF, "wrong"),  # syntax error
    ("```python\ndef plus(xs):\n    return sum(xs)\n```", HE_REF, "wrong"),  # only a helper: the stub stays
    ("```python\ndef square(x):\n    return x * x\n```", MBPP_REF, "correct"),  # MBPP asserts
    ("```python\ndef square(x):\n    return abs(x) * 2\n```", MBPP_REF, "wrong"),  # MBPP wrong
    ("```python\ndef sq(x):\n    return x * x\n```", MBPP_REF, "wrong"),  # MBPP wrong function name
    ("", MBPP_REF, "no_answer"),  # empty completion
]


@pytest.mark.parametrize("completion, code", EXTRACT)
def test_extract_code(completion, code):
    assert extract_code(completion) == code


SOLUTION = "def f(x):\n    return x"
# a block after the solution (usage, asserts, output) used to win, being the last: as evalplus, the solution wins
EXTRACT_SOLUTION = [
    (f"```python\n{SOLUTION}\n```\nUsage:\n```python\nprint(f(1))\n```", "f", SOLUTION),  # a usage block
    (f"```python\n{SOLUTION}\n```\nTests:\n```python\nassert f(1) == 1\n```", "f", SOLUTION),  # asserts only
    (f"```\n{SOLUTION}\n```\nOutput:\n```\nFalse\n```", None, SOLUTION),  # untagged output; no entry point known
    (f"```python\ndef f(x):\n    return 0\n```\nFixed:\n```python\n{SOLUTION}\n```", "f", SOLUTION),  # last of two
    (f"```python\n{SOLUTION}\n```\n```python\ndef g():\n    pass\n```", "f", SOLUTION),  # the entry point's block
    (f"```python\n{SOLUTION}\n```\n```python\ndef g():\n    pass\n```", None, "def g():\n    pass"),  # else last def
    ("```python\nx = 1\n```\n```bash\nls\n```", "f", "x = 1"),  # no definition anywhere: the last python block
]


@pytest.mark.parametrize("completion, name, code", EXTRACT_SOLUTION)
def test_the_block_defining_the_solution_wins_over_later_blocks(completion, name, code):
    assert extract_code(completion, name) == code


HE_SOLUTION = "```python\ndef add(xs):\n    return sum(xs)\n```"


@pytest.mark.parametrize("completion, reference", [
    (HE_SOLUTION + "\nExample usage:\n```python\nprint(add([1, 2]))  # 3\n```", HE_REF),  # HumanEval: entry point
    (HE_SOLUTION + "\nOutput:\n```\n3\n```", HE_REF),  # an untagged output block after the code
    ("```python\ndef square(x):\n    return x * x\n```\nUsage:\n```python\nprint(square(3))\n```", MBPP_REF),  # MBPP
])
def test_a_solution_followed_by_a_usage_block_is_correct(completion, reference):
    assert verify(completion, reference).status == "correct"


# prose is no_answer, as docs/verifiers.md says for "no code"; broken code, fenced or not, stays wrong
PROSE = [
    ("I am not sure how to solve this problem.", True),  # the audit's case: was `wrong`, a SyntaxError
    ("I cannot do this.\nSorry!", True),
    ("    return sum(xs", False),  # a body continuation cut short: broken code
    ("def f(:\n    return 1", False),  # a broken definition
    ("The function is:\n\ndef f(x):\n    return x", False),  # prose around code: code (wrong, not no_answer)
    ("x", False),  # reads as Python
    ("return x + 1", False),  # a flush-left body
]


@pytest.mark.parametrize("text, prose", PROSE)
def test_prose_is_told_from_code(text, prose):
    from rlvr.verifiers.code_extract import is_prose

    assert is_prose(text) is prose


def test_a_prose_only_completion_is_no_answer_and_a_broken_block_is_wrong():
    prose = verify("I am not sure how to solve this problem.", MBPP_REF)
    assert (prose.status, prose.detail["rule"]) == ("no_answer", "prose_only")
    fenced = verify("```python\nI am not sure how to solve this problem.\n```", MBPP_REF)
    assert (fenced.status, fenced.detail["rule"]) == ("wrong", "program_raised")  # a block is meant as code


@pytest.mark.parametrize("completion, reference, status", COMPLETIONS)
def test_completions(completion, reference, status):
    assert verify(completion, reference).status == status


def test_assemble_continuation_and_full_definition():
    assert assemble("    return 1\n", HE_PREFIX, "add")[1] == "prefix+body"
    assert assemble("def add(xs):\n    return 1\n", HE_PREFIX, "add")[1] == "prefix+code"
    assert assemble("def f(): pass", "", None) == ("def f(): pass", "code")


def test_setup_runs_before_program_and_tests():
    ref = {"tests": "assert f() == math.pi", "entry_point": None, "setup": "import math", "prompt_prefix": ""}
    assert verify("def f():\n    return math.pi", ref).status == "correct"


def test_prompt_helpers_come_from_the_trusted_prefix():
    prefix = 'def encode(s):\n    return s[::-1]\n\ndef decode(s):\n    """Inverse of encode."""\n'
    tests = "def check(candidate):\n    assert candidate(encode('abc')) == 'abc'\n"
    ref = {"tests": tests, "entry_point": "decode", "setup": "", "prompt_prefix": prefix}
    assert verify("    return s[::-1]\n", ref).status == "correct"
    cheat = "```python\ndef encode(s):\n    return s\n\ndef decode(s):\n    return s\n```"
    assert verify(cheat, ref).status == "wrong"  # redefining the helper does not change the judge's copy


def test_function_shadowing_a_builtin_is_found():
    ref = {"tests": "assert sum(2, 3) == 5", "entry_point": None, "setup": "", "prompt_prefix": ""}
    assert verify("def sum(a, b):\n    return a + b", ref).status == "correct"


def test_program_cannot_redefine_builtins_the_tests_use():
    ref = {"tests": "assert set(f()) == set([1, 2])", "entry_point": None, "setup": "", "prompt_prefix": ""}
    assert verify("def set(*a):\n    return 0\ndef f():\n    return [3]", ref).status == "wrong"


def test_objects_stay_in_the_sandbox_as_handles():
    ref = {"tests": "assert total([Pair(1, 2), Pair(3, 4)]) == 10", "entry_point": None, "setup": "",
           "prompt_prefix": ""}
    prog = "class Pair:\n    def __init__(s, a, b):\n        s.a, s.b = a, b\ndef total(ps):\n    return sum(p.a + p.b for p in ps)"
    assert verify(prog, ref).status == "correct"


_TREE = "class Node:\n    def __init__(s, v):\n        s.v, s.left = v, None\n"


def test_setup_that_builds_the_programs_objects_runs_after_the_program():
    """MBPP/367 and /927: setup builds trees of the solution's own Node class; the tests pass them back."""
    setup = "root = Node(1)\nroot.left = Node(2)\nleaf = Node(7)"
    ref = {"tests": "assert depth(root) == 2\nassert depth(leaf) == 1", "entry_point": None, "setup": setup,
           "prompt_prefix": ""}
    depth = "def depth(n):\n    return 0 if n is None else 1 + depth(n.left)\n"
    assert verify(_TREE + depth, ref).status == "correct"
    assert verify(_TREE + depth.replace("1 + ", "2 + "), ref).detail["rule"] == "assertion_failed"
    missing = verify(depth, ref)  # no Node class: the setup cannot run
    assert (missing.status, missing.detail["rule"]) == ("wrong", "program_raised") and "Node" in missing.detail["error"]


def test_tests_may_read_program_data_but_its_objects_only_as_opaque_handles():
    ref = {"tests": "assert f() == LIMIT", "entry_point": None, "setup": "", "prompt_prefix": ""}
    assert verify("LIMIT = 3\ndef f():\n    return 3", ref).status == "correct"
    assert verify("LIMIT = 4\ndef f():\n    return 3", ref).status == "wrong"
    forged = "class Any:\n    def __eq__(s, o):\n        return True\nLIMIT = Any()\ndef f():\n    return 3"
    assert verify(forged, ref).status == "wrong"  # the judge compares a handle, never the program's __eq__


def test_tests_that_print_are_silent_and_other_threads_keep_their_stdout(capsys):
    import threading
    import time

    ref = {"tests": "print('noise')\nassert f() == 1\nprint('noise')", "entry_point": None, "setup": "",
           "prompt_prefix": ""}
    results = []
    slow = "import time\ndef f():\n    time.sleep(0.3)\n    return 1"
    workers = [threading.Thread(target=lambda: results.append(verify(slow, ref).status))
               for _ in range(3)]
    for w in workers:
        w.start()
    printed = 0
    while any(w.is_alive() for w in workers):  # this thread prints while the judges run
        print("main")
        printed += 1
        time.sleep(0.001)
    for w in workers:
        w.join()
    out = capsys.readouterr().out
    assert results == ["correct"] * 3 and "noise" not in out
    assert out.split() == ["main"] * printed  # none swallowed by a judge's redirect


def test_bad_reference_is_an_error():
    assert verify("def f(): pass", {"entry_point": "f"}).status == "error"
    assert verify("def f(): pass", "not a dict").status == "error"


GARBAGE = "def add(*a):\n    return 'garbage'\n"


# tests that cannot fail a program used to pass any program (reward 1.0, calls: 0)
@pytest.mark.parametrize("reference, says", [
    ({"tests": HE_TESTS}, "define check(candidate) but the reference has no 'entry_point'"),  # no entry_point
    ({"tests": HE_TESTS, "entrypoint": "add", "prompt_prefix": HE_PREFIX}, "keys: ['entrypoint', "),  # misspelled
    ({"tests": "x = 1\n"}, "contain no assert (or raise) statement"),  # nothing can fail
    ({"tests": "assert callable(add)"}, "never called a function of the program nor read one of its values"),
])
def test_tests_that_cannot_fail_a_program_are_a_bad_reference(reference, says):
    v = verify(GARBAGE, reference)
    assert (v.status, v.detail["rule"]) == ("error", "bad_reference") and says in v.detail["error"]


def test_tests_that_call_check_themselves_need_no_entry_point():
    ref = {"tests": HE_TESTS + "\ncheck(add)\n"}
    assert verify("def add(xs):\n    return sum(xs)", ref).status == "correct"
    assert verify(GARBAGE, ref).status == "wrong"


def test_tests_may_read_only_the_programs_values():
    assert verify("LIMIT = 3", {"tests": "assert LIMIT == 3"}).status == "correct"  # a read, no call
    assert verify("LIMIT = 4", {"tests": "assert LIMIT == 3"}).status == "wrong"


HE_ROW = {"task_id": "HumanEval/x", "prompt": HE_PREFIX, "canonical_solution": "    return sum(xs)\n", "test": HE_TESTS,
          "entry_point": "add"}
MBPP_ROW = {"task_id": 1, "text": "Write a function to square x.", "code": "def square(x):\n    return x * x",
            "test_list": ["assert square(3) == 9", "assert square(-2) == m.fabs(-4)"], "test_setup_code": "import math as m",
            "challenge_test_list": []}


def test_a_raw_dataset_row_is_a_reference():
    """HumanEval's `prompt` is the prefix, as `test` is the tests: a body-only completion was wrong (IndentationError)."""
    assert verify(HE_ROW["canonical_solution"], HE_ROW).status == "correct"
    assert verify("    return 0\n", HE_ROW).status == "wrong"
    assert verify(MBPP_ROW["code"], MBPP_ROW).status == "correct"  # test_list and test_setup_code


SQUARE = "def square(x):\n    return x * x"
TASK = "Write a function to square x."
CHAT = [{"role": "user", "content": "def square(x):\n"}]


# a raw row's `prompt` that is not Python: an MBPP row's (`test_list`) is its task statement, no prefix; elsewhere
# (HumanEval-style `test`) it is a bad reference, as the prefix it should hold would be lost without a word
@pytest.mark.parametrize("reference, says", [
    ({"prompt": TASK, "test_list": ["assert square(3) == 9"]}, None),  # sanitized MBPP: was an error
    ({"prompt": TASK, "test_list": ["assert math.isclose(square(0.5), 0.25)"], "test_imports": ["import math"]},
     None),  # sanitized MBPP's test_imports are setup (they were ignored: `math` undefined)
    ({"prompt": CHAT, "test_list": ["assert square(3) == 9"]}, None),  # chat messages, MBPP: the task, no prefix
    ({"prompt": TASK, "test": "assert square(3) == 9"}, "'prompt' is not Python (a task statement?)"),
    ({"prompt": CHAT, "test": "assert square(3) == 9"},  # was TypeError out of verify: `verifier_raised`
     "'prompt' is a list, not program text (chat messages?), so it cannot be the program's prefix: give the prefix "
     "as 'prompt_prefix'"),
    ({"prompt_prefix": ["import math"], "tests": "assert square(3) == 9"},
     "'prompt_prefix' must be a string of Python, got list"),  # was AttributeError out of verify
    ({"tests": "assert square(3) == 9", "test_imports": "import math"}, "'test_imports' must be a list of import"),
])
def test_a_prompt_that_is_not_python_is_no_prefix_for_mbpp_and_an_error_elsewhere(reference, says):
    v = verify(SQUARE, reference)
    if says is None:
        assert v.status == "correct", v.detail
    else:
        assert (v.status, v.detail["rule"]) == ("error", "bad_reference") and says in v.detail["error"]


ADD = "```python\ndef add(a, b):\n    return a + b\n```"


@pytest.mark.parametrize("tests, status", [
    (["assert add(1, 2) == 3", "assert add(0, 0) == 0"], "correct"),  # MBPP's test_list as shipped
    (["assert add(1, 2) == 3", "assert add(0, 0) == 1"], "wrong"),  # the list's second line fails
    (["import math", "assert add(1, 1) == math.floor(2.5)"], "correct"),  # one statement per item, joined in order
])
def test_tests_may_be_a_list_of_lines(tests, status):
    verdict = verify(ADD, {"tests": tests, "entry_point": None})
    assert verdict.status == status
    if status == "wrong":
        assert verdict.detail["test_line"] == 2  # line numbers count the list's items


@pytest.mark.parametrize("tests, says", [
    (["assert add(1, 2) == 3", 7], "must be a string or a list of strings; item 1 of the list is 7 (int)"),
    (3, "must be a string or a list of strings, got int"),
    ([], "'tests' is empty"),
    (None, "has no 'tests' (a string of test code, or a list of test lines)"),
])
def test_tests_of_another_shape_are_an_error_naming_the_shape(tests, says):
    verdict = verify(ADD, {"tests": tests})
    assert (verdict.status, verdict.detail["rule"]) == ("error", "bad_reference")
    assert says in verdict.detail["error"]


def _humaneval():
    path = os.path.join(DATA, "humaneval", "HumanEval.jsonl.gz")
    if not os.path.exists(path):
        pytest.skip("HumanEval data absent")
    return [json.loads(line) for line in gzip.open(path)]


def _ref(row):
    return {"tests": row["test"], "entry_point": row["entry_point"], "setup": "", "prompt_prefix": row["prompt"]}


def test_humaneval_canonical_solutions_pass_and_broken_ones_fail():
    rows = _humaneval()
    spec = [VerifierSpec(name="code")]
    jobs = [(r["canonical_solution"], _ref(r), spec) for r in rows]
    broken = [("    return None\n", _ref(r), spec) for r in rows]
    broken += [(r["canonical_solution"].replace("return ", "return not ", 1), _ref(r), spec) for r in rows[:40]]
    with VerifierPool(workers=2, timeout_s=30, prestart_math=False) as pool:
        good = pool.map(jobs)
        bad = pool.map(broken)
    failing = [r["task_id"] for r, (_, v) in zip(rows, good) if v["code"].status != "correct"]
    assert not failing
    passing = [i for i, (_, v) in enumerate(bad) if v["code"].status == "correct"]
    # `return not x` can still pass when the tests never look at that branch; allow a handful
    assert len([i for i in passing if i < len(rows)]) == 0 and len(passing) <= 3


def test_raw_humaneval_rows_score_their_canonical_bodies():
    rows = _humaneval()
    with VerifierPool(workers=2, timeout_s=30, prestart_math=False) as pool:
        results = pool.map([(r["canonical_solution"], r, [VerifierSpec(name="code")]) for r in rows])
    assert [r["task_id"] for r, (_, v) in zip(rows, results) if v["code"].status != "correct"] == []


def test_mbpp_reference_solutions_pass():
    path = os.path.join(DATA, "mbpp", "mbpp.jsonl")
    if not os.path.exists(path):
        pytest.skip("MBPP data absent")
    every = [json.loads(line) for line in open(path)]
    rows = every[10:110] + [r for r in every if r["test_setup_code"]]  # test split start; 367 and 927
    spec = [VerifierSpec(name="code")]
    jobs = [(r["code"], {"tests": "\n".join(r["test_list"]), "entry_point": None, "setup": r["test_setup_code"],
                         "prompt_prefix": ""}, spec) for r in rows]
    with VerifierPool(workers=2, timeout_s=30, prestart_math=False) as pool:
        results = pool.map(jobs)
    assert [r["task_id"] for r, (_, v) in zip(rows, results) if v["code"].status != "correct"] == []


# Reference solutions that do real work: sanitized MBPP task 123 (amicable numbers to 9999) takes ~7 s of CPU alone,
# so the default 10 s limit times it out on a busy machine; these tests are about reading rows, not about limits.
UNHURRIED = VerifierSpec(name="code", options={"timeout_s": 25, "cpu_s": 25})


def test_raw_sanitized_mbpp_rows_score_their_code():
    """sanitized-mbpp.json as shipped, each row its own reference: `prompt` is the task text, `test_imports` setup.
    Every row was an error (bad_reference: the prompt is not Python)."""
    path = os.path.join(DATA, "mbpp", "sanitized-mbpp.json")
    if not os.path.exists(path):
        pytest.skip("sanitized MBPP data absent")
    with open(path) as f:
        rows = json.load(f)
    with VerifierPool(workers=2, timeout_s=30, prestart_math=False) as pool:
        results = pool.map([(r["code"], r, [UNHURRIED]) for r in rows])
    assert len(rows) == 427
    assert [(r["task_id"], v["code"].detail) for r, (_, v) in zip(rows, results) if v["code"].status != "correct"] == []


def _mbpp(program: str, tests: str, options=None):
    return verify(f"```python\n{program}\n```", {"tests": tests, "entry_point": None, "setup": "", "prompt_prefix": ""},
                  options)


FROZEN = "import dataclasses\n@dataclasses.dataclass(frozen=True)\nclass P:\n    x: int\n    y: list\n"
PLAIN = "from dataclasses import dataclass, field\n@dataclass\nclass P:\n    x: int\n    y: list = field(compare=True)\n"
NAMED = "from typing import NamedTuple\nclass P(NamedTuple):\n    x: int\n    y: list\n"
ENUM = "import enum\nclass Color(enum.Enum):\n    RED = 1\n    BLUE = 2\n"
RECORDS = [
    (FROZEN + "def f():\n    return P(1, [2])", "assert f() == P(1, [2]) and f() != P(1, [3])", "correct"),  # frozen
    (FROZEN + "def f():\n    return P(1, [3])", "assert f() == P(1, [2])", "wrong"),  # different field value
    (PLAIN + "def f():\n    return [P(1, [2])]", "assert f() == [P(1, [2])]", "correct"),  # plain, in a list
    (NAMED + "def f():\n    return P(1, [2])", "assert f() == P(1, [2]) == (1, [2])", "correct"),  # named tuple
    (ENUM + "def f():\n    return Color.RED", "assert f() == Color.RED != Color.BLUE and f() == Color(1)", "correct"),
    (ENUM + "def f():\n    return Color.BLUE", "assert f() == Color.RED", "wrong"),  # another member
    (ENUM + "def f():\n    return Color.RED\ndef g(c):\n    return c.value", "assert g(f()) == 1", "correct"),  # back in
    # a user-written __eq__ never runs in the judge: fields decide
    ("import dataclasses\n@dataclasses.dataclass(eq=False)\nclass P:\n    x: int\n    def __eq__(self, o):\n"
     "        return True\ndef f():\n    return P(2)", "assert f() == P(1)", "wrong"),
    ("import dataclasses\n@dataclasses.dataclass\nclass Q:\n    x: int\ndef f():\n    return Q(1)",
     "assert f() == 1", "wrong"),  # a record is not its field
]


@pytest.mark.parametrize("program, tests, status", RECORDS)
def test_dataclasses_named_tuples_and_enums_compare_by_value(program, tests, status):
    v = _mbpp(program, tests)
    assert v.status == status, v.detail


def test_a_record_equals_a_trusted_dataclass_of_the_same_name_and_fields():
    import dataclasses

    from rlvr.verifiers.sandbox_wire import Record, decode

    @dataclasses.dataclass(frozen=True)
    class P:
        x: int

    got = decode('{"o": ["dataclass", "P", [["x", 1]], 0]}')  # what the program's P(1) arrives as
    assert isinstance(got, Record) and got == P(1) and got != P(2) and hash(got) == hash(decode('{"o": ["dataclass", "P", [["x", 1]], 3]}'))


LOOP = "def f():\n    while True:\n        pass"
LOOP_REF = {"tests": "assert f() == 1", "entry_point": None, "setup": "", "prompt_prefix": ""}


def test_the_sandbox_times_out_inside_the_pools_deadline():
    from rlvr.verifiers.code import sandbox_wall_s

    assert sandbox_wall_s(10.0) == 9.5 and sandbox_wall_s(4.0) == 3.5 and 0 < sandbox_wall_s(0.4) < 0.4
    spec = [VerifierSpec(name="code", options={"timeout_s": 4.0})]
    with VerifierPool(workers=1, timeout_s=4.0, prestart_math=False) as pool:
        (_, verdicts), = pool.map([(f"```python\n{LOOP}\n```", LOOP_REF, spec)])
        assert (verdicts["code"].status, verdicts["code"].detail["rule"]) == ("timeout", "timeout")
        assert pool.stats["timeouts"] == 0  # ended by the sandbox's own limit, the worker was not killed


def test_a_shorter_pool_timeout_still_lets_the_sandbox_end_first():
    spec = [VerifierSpec(name="code")]  # CodeOptions.timeout_s stays 10 s: the pool's 3 s deadline is passed down
    with VerifierPool(workers=1, timeout_s=3.0, prestart_math=False) as pool:
        (_, verdicts), = pool.map([(f"```python\n{LOOP}\n```", LOOP_REF, spec)])
        assert verdicts["code"].status == "timeout"
        # the sandbox's own 2.5 s and the 3 s it is derived from are both named, so 2.5 s does not read as a bug
        assert verdicts["code"].detail["error"] == (
            "the program ran past the sandbox's wall-clock limit of 2.5 s (the verification's timeout of 3 s "
            "less 0.5 s, so that the sandbox ends before the pool's deadline)")
        assert pool.stats["timeouts"] == 0


def test_a_pool_timeout_leaves_no_temp_dir():
    import glob

    before = set(glob.glob("/tmp/rlvr-sbx-*"))
    stuck = {**LOOP_REF, "tests": "import time\ntime.sleep(60)\nassert f() == 1"}  # the judge, not the program, hangs
    with VerifierPool(workers=1, timeout_s=1.5, prestart_math=False) as pool:  # so the pool kills the worker
        results = pool.map([(f"```python\ndef f():\n    return {i}\n```", stuck, [VerifierSpec(name="code")])
                            for i in range(3)])
    assert [v["code"].status for _, v in results] == ["timeout"] * 3 and pool.stats["timeouts"] == 3
    assert set(glob.glob("/tmp/rlvr-sbx-*")) <= before


def test_thread_options_in_a_config():
    assert VerifierSpec(name="code", options={"threads": 8}).options == {"threads": 8}
    # `nproc` used to cap threads alive at once: a config that sets it without processes is told the new key
    with pytest.raises(ValueError, match="nproc=32 applies with processes=True only; threads are capped by `threads`"):
        VerifierSpec(name="code", options={"nproc": 32})
    assert VerifierSpec(name="code", options={"nproc": 32, "processes": True}).options["nproc"] == 32
