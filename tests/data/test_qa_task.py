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


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_problem_keeps_what_a_verl_reward_function_reads_of_its_row(fmt, tmp_path):
    """`Problem.context()`: the row's data_source and extra_info, and the answer cell as it is (verl passes the
    cell; the reference is the final answer rlvr reads out of it). Before: none of it was kept."""
    rows = [*VERL_ROWS,
            {"prompt": [{"role": "user", "content": "7?"}], "reward_model": {"ground_truth": "so \\boxed{7}"}}]
    source = write_rows(rows, tmp_path / "train", fmt)
    problems = sorted(_load(source=str(source), columns={"answer": "reward_model.ground_truth"}), key=lambda p: p.id)
    assert [verls(p) for p in problems] == [
        {"data_source": "deepscaler", "extra_info": {"index": 0}, "ground_truth": "5"},
        {"data_source": "deepscaler", "extra_info": {"index": 1}, "ground_truth": "\\frac{9}{2}"},
        {"data_source": "qa", "extra_info": {}, "ground_truth": "so \\boxed{7}"},  # none in the row: qa and {}
    ]
    assert problems[2].reference == "7"
    moved = [{"q": "2+3?", "a": "5", "meta": {"source": "mine", "info": {"level": 2}}}]
    problem, = _load(source=str(write_rows(moved, tmp_path / "moved", fmt)),
                     columns={"prompt": "q", "answer": "a", "data_source": "meta.source", "extra_info": "meta.info"})
    assert verls(problem) == {"data_source": "mine", "extra_info": {"level": 2}, "ground_truth": "5"}


def verls(problem):
    """What a verl-style reward function reads of `problem.context()`."""
    return {key: problem.context()[key] for key in ("data_source", "extra_info", "ground_truth")}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_problem_keeps_its_rows_columns_but_the_prompt_for_a_trl_reward_function(fmt, tmp_path):
    """TRL passes a reward function every column but the prompt; the prompt goes as `prompts`."""
    problems = sorted(_load(source=str(write_rows(VERL_ROWS, tmp_path / "train", fmt)),
                            columns={"answer": "reward_model.ground_truth"}), key=lambda p: p.id)
    context = problems[0].context()
    assert context["columns"] == {key: value for key, value in VERL_ROWS[0].items() if key != "prompt"}
    assert context["prompt"] == VERL_ROWS[0]["prompt"]


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
    ("#### 3, 5", "3, 5"), ("#### (1, 2)", "(1, 2)"),  # values after `####`: only thousands separators go
    ("Janet sells 16 - 3 - 4 = 9 eggs.\nThe answer is: 18", "18"),  # MetaMathQA's responses
    ("Answer: 5", "5"), (18.0, "18"),
    (["5", "five"], ["5", "five"]), ('["18", "eighteen"]', ["18", "eighteen"]),  # acceptable answers, any of them
    ("[1, 2]", "[1, 2]"),  # an interval, not a JSON list of answers
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
    assert "line 4: field 'meta.gold' is missing" in said and "line 5: field 'meta.gold' has an empty answer" in said
    with pytest.raises(ValueError, match=r"line 2: field 'q' is a list of chat messages, which need the chat template: "
                                         r"template: chat \(task.template, or eval.tasks.N.template"):
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
    ("/hub/gsm-plus/data/test-00000-of-00001.parquet", "qa-gsm-plus-test"),  # a hub snapshot's data/ folder
    ("/data/UPPER.JSONL", "qa-UPPER-test"),
])
def test_a_qa_suite_is_named_after_its_source(source, suite):
    assert TaskConfig(name="qa", source=source, split="test").suite_name() == suite


def test_a_float32_answer_column_gives_the_number_written(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"prompt": ["a?", "b?"], "answer": pa.array([0.1, 2.5], type=pa.float32())})
    pq.write_table(table, tmp_path / "f32.parquet")
    assert sorted(p.reference for p in _load(source=str(tmp_path / "f32.parquet"))) == ["0.1", "2.5"]


def test_answers_that_are_no_answers_are_bad_rows(tmp_path, caplog):
    """A NaN answer was the reference 'nan' (and `\\boxed{nan}` was rewarded); an empty list or a list of objects
    holds no answer."""
    rows = [{"prompt": "1+1?", "answer": 2}, {"prompt": "x?", "answer": float("nan")}, {"prompt": "y?", "answer": []},
            {"prompt": "z?", "answer": [{"a": 1}]}, {"prompt": "w?", "answer": "#### "}]
    source = write_rows(rows, tmp_path / "d", "jsonl")
    assert [p.reference for p in _load(source=str(source))] == ["2"]
    assert "line 2: field 'answer' is nan, not an answer" in caplog.text
    assert "line 3: field 'answer' is empty" in caplog.text  # row_problem: an empty list
    assert "line 4: field 'answer' is a list, but not of answers" in caplog.text
    assert "line 5: field 'answer' has an empty answer" in caplog.text


