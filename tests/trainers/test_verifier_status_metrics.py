"""Every verifier's verdict statuses reach the metrics row and the step's console line, not only the primary's: a
second verifier that always times out, raises or returns a bare float is named, never a silent zero in the reward."""

from types import SimpleNamespace

import pytest

from rlvr.trainers.metrics import format_step
from rlvr.trainers.metrics import metric_name, rollout_metrics
from rlvr.verifiers.verdict import STATUSES, Verdict

SLOW = "my_rewards:slow"


def _groups(n_groups=2, group_size=2):
    return [SimpleNamespace(completions=[SimpleNamespace(token_ids=[1, 2, 3], truncated=False)] * group_size)
            for _ in range(n_groups)]


def _scored(primary_statuses, second_statuses, second=SLOW):
    """Two groups of two: rewards (math weight 1, the second 0.5) and verdict dicts holding both verifiers."""
    verdicts = [{"math": Verdict(float(p == "correct"), p), second: Verdict(float(s == "correct"), s)}
                for p, s in zip(primary_statuses, second_statuses)]
    groups = [verdicts[:2], verdicts[2:]]
    rewards = [[v["math"].reward + 0.5 * v[second].reward for v in group] for group in groups]
    return rewards, groups


def _row(rewards, verdicts, primary="math"):
    return {"step": 1, "loss": 0.01, "step_time_s": 2.0,
            **rollout_metrics(_groups(), rewards, verdicts, primary)}


def test_a_second_verifier_that_always_times_out_has_its_own_status_fractions():
    rewards, verdicts = _scored(["correct", "correct", "correct", "wrong"], ["timeout"] * 4)
    row = rollout_metrics(_groups(), rewards, verdicts, "math")
    # the primary keeps today's keys: accuracy and status/<s> are the math verifier's alone
    assert (row["accuracy"], row["status/correct"], row["status/wrong"]) == (0.75, 0.75, 0.25)
    assert row["status/timeout"] == 0.0 and row["status/error"] == 0.0
    assert row[f"status/{SLOW}/timeout"] == 1.0 and row[f"reward/{SLOW}"] == 0.0
    assert all(row[f"status/{SLOW}/{s}"] == 0.0 for s in STATUSES if s != "timeout")
    assert not any(key.startswith("status/math/") for key in row)  # no second copy of the primary's


def test_a_second_verifiers_mixed_statuses_are_fractions_of_its_verdicts():
    rewards, verdicts = _scored(["correct"] * 4, ["error", "timeout", "correct", "correct"])
    row = rollout_metrics(_groups(), rewards, verdicts, "math")
    assert [row[f"status/{SLOW}/{s}"] for s in ("correct", "error", "timeout")] == [0.5, 0.25, 0.25]
    assert row[f"reward/{SLOW}"] == 0.5


@pytest.mark.parametrize("name, key", [
    ("my_rewards:slow", "my_rewards:slow"),  # an import path: `:` is one of the characters MLflow allows
    ("format#2", "format-2"),  # a repeated verifier: MLflow refuses `#`
    ("pkg.mod:fn", "pkg.mod:fn"),
])
def test_verifier_names_in_metric_keys_are_ones_mlflow_accepts(name, key):
    assert metric_name(name) == key
    rewards, verdicts = _scored(["correct"] * 4, ["wrong"] * 4, second=name)
    row = rollout_metrics(_groups(), rewards, verdicts, "math")
    assert row[f"status/{key}/wrong"] == 1.0 and f"reward/{key}" in row
    validation = pytest.importorskip("mlflow.utils.validation")
    for metric in row:
        validation._validate_metric_name(metric)  # raises MlflowException on a name MLflow would refuse


def test_the_step_line_names_a_second_verifier_whose_every_verdict_failed():
    rewards, verdicts = _scored(["correct", "correct", "correct", "wrong"], ["timeout"] * 4)
    line = format_step(_row(rewards, verdicts), 10)
    assert line == ("step 1/10 loss 0.0100 reward 0.750 acc 0.750 len 3.0 (2.0s) -- WARNING: verifier "
                    "'my_rewards:slow': every verdict is error/timeout (error 0, timeout 4): "
                    "it adds nothing to the reward")


def test_one_verdict_that_is_not_error_or_timeout_means_no_warning():
    rewards, verdicts = _scored(["correct"] * 4, ["timeout", "error", "error", "wrong"])
    assert "WARNING" not in format_step(_row(rewards, verdicts), 10)


def test_both_verifiers_failing_give_two_warnings_the_primary_first():
    rewards, verdicts = _scored(["error"] * 4, ["error", "error", "timeout", "timeout"])
    line = format_step(_row(rewards, verdicts), 10)
    primary = "WARNING: every verdict is error/timeout (error 4, timeout 0): the verifier is failing, not the policy"
    second = "WARNING: verifier 'my_rewards:slow': every verdict is error/timeout (error 2, timeout 2)"
    assert primary in line and second in line and line.index(primary) < line.index(second), line
