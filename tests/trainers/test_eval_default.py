"""A config without `eval.tasks` is evaluated on its training task's own held-out split (the audit's GSM8K run was
evaluated on arith's test split, `eval arith-l1-test: pass@1 0.500`, and chose its best checkpoint by it), or, where
there is none, not at all, with a line saying why and how to name one. Real files: the shared GSM8K data, and qa
folders written to tmp_path."""

import json

import pytest

from rlvr.data.tasks import load_problems
from rlvr.trainers.run_config import load_config

GSM8K = "/work/shared/data/gsm8k"


def _suites(cfg):
    return [(t.name, t.split, t.source, t.level, t.limit) for t in cfg.eval.tasks]


def _qa_folder(tmp_path, *names):
    """A folder of qa files named `names`, each with two rows."""
    rows = "".join(json.dumps({"question": f"{a} + 1?", "answer": str(a + 1)}) + "\n" for a in (1, 2))
    for name in names:
        (tmp_path / name).write_text(rows)
    return tmp_path


@pytest.mark.parametrize("task, suite", [
    # a synthetic task: its own test split at the same level
    (["task.name=arith", "task.level=3"], ("arith", "test", None, 3, 100)),
    (["task.name=code", "task.level=2"], ("code", "test", None, 2, 100)),
    # a folder with split files: its test split; a train file: the test file beside it
    (["task.name=gsm8k", f"task.source={GSM8K}"], ("gsm8k", "test", GSM8K, 1, 100)),
    (["task.name=gsm8k", f"task.source={GSM8K}/train.jsonl"], ("gsm8k", "test", f"{GSM8K}/test.jsonl", 1, 100)),
    (["task.name=gsm8k"], ("gsm8k", "test", None, 1, 100)),  # the hub's, which the task knows
    # mbpp's splits are id ranges, in any file
    (["task.name=mbpp", "task.source=/work/shared/data/mbpp/mbpp.jsonl"],
     ("mbpp", "test", "/work/shared/data/mbpp/mbpp.jsonl", 1, 100)),
])
def test_the_default_evaluation_is_the_training_tasks_held_out_split(task, suite):
    cfg = load_config(None, task)
    assert _suites(cfg) == [suite] and cfg.no_eval_note is None


def test_the_gsm8k_default_suite_loads_test_problems_with_the_training_settings():
    cfg = load_config(None, ["task.name=gsm8k", f"task.source={GSM8K}/train.jsonl", "task.template=plain",
                             "task.few_shot=2"])
    (suite,) = cfg.eval.tasks
    assert (suite.template, suite.few_shot, suite.suite_name()) == ("plain", 2, "gsm8k-test")
    problems = load_problems(suite)
    assert len(problems) == 100 and all(p.id.startswith("gsm8k/test/") for p in problems), problems[0].id


def test_a_qa_file_is_evaluated_on_the_test_file_beside_it_with_its_columns(tmp_path):
    folder = _qa_folder(tmp_path, "train.jsonl", "test.jsonl")
    cfg = load_config(None, ["task.name=qa", f"task.source={folder}/train.jsonl",
                             "task.columns={prompt: question, answer: answer}"])
    (suite,) = cfg.eval.tasks
    assert (suite.source, suite.split, suite.columns.prompt) == (f"{folder}/test.jsonl", "test", "question")
    assert [p.reference for p in load_problems(suite)] == ["2", "3"]
    folder_cfg = load_config(None, ["task.name=qa", f"task.source={folder}", "task.columns.prompt=question"])
    assert _suites(folder_cfg) == [("qa", "test", str(folder), 1, 100)]


@pytest.mark.parametrize("files, why", [
    (["data.jsonl"], "{folder} holds no test file apart from the training data"),  # a lone file is every split
    (["train.jsonl", "validation.jsonl"], "{folder} holds no test file (test.jsonl, test.parquet, "
                                          "test-00000-of-00001.parquet, ...)"),
    (["test.jsonl", "train.jsonl"], "task qa trains on the test file {folder}/test.jsonl"),  # its split: train
])
def test_qa_data_with_nothing_held_out_has_no_default_evaluation_and_says_how_to_name_one(tmp_path, files, why):
    folder = _qa_folder(tmp_path, *files)
    cfg = load_config(None, ["task.name=qa", "task.columns.prompt=question", f"task.source={folder}/{files[0]}"])
    assert cfg.eval.tasks == []
    assert cfg.no_eval_note == (f"no final evaluation by default: {why.format(folder=folder)}; name a held-out set "
                                "in eval.tasks, e.g. eval.tasks=[{name: qa, source: /path/to/test.jsonl}]")


@pytest.mark.parametrize("overrides, why", [
    (["task.name=math500", "task.split=test"], "task math500 trains on its test split"),
    (["task.name=gsm8k", "task.split=test"], "task gsm8k trains on its test split"),
    (["task.name=qa", "task.source=someone/dataset"], "the held-out split of hub dataset someone/dataset is not "
                                                      "looked up (task qa)"),
])
def test_a_run_on_a_test_split_or_a_hub_qa_set_has_no_default_evaluation(overrides, why):
    cfg = load_config(None, overrides)
    assert cfg.eval.tasks == [] and why in cfg.no_eval_note


def test_eval_tasks_the_config_names_are_kept_and_an_override_indexes_the_tasks_own_default():
    named = load_config(None, ["task.name=gsm8k", "eval.tasks=[{name: arith, limit: 5}]"])
    assert _suites(named) == [("arith", "test", None, 1, 5)]
    none = load_config(None, ["task.name=gsm8k", "eval.tasks=[]"])
    assert none.eval.tasks == [] and none.no_eval_note is None  # asked for: nothing to say
    indexed = load_config(None, ["task.name=gsm8k", f"task.source={GSM8K}", "eval.tasks.0.limit=8"])
    assert _suites(indexed) == [("gsm8k", "test", GSM8K, 1, 8)]
