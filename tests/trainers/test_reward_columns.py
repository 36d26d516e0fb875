"""A TRL-style reward function names the dataset columns it reads; one the task's rows lack refuses the run before
any engine starts, in one line naming the function, the column and the row's columns. Before, every completion
of every step was an `error` verdict until `train.stop_after_failing_steps` stopped the run."""

import json
import os

import pytest

from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import ConfigError, validate_config
from tests.trainers.tiny_runs import tiny_run_config

PLUGINS = os.path.join(os.path.dirname(__file__), "..", "verifiers")  # trl_user_rewards.py: a TRL user's functions


def _config(tmp_path, verifier):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {n} + 2?", "answer": f"#### {n + 2}"}) + "\n"
                            for n in range(4)))
    base = tiny_run_config(tmp_path / "run").model_dump(mode="json")
    base["task"] = {"name": "gsm8k", "source": str(data)}
    base["verify"] = {"verifiers": [{"name": verifier}]}
    return validate_config(base)


def test_a_column_the_rows_lack_refuses_the_run_in_one_line(tmp_path, warm_model, monkeypatch):
    monkeypatch.syspath_prepend(PLUGINS)
    # accuracy_reward(completions, solution, **kwargs): TRL's, for MATH-style rows; GSM8K rows have `answer`
    with pytest.raises(ConfigError, match=r"^verifier 'trl_user_rewards:accuracy_reward': the reward function takes "
                                          r"'solution', which this row does not have \(its columns: answer\), in "
                                          r"training problem gsm8k/train/\d: rename"):
        Trainer(_config(tmp_path, "trl_user_rewards:accuracy_reward"), resume=False, log=lambda _m: None)


def test_a_function_whose_columns_the_rows_have_trains(tmp_path, warm_model, monkeypatch):
    monkeypatch.syspath_prepend(PLUGINS)
    # correctness(prompts, completions, answer, **kwargs): the GSM8K recipe's, reading `answer`
    trainer = Trainer(_config(tmp_path, "trl_user_rewards:correctness"), resume=False, log=lambda _m: None)
    try:
        row = trainer.train(steps=1)[-1]
    finally:
        trainer.close()
    assert row["step"] == 1
