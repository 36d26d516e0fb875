"""A training task's rows are checked against the verifiers that reward them: a dict ground truth (verl's countdown)
loads for a reward function named in `verify.verifiers` alone, as it did for one named in `task.verifier`.

Before: the rows were read before `verify.verifiers` was looked at, so they were checked against the task's own math
verifier and every dict row was refused ("the math verifier needs a text or a number answer"), or the run stopped on
"no usable row"; the docs told users to name the function in `task.verifier` as well.
"""

import json
import os

import pytest

from rlvr.data.tasks import load_problems
from rlvr.trainers.run_config import validate_config
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.pool import VerifierPool

PLUGINS = os.path.dirname(__file__)  # trl_user_rewards.py, verl_user_rewards.py
ROWS = [  # verl's layout of TinyZero's countdown task
    {"data_source": "countdown", "prompt": [{"role": "user", "content": f"Make {target} from {numbers}."}],
     "reward_model": {"style": "rule", "ground_truth": {"target": target, "numbers": numbers}}}
    for target, numbers in [(13, [3, 5, 2]), (24, [4, 6, 1])]
]


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(PLUGINS)
    source = tmp_path / "train.jsonl"
    for split in ("train", "test"):  # a test file beside: the default final evaluation's suite
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in ROWS))

    def make(verifiers, **task):
        return validate_config({
            "task": {"name": "qa", "source": str(source), "columns": {"answer": "reward_model.ground_truth"},
                     "on_bad_row": "fail", **task},
            "verify": {"verifiers": [{"name": name} for name in verifiers]},
        })
    return make


@pytest.mark.parametrize("reward", ["trl_user_rewards:countdown", "verl_user_rewards:countdown"])
def test_dict_rows_load_and_score_for_a_function_named_in_verify_verifiers_alone(config, reward):
    cfg = config([reward])
    assert cfg.task.verifier is None
    first, second = sorted(load_problems(cfg.task), key=lambda p: p.id)  # what the train flow and the Trainer load
    assert first.reference == {"target": 13, "numbers": [3, 5, 2]}
    specs = [VerifierSpec(name=reward)]
    with VerifierPool(workers=1, timeout_s=10, prestart_math=False) as pool:
        rewards = [r for r, _ in pool.map([("<answer>3 * 5 - 2</answer>", first.reference, specs, first.context()),
                                           ("<answer>4 + 6 + 1</answer>", second.reference, specs, second.context())])]
    assert rewards[0] == 1.0 and rewards[1] < 1.0


def test_beside_the_math_verifier_a_dict_row_is_refused_naming_it(config):
    with pytest.raises(ValueError, match="2 bad row") as caught:
        load_problems(config(["math", "trl_user_rewards:countdown"]).task)
    said = "is a dict (keys target, numbers), but the math verifier needs a text or a number answer"
    assert said in str(caught.value)


def test_the_default_eval_suite_copied_from_the_task_is_judged_by_its_own_verifier(config):
    cfg = config(["trl_user_rewards:countdown"])
    assert cfg.task.judged_by() == ("trl_user_rewards:countdown",)
    [suite] = cfg.eval.tasks  # the held-out test.jsonl, a copy of the training task's settings
    assert (suite.split, suite.judged_by()) == ("test", ())  # scored by the math verifier: not the training mix
    with pytest.raises(ValueError, match="the math verifier needs a text"):
        load_problems(suite)
    both = config(["trl_user_rewards:countdown"], verifier="verl_user_rewards:countdown")
    assert both.task.judged_by() == ("trl_user_rewards:countdown",)  # verify.verifiers reward training
    assert both.eval.tasks[0].judged_by() == ("verl_user_rewards:countdown",)  # task.verifier scores the suite
