"""Every verifier's verdict statuses reach the metrics row and the step's console line, not only the primary's: a
second verifier that always times out, raises or returns a bare float is named, never a silent zero in the reward;
the first failure's reason goes with it, and a verifier failing on some verdicts only gets a warning of its own."""

from types import SimpleNamespace

import pytest

from rlvr.trainers.metrics import REASON_CHARS, failure_reason, format_step, metric_name, partial_failures, rollout_metrics
from rlvr.verifiers.verdict import STATUSES, Verdict

SLOW = "my_rewards:slow"
# what the verifier pool and registry put in a failed verdict's detail (verifiers/pool.py, verifiers/registry.py)
DETAILS = {"timeout": {"rule": "deadline", "timeout_s": 5.0},
           "error": {"rule": "verifier_raised", "error": "ZeroDivisionError: division by zero"}}


def _groups(n_groups=2, group_size=2):
    return [SimpleNamespace(completions=[SimpleNamespace(token_ids=[1, 2, 3], truncated=False)] * group_size)
            for _ in range(n_groups)]


def _scored(primary_statuses, second_statuses, second=SLOW):
    """Two groups of two: rewards (math weight 1, the second 0.5) and verdict dicts holding both verifiers."""
    verdicts = [{"math": Verdict(float(p == "correct"), p, DETAILS.get(p, {})),
                 second: Verdict(float(s == "correct"), s, DETAILS.get(s, {}))}
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
                    "'my_rewards:slow': every verdict is error/timeout (error 0, timeout 4; first: deadline): "
                    "it adds nothing to the reward")


def test_one_verdict_that_is_not_error_or_timeout_means_no_warning():
    rewards, verdicts = _scored(["correct"] * 4, ["timeout", "error", "error", "wrong"])
    assert "WARNING" not in format_step(_row(rewards, verdicts), 10)


def test_both_verifiers_failing_give_two_warnings_the_primary_first():
    rewards, verdicts = _scored(["error"] * 4, ["error", "error", "timeout", "timeout"])
    line = format_step(_row(rewards, verdicts), 10)
    primary = ("WARNING: every verdict is error/timeout (error 4, timeout 0; first: ZeroDivisionError: division by "
               "zero): the verifier is failing, not the policy")
    second = ("WARNING: verifier 'my_rewards:slow': every verdict is error/timeout (error 2, timeout 2; first: "
              "ZeroDivisionError: division by zero)")
    assert primary in line and second in line and line.index(primary) < line.index(second), line


@pytest.mark.parametrize("detail, reason", [
    # a plug-in that raised: the exception as the registry wrote it
    ({"rule": "verifier_raised", "error": "ZeroDivisionError: division by zero"}, "ZeroDivisionError: division by zero"),
    # a traceback-like text: its first line only
    ({"rule": "worker_error", "error": "RuntimeError: boom\nTraceback (most recent call last):\n  ..."}, "RuntimeError: boom"),
    # no error text (the pool's deadline, a dead worker): the rule
    ({"rule": "worker_died"}, "worker_died"),
    # nothing at all: the status
    ({}, "error"),
])
def test_a_failure_reason_is_one_line(detail, reason):
    assert failure_reason(Verdict(0.0, "error", detail)) == reason


def test_a_long_failure_reason_is_cut_to_one_short_line():
    reason = failure_reason(Verdict(0.0, "error", {"error": "ValueError: " + "x" * 1000}))
    assert len(reason) == REASON_CHARS and reason.endswith("...") and "\n" not in reason


def test_the_row_holds_the_first_failed_verdicts_reason_of_each_verifier():
    rewards, verdicts = _scored(["correct", "error", "correct", "correct"], ["wrong", "wrong", "timeout", "error"])
    row = rollout_metrics(_groups(), rewards, verdicts, "math")
    assert row["failure_reason"] == "ZeroDivisionError: division by zero"  # the primary's
    assert row[f"failure_reason/{SLOW}"] == "deadline"  # its first failure is the timeout, before the error
    rewards, verdicts = _scored(["correct"] * 4, ["wrong"] * 4)
    assert not any(key.startswith("failure_reason") for key in rollout_metrics(_groups(), rewards, verdicts, "math"))


def test_a_verifier_failing_on_some_verdicts_gets_a_warning_with_the_reason():
    rewards, verdicts = _scored(["correct"] * 4, ["correct", "error", "error", "wrong"])
    warnings = partial_failures(_row(rewards, verdicts))
    assert warnings == {SLOW: f"warning: verifier '{SLOW}': 2 of 4 verdicts of step 1 are error/timeout; first: "
                              "ZeroDivisionError: division by zero (said once per run; the status/ metrics count "
                              "them at every step)"}


@pytest.mark.parametrize("second", [["error"] * 4, ["correct"] * 4], ids=["every-one", "none"])
def test_no_partial_warning_when_every_verdict_or_none_failed(second):
    rewards, verdicts = _scored(["correct"] * 4, second)
    assert partial_failures(_row(rewards, verdicts)) == {}
