"""Synthetic arith and code tasks: deterministic, disjoint splits, solutions that are right."""

import pytest

from rlvr.data.config import TaskConfig
from rlvr.data.tasks import TASK_NAMES, load_problems, task_verifier
from rlvr.data.tasks.arith import solve


def _load(**kw):
    return load_problems(TaskConfig(**kw))


@pytest.mark.parametrize("task", ["arith", "code"])
def test_same_seed_same_problems_and_limit_extends(task):
    a = _load(name=task, limit=50, seed=3)
    b = _load(name=task, limit=50, seed=3)
    longer = _load(name=task, limit=80, seed=3)
    assert a == b
    assert longer[:50] == a
    assert _load(name=task, limit=50, seed=4) != a


@pytest.mark.parametrize("task", ["arith", "code"])
@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_train_and_test_splits_are_disjoint(task, level):
    def keys(split):
        return {str(p.prompt) for p in _load(name=task, level=level, split=split, limit=150)}

    assert not keys("train") & keys("test")


@pytest.mark.parametrize(
    "tokens, expected",
    [
        ("3 + 4 * 2".split(), "3 + 4 * 2 = 3 + 8 = 11\n\\boxed{11}"),  # * before +
        ("7 - 9 - 3".split(), "7 - 9 - 3 = -2 - 3 = -5\n\\boxed{-5}"),  # left to right
        (["2", "*", "(", "1", "+", "4", ")"], "2 * (1 + 4) = 2 * 5 = 10\n\\boxed{10}"),  # parentheses first
    ],
)
def test_arith_worked_solution(tokens, expected):
    assert solve(tokens)[0] == expected


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_arith_reference_is_python_value_of_the_expression(level):
    for p in _load(name="arith", level=level, limit=100):
        assert int(p.reference) == eval(p.meta["expression"])  # the expressions use Python's precedence
        assert p.meta["solution"].endswith(f"\\boxed{{{p.reference}}}")


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_code_reference_solution_passes_its_tests_and_a_wrong_one_fails(level):
    for p in _load(name="code", level=level, limit=40):
        source = p.meta["solution"].removeprefix("```python\n").removesuffix("\n```")
        namespace: dict = {}
        exec(source + "\n" + p.reference["tests"], namespace)  # trusted: our own generated code
        wrong = source.split("return ")[0] + "return None"
        with pytest.raises(AssertionError):
            exec(wrong + "\n" + p.reference["tests"], {})


def test_plain_template_and_verifiers():
    p = _load(name="arith", template="plain", limit=1)[0]
    assert isinstance(p.prompt, str) and p.prompt.startswith("Compute ")
    assert task_verifier("arith") == "math" and task_verifier("code") == "code"
    assert set(TASK_NAMES) >= {"arith", "code", "gsm8k", "math500", "humaneval", "mbpp"}


def test_too_large_limit_for_a_small_level_is_a_clear_error():
    with pytest.raises(ValueError, match="too few distinct"):
        _load(name="arith", level=1, limit=100_000)
