"""GSM8K, MATH-500, HumanEval and MBPP tasks from small fixtures in every supported file format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlvr.data.config import TaskConfig
from rlvr.data.problem import Problem
from rlvr.data.tasks import load_problems, task_verifier
from rlvr.data.tasks.gsm8k import gold_answer, worked_solution
from rlvr.data.tasks.mbpp import entry_point
from rlvr.data.templates import CODE_INSTRUCTION, MATH_INSTRUCTION

FORMATS = ("jsonl", "json", "jsonl.gz", "parquet")
FIXTURES = Path(__file__).parent / "fixtures"


def _load(**kw) -> list[Problem]:
    return load_problems(TaskConfig(**kw))


def _by_id(problems: list[Problem]) -> dict[str, Problem]:
    return {p.id: p for p in problems}


@pytest.mark.parametrize("task, verifier", [("gsm8k", "math"), ("math500", "math"), ("humaneval", "code"), ("mbpp", "code")])
def test_each_task_names_its_verifier(task, verifier):
    assert task_verifier(task) == verifier


# --- GSM8K ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_gsm8k_problems_and_gold_answers(as_format, fmt):
    folder = as_format("gsm8k", fmt)
    problems = _by_id(_load(name="gsm8k", split="test", source=str(folder / f"test.{fmt}")))
    assert sorted(problems) == ["gsm8k/test/0", "gsm8k/test/1", "gsm8k/test/2"]
    first = problems["gsm8k/test/0"]
    assert first.task == "gsm8k"
    assert first.reference == "1200"  # "#### 1,200" without the thousands comma
    assert problems["gsm8k/test/2"].reference == "4.5"
    assert first.prompt == [
        {"role": "user", "content": f"A shop sells 400 cups a day. How many cups does it sell in 3 days?\n\n{MATH_INSTRUCTION}"}
    ]
    assert first.meta["solution"].endswith("#### 1,200")
    # a directory works too: the split picks the file
    assert len(_load(name="gsm8k", split="train", source=str(folder))) == 3


def test_gsm8k_gold_and_worked_solution():
    solution = "He pays 2 * 600 = <<2*600=1200>>1200 dollars.\n#### 1,200"
    assert gold_answer(solution) == "1200"
    assert worked_solution(solution) == "He pays 2 * 600 = 1200 dollars.\nThe final answer is \\boxed{1200}."


def test_gsm8k_few_shot_examples_come_from_the_train_file_next_to_test(fixture_copy):
    folder = fixture_copy("gsm8k")
    (problem, *_) = _load(name="gsm8k", split="test", source=str(folder / "test.jsonl"), few_shot=2, limit=1)
    roles = [m["role"] for m in problem.prompt]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert problem.prompt[0]["content"].startswith("Tom has 3 apples")
    assert problem.prompt[1]["content"] == "Tom has 3 + 4 = 7 apples.\nThe final answer is \\boxed{7}."
    plain = _load(name="gsm8k", split="test", source=str(folder), few_shot=1, template="plain", limit=1)[0].prompt
    assert plain.startswith(MATH_INSTRUCTION) and "Question: Tom has 3 apples" in plain and plain.endswith("Answer:")


def test_gsm8k_train_leaves_out_its_few_shot_rows(fixture_copy):
    folder = fixture_copy("gsm8k")
    problems = _load(name="gsm8k", split="train", source=str(folder), few_shot=1)
    assert sorted(p.id for p in problems) == ["gsm8k/train/1", "gsm8k/train/2"]


def test_gsm8k_few_shot_without_a_train_file_is_an_error(tmp_path):
    (tmp_path / "test.jsonl").write_text((FIXTURES / "gsm8k/test.jsonl").read_text())
    with pytest.raises(ValueError, match="no 'train' file"):
        _load(name="gsm8k", split="test", source=str(tmp_path / "test.jsonl"), few_shot=1)


def _gsm8k_rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "gsm8k" / name).read_text().splitlines() if line.strip()]


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _example_questions(problem: Problem) -> list[str]:
    return [m["content"].removesuffix(f"\n\n{MATH_INSTRUCTION}") for m in problem.prompt[:-1] if m["role"] == "user"]


@pytest.mark.parametrize("as_dir", [False, True])
def test_gsm8k_few_shot_never_comes_from_the_evaluated_file(tmp_path, as_dir):
    # one file not named for a split: it is the evaluated split, so it cannot also be the few-shot 'train' file
    data = _write(tmp_path / "mydata.jsonl", _gsm8k_rows("test.jsonl"))
    source = str(tmp_path) if as_dir else str(data)
    with pytest.raises(ValueError) as caught:
        _load(name="gsm8k", split="test", source=source, few_shot=2)
    message = str(caught.value)
    assert f"gsm8k: few_shot=2 needs a separate 'train' file next to the source, such as {tmp_path / 'train.jsonl'}" \
        in message
    assert f"the only candidate is the evaluated file {data.resolve()} itself" in message
    assert "\n" not in message
    assert len(_load(name="gsm8k", split="test", source=source)) == 3  # without few-shot it loads as before


def test_gsm8k_few_shot_train_file_of_a_file_source_is_looked_for_only_in_its_own_folder(tmp_path):
    test = _write(tmp_path / "test.jsonl", _gsm8k_rows("test.jsonl"))
    _write(tmp_path / "old" / "train.jsonl", _gsm8k_rows("train.jsonl"))  # unrelated, deeper: not picked
    with pytest.raises(ValueError, match=rf"such as {tmp_path / 'train.jsonl'} \(no 'train' file in {tmp_path} "):
        _load(name="gsm8k", split="test", source=str(test), few_shot=1)
    # with a train file beside it, a deeper one is no 'several candidate train files' error either
    _write(tmp_path / "train.jsonl", _gsm8k_rows("train.jsonl")[::-1])
    (problem, *_) = _load(name="gsm8k", split="test", source=str(test), few_shot=1, limit=1)
    assert _example_questions(problem) == [_gsm8k_rows("train.jsonl")[-1]["question"]]


def test_gsm8k_few_shot_skips_examples_that_are_evaluated_problems(tmp_path):
    test_rows, train_rows = _gsm8k_rows("test.jsonl"), _gsm8k_rows("train.jsonl")
    test = _write(tmp_path / "test.jsonl", test_rows)
    leaked = dict(test_rows[1], question="  " + test_rows[1]["question"].replace(" ", "  "))  # whitespace aside
    _write(tmp_path / "train.jsonl", [test_rows[0], leaked, *train_rows])
    problems = _load(name="gsm8k", split="test", source=str(test), few_shot=2)
    assert len(problems) == 3
    for problem in problems:
        assert _example_questions(problem) == [r["question"] for r in train_rows[:2]]
    with pytest.raises(ValueError, match=r"has only 3 usable row\(s\) whose question is not also an evaluated "
                                         r"problem's; 2 are"):
        _load(name="gsm8k", split="test", source=str(test), few_shot=4)


def test_gsm8k_limit_and_seed():
    source = str(FIXTURES / "gsm8k/train.jsonl")
    a = _load(name="gsm8k", split="train", source=source, seed=5, limit=2)
    assert len(a) == 2 and a == _load(name="gsm8k", split="train", source=source, seed=5, limit=2)
    assert _load(name="gsm8k", split="train", source=source, seed=5)[:2] == a


def _bad_gsm8k(tmp_path) -> str:
    rows = [
        {"question": "ok", "answer": "1 + 1 = 2\n#### 2"},
        {"question": "no final answer", "answer": "it is 2"},  # line 2
        {"answer": "#### 3"},  # line 3: no question
        {"question": "ok again", "answer": "#### 4"},
    ]
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_gsm8k_bad_rows_skipped_with_line_numbers(tmp_path, caplog):
    problems = _load(name="gsm8k", split="test", source=_bad_gsm8k(tmp_path))
    assert sorted(p.id for p in problems) == ["gsm8k/test/0", "gsm8k/test/3"]  # ids keep the file index
    assert "skipped 2 bad row(s) of 4 (line 2, line 3)" in caplog.text


def test_gsm8k_bad_rows_fail_the_load(tmp_path):
    with pytest.raises(ValueError, match=r"line 2: field 'answer' has no final answer.*line 3: field 'question' is missing"):
        _load(name="gsm8k", split="test", source=_bad_gsm8k(tmp_path), on_bad_row="fail")


# --- MATH-500 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_math500_problems(as_format, fmt):
    problems = _by_id(_load(name="math500", split="test", source=str(as_format("math500", fmt))))
    assert sorted(problems) == ["test/algebra/3.json", "test/prealgebra/1.json", "test/prealgebra/2.json"]
    p = problems["test/prealgebra/2.json"]
    assert p.reference == "\\frac{3}{4}"
    assert p.meta["subject"] == "Prealgebra" and p.meta["level"] == 2
    assert p.prompt[-1]["content"] == f"Simplify $\\frac{{6}}{{8}}$.\n\n{MATH_INSTRUCTION}"


def test_math500_is_test_only():
    with pytest.raises(ValueError, match="only a test split"):
        _load(name="math500", split="train", source=str(FIXTURES / "math500"))
    with pytest.raises(ValueError, match="few-shot"):
        _load(name="math500", split="test", source=str(FIXTURES / "math500"), few_shot=2)


def test_math500_bad_row(tmp_path):
    rows = [{"problem": "p", "answer": "1"}, {"problem": "q", "answer": ""}]
    path = tmp_path / "test.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert [p.reference for p in _load(name="math500", split="test", source=str(path))] == ["1"]
    with pytest.raises(ValueError, match="line 2: field 'answer' is empty"):
        _load(name="math500", split="test", source=str(path), on_bad_row="fail")


# --- HumanEval -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_humaneval_problems_and_reference(as_format, fmt):
    problems = _by_id(_load(name="humaneval", split="test", source=str(as_format("humaneval", fmt))))
    p = problems["HumanEval/0"]
    row = json.loads((FIXTURES / "humaneval/HumanEval.jsonl").read_text().splitlines()[0])
    assert p.reference == {"tests": row["test"], "entry_point": "add", "setup": "", "prompt_prefix": row["prompt"]}
    assert p.meta["canonical_solution"] == "    return a + b\n"
    content = p.prompt[-1]["content"]
    assert row["prompt"].strip() in content and content.endswith(CODE_INSTRUCTION)


def test_humaneval_is_test_only_and_reports_bad_rows(tmp_path):
    with pytest.raises(ValueError, match="only a test split"):
        _load(name="humaneval", split="train", source=str(FIXTURES / "humaneval"))
    rows = json.loads("[" + ",".join((FIXTURES / "humaneval/HumanEval.jsonl").read_text().splitlines()) + "]")
    del rows[1]["entry_point"]
    path = tmp_path / "he.json"
    path.write_text(json.dumps(rows))
    assert [p.id for p in _load(name="humaneval", split="test", source=str(path))] == ["HumanEval/0"]
    with pytest.raises(ValueError, match="row 2: field 'entry_point' is missing"):
        _load(name="humaneval", split="test", source=str(path), on_bad_row="fail")


# --- MBPP ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_mbpp_splits_by_task_id(as_format, fmt):
    source = str(as_format("mbpp", fmt) / f"mbpp.{fmt}")
    assert sorted(p.id for p in _load(name="mbpp", split="test", source=source)) == ["mbpp/11", "mbpp/12"]
    assert sorted(p.id for p in _load(name="mbpp", split="train", source=source)) == ["mbpp/601", "mbpp/602"]


def test_mbpp_reference_prompt_and_meta():
    # the fixture file mirrors mbpp.jsonl's quirks: no trailing newline, \r\n inside code
    problems = _by_id(_load(name="mbpp", split="test", source=str(FIXTURES / "mbpp/mbpp.jsonl")))
    p = problems["mbpp/12"]
    assert p.reference == {
        "tests": "assert shift(1) == 6\nassert shift(0) == 5\nassert shift(2) == 7",
        "entry_point": None,
        "setup": "K = 5",
        "prompt_prefix": "",
    }
    assert p.meta["entry_point"] == "shift" and p.meta["task_id"] == 12
    assert p.meta["code"] == "def shift(x):\n    return x + K"
    assert p.prompt == [
        {
            "role": "user",
            "content": "Write a function that adds the global offset K to a number.\nYour code should pass this test:\n"
            f"assert shift(1) == 6\n\n{CODE_INSTRUCTION}",
        }
    ]


def test_mbpp_few_shot_from_the_prompt_split_in_austin_order():
    problems = _load(name="mbpp", split="test", source=str(FIXTURES / "mbpp/mbpp.jsonl"), few_shot=2, limit=1)
    shots = problems[0].prompt[:4]
    assert shots[0]["content"].startswith("Write a function to double a number.")  # task 2 first
    assert shots[1]["content"] == "```python\ndef double(x):\n    return 2 * x\n```"
    assert shots[2]["content"].startswith("Write a function to negate a number.")  # then task 3
    with pytest.raises(ValueError, match="has only 2 usable rows"):
        _load(name="mbpp", split="test", source=str(FIXTURES / "mbpp/mbpp.jsonl"), few_shot=3)


def test_mbpp_sanitized_array_adds_test_imports_to_setup():
    source = str(FIXTURES / "mbpp/sanitized-mbpp.json")
    (p,) = _load(name="mbpp", split="test", source=source)
    assert p.id == "mbpp/11" and p.reference["setup"] == "import math"
    assert p.meta["entry_point"] == "square"  # found inside math.isclose(...)
    assert p.prompt[0]["content"].startswith("Write a function to square a number.\n")


def test_mbpp_bad_rows(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "mbpp/mbpp.jsonl").read_text().splitlines()]
    rows[2]["test_list"] = []  # task 11
    rows[3]["task_id"] = "twelve"  # wrong type
    path = tmp_path / "mbpp.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(ValueError, match="line 3: field 'test_list' is empty; line 4: field 'task_id' should be int, got str"):
        _load(name="mbpp", split="test", source=str(path), on_bad_row="fail")
    with pytest.raises(ValueError, match="no row .* has a task_id in the test range"):
        _load(name="mbpp", split="test", source=str(path))


@pytest.mark.parametrize(
    "tests, code, expected",
    [
        (["assert f(1) == 2"], "", "f"),
        (["assert set(similar(a, b)) == set((1,))"], "def similar(x, y): pass", "similar"),  # builtin wrapper
        (["assert set(similar(a, b)) == set((1,))"], "", "similar"),  # no code: first non-builtin
        (["assert math.isclose(area(2), 3.14)"], "", "area"),
        (["assert max_height(root) == 3"], "class Node: pass\ndef max_height(n): pass", "max_height"),
        (["assert not is_odd(2)"], "def is_odd(n) :\r\n  return n % 2", "is_odd"),
        (["this is not python"], "", None),
    ],
)
def test_mbpp_entry_point(tests, code, expected):
    assert entry_point(tests, code.replace("\r\n", "\n")) == expected