def test_trl_conversational_rows_with_the_answer_as_the_last_message(tmp_path):
    """`messages` holding the assistant's answer: the prompt is the messages before it, the answer its content."""
    rows = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3?"},
                          {"role": "assistant", "content": "The answer is $\\boxed{5}$."}]}]
    source = write_rows(rows, tmp_path / "sft", "jsonl")
    problem, = _load(source=str(source), columns={"prompt": "messages", "answer": "messages.-1.content"})
    assert problem.prompt == rows[0]["messages"][:2] and problem.reference == "5"


def test_list_answers_are_any_of_for_the_math_verifier(tmp_path):
    from rlvr.verifiers.math import verify

    source = write_rows([{"prompt": "2+3?", "answer": ["5", "five"]}], tmp_path / "d", "jsonl")
    problem, = _load(source=str(source))
    assert verify("So it is $\\boxed{5}$.", problem.reference).status == "correct"
    assert verify("The answer is five.", problem.reference).status == "correct"
    assert verify("So it is $\\boxed{6}$.", problem.reference).status == "wrong"


def test_a_missing_answer_column_is_named_with_the_rows_columns_and_verls_path(tmp_path):
    rows = [{"prompt": "1+1?", "reward_model": {"ground_truth": "2", "style": "rule"}}]
    source = write_rows(rows, tmp_path / "verl", "jsonl")
    with pytest.raises(ValueError, match=r"no row has the column 'answer': the first row's columns are 'prompt', "
                                         r"'reward_model'; .* \(verl's layout: task.columns.answer=reward_model."
                                         r"ground_truth\)"):
        _load(source=str(source))


def test_answers_that_read_as_sentences_are_said_at_load(tmp_path, caplog):
    rows = [{"prompt": f"{n}+1?", "answer": f"Adding one to {n} gives us the final value here"} for n in range(3)]
    source = write_rows(rows, tmp_path / "chatty", "jsonl")
    _load(source=str(source))
    assert "3 of 3 answers read as sentences (first: 'Adding one to 0 gives us the final value here')" in caplog.text


def test_a_suite_may_be_named_and_two_of_one_name_say_how_to_part_them():
    from rlvr.trainers.run_config import ConfigError, load_config

    named = TaskConfig(name="qa", source="/x/gsm/test.jsonl", split="test", suite="gsm-x")
    assert named.suite_name() == "gsm-x"
    with pytest.raises(ConfigError, match=r"two suites are named qa-gsm-test .*name one with eval.tasks.N.suite"):
        load_config(None, ["eval.tasks=[{name: qa, source: /x/gsm/test.jsonl}, {name: qa, source: /y/gsm/test.jsonl}]"])
    cfg = load_config(None, ["eval.tasks=[{name: qa, source: /x/gsm/test.jsonl}, "
                             "{name: qa, source: /y/gsm/test.jsonl, suite: gsm-y}]"])
    assert [t.suite_name() for t in cfg.eval.tasks] == ["qa-gsm-test", "gsm-y"]


def test_a_save_to_disk_folder_is_read(tmp_path):
    """Was: `no 'test' file in ... (found: dataset_info.json, state.json)`, and its .arrow file an unknown format."""
    import datasets

    rows = [{"prompt": "2+3?", "answer": "5"}, {"prompt": "1+1?", "answer": "2"}]
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:1]), "test": datasets.Dataset.from_list(rows[1:])}
                         ).save_to_disk(str(tmp_path / "dict"))
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "one"))
    assert [p.reference for p in _load(source=str(tmp_path / "dict"), split="test")] == ["2"]
    assert sorted(p.reference for p in _load(source=str(tmp_path / "one"), split="test")) == ["2", "5"]
    with pytest.raises(ValueError, match=r"has no 'train' split; it has test"):
        datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "only-test"))
        _load(source=str(tmp_path / "only-test"))



def test_a_validation_split_is_read_by_its_file_name(tmp_path):
    data = tmp_path / "hub-snapshot" / "data"
    write_rows([{"prompt": "2+3?", "answer": "5"}], data / "validation-00000-of-00001", "parquet")
    write_rows([{"prompt": "1+1?", "answer": "2"}], data / "train-00000-of-00001", "parquet")
    problem, = _load(source=str(tmp_path / "hub-snapshot"), split="validation")
    assert problem.reference == "5" and problem.id == "qa/validation/0"
    assert TaskConfig(name="qa", source=str(tmp_path / "hub-snapshot"), split="validation").suite_name() == \
        "qa-hub-snapshot-validation"
    with pytest.raises(ValidationError, match="split validation is a setting of task qa"):
        TaskConfig(name="gsm8k", split="validation")
    with pytest.raises(ValidationError, match="hub_config is a setting of task qa"):
        TaskConfig(name="gsm8k", hub_config="main")
