"""Task qa: a user's own question/answer data, with the columns named in the config, in the layouts TRL and verl
users bring (a text prompt column, chat messages, verl's nested `reward_model.ground_truth`), in every format."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rlvr.data.config import TaskConfig
from rlvr.data.tasks import load_problems, task_verifier
from rlvr.data.tasks.qa import reference
from rlvr.data.templates import MATH_INSTRUCTION
from tests.data.conftest import FORMATS, write_rows

SHARED = Path("/work/shared/data")
VERL_ROWS = [  # verl's math layout: chat prompt, the answer nested under reward_model
    {"data_source": "deepscaler", "prompt": [{"role": "user", "content": "What is 2+3? Box it."}],
     "reward_model": {"style": "rule", "ground_truth": "5"}, "extra_info": {"index": 0}},
    {"data_source": "deepscaler", "prompt": [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": "Half of 9?"}],
     "reward_model": {"style": "rule", "ground_truth": "\\frac{9}{2}"}, "extra_info": {"index": 1}},
]


def _load(**kw):
    return load_problems(TaskConfig(name="qa", **kw))


@pytest.mark.parametrize("fmt", FORMATS)
def test_verl_layout_chat_prompts_and_nested_answers(fmt, tmp_path):
    source = write_rows(VERL_ROWS, tmp_path / "train", fmt)
    problems = sorted(_load(source=str(source), columns={"prompt": "prompt", "answer": "reward_model.ground_truth"},
                            on_bad_row="fail"), key=lambda p: p.id)
    assert [p.id for p in problems] == ["qa/train/0", "qa/train/1"]
    assert problems[0].prompt == VERL_ROWS[0]["prompt"] and problems[1].prompt == VERL_ROWS[1]["prompt"]
    assert [p.reference for p in problems] == ["5", "\\frac{9}{2}"]
    assert task_verifier("qa") == "math"


def test_a_text_prompt_gets_the_boxed_instruction_by_template(tmp_path):
    source = write_rows([{"prompt": "What is 2+3?", "answer": 5}], tmp_path / "d", "jsonl")
    chat, = _load(source=str(source))
    plain, = _load(source=str(source), template="plain")
    assert chat.prompt == [{"role": "user", "content": f"What is 2+3?\n\n{MATH_INSTRUCTION}"}]
    assert plain.prompt.startswith(MATH_INSTRUCTION) and plain.prompt.endswith("Question: What is 2+3?\nAnswer:")
    assert chat.reference == "5"


@pytest.mark.parametrize("cell, gold", [
    ("42", "42"), (42, "42"), (2.5, "2.5"), ("  x = 3 ", "x = 3"),
    ("So the sides are equal and the area is $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),  # a MATH solution
    ("First \\boxed{3}, then corrected: \\boxed{4}", "4"),  # the last box
    ("48/2 = <<48/2=24>>24 clips\n#### 1,024", "1024"),  # a GSM8K solution
])
def test_the_reference_is_the_answer_a_cell_states(cell, gold):
    assert reference(cell) == gold


@pytest.mark.skipif(not SHARED.is_dir(), reason="no /work/shared/data on this machine")
def test_gsm8k_and_math500_files_read_as_qa_give_the_built_in_tasks_references():
    as_qa = _load(source=str(SHARED / "gsm8k/test.jsonl"), split="test", columns={"prompt": "question"})
    built_in = load_problems(TaskConfig(name="gsm8k", source=str(SHARED / "gsm8k/test.jsonl"), split="test"))
    assert sorted(p.reference for p in as_qa) == sorted(p.reference for p in built_in) and len(as_qa) == 1319
    solutions = _load(source=str(SHARED / "math500/test.jsonl"), split="test",
                      columns={"prompt": "problem", "answer": "solution"})  # the answer boxed in the worked solution
    answers = {p.meta["index"]: p.reference for p in load_problems(
        TaskConfig(name="math500", source=str(SHARED / "math500/test.jsonl"), split="test"))}
    assert {p.meta["index"]: p.reference for p in solutions} == answers


def test_bad_rows_are_named_by_line_and_the_users_column_names(tmp_path, caplog):
    rows = [
        {"q": "1+1?", "meta": {"gold": "2"}},
        {"q": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}], "meta": {"gold": "4"}},
        {"q": [{"role": "narrator", "content": "3+3?"}], "meta": {"gold": "6"}},
        {"q": "4+4?", "meta": {}},
        {"q": "5+5?", "meta": {"gold": "\\boxed{}"}},
    ]
    source = write_rows(rows, tmp_path / "mine", "jsonl")
    columns = {"prompt": "q", "answer": "meta.gold"}
    kept = _load(source=str(source), columns=columns)
    assert [p.id for p in kept] == ["qa/train/0"]
    said = caplog.text
    assert "skipped 4 bad row(s) of 5 (line 2, line 3, line 4, line 5)" in said
    assert "line 2: field 'q' ends with the assistant's message" in said
    assert "line 3: field 'q' has a message with role 'narrator'" in said
    assert "line 4: field 'meta.gold' is missing" in said and "line 5: field 'meta.gold' has no answer" in said
    with pytest.raises(ValueError, match=r"line 2: field 'q' is a list of chat messages, which need task.template=chat"):
        _load(source=str(source), columns=columns, template="plain", on_bad_row="fail")


def test_columns_that_no_row_has_are_named_with_the_rows_columns(tmp_path):
    source = write_rows([{"question": "1+1?", "answer": "2"}], tmp_path / "mine", "jsonl")
    with pytest.raises(ValueError, match=r"no row has the column 'prompt': the first row's columns are 'question', "
                                         r"'answer'; set task.columns.prompt and task.columns.answer"):
        _load(source=str(source))


def test_settings_that_cannot_work_are_refused_at_config_load(tmp_path):
    with pytest.raises(ValidationError, match="task qa reads your dataset: set its source"):
        TaskConfig(name="qa")
    with pytest.raises(ValidationError, match="columns is a setting of task qa"):
        TaskConfig(name="gsm8k", columns={"prompt": "question"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        TaskConfig(name="qa", source="x.jsonl", columns={"question": "q"})
    source = write_rows([{"prompt": "1+1?", "answer": "2"}], tmp_path / "mine", "jsonl")
    with pytest.raises(ValueError, match="no worked solutions"):
        _load(source=str(source), few_shot=2)


@pytest.mark.parametrize("source, suite", [
    ("/data/deepscaler.jsonl", "qa-deepscaler-test"), ("/data/deepscaler/test.parquet", "qa-deepscaler-test"),
    ("agentica-org/DeepScaleR-Preview-Dataset", "qa-DeepScaleR-Preview-Dataset-test"), ("/data/aime24/", "qa-aime24-test"),
])
def test_a_qa_suite_is_named_after_its_source(source, suite):
    assert TaskConfig(name="qa", source=source, split="test").suite_name() == suite
