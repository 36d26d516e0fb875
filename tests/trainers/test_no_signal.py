"""A step on which every group's completions got the same reward learns nothing from it; the audit's GSM8K run printed
`loss 0.0000 reward 0.000 acc 0.000 len 32.0` at every step, with truncation_rate 1.0 in metrics.jsonl and nothing
said. The Trainer now says it once per run with the cause where the row shows it (TRL logs frac_reward_zero_std
and the clipped ratio); `groups_kept` counts the groups the policy gradient learns from (it said 4 of 4 there)."""

import sys

import pytest

from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import validate_config
from tests.trainers.tiny_runs import tiny_run_config

NEVER = "from rlvr.verifiers.verdict import Verdict\ndef never(completion, reference, options=None):\n" \
        "    return Verdict(0.0, 'wrong')\n"
WARNING = "no group's completions got different rewards, so the step learns nothing from the reward"


@pytest.fixture
def never_verifier(tmp_path, monkeypatch):
    """A verifier plug-in (a module in tmp_path, importable by the pool's workers) that rewards nothing."""
    (tmp_path / "never_mod.py").write_text(NEVER)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield [{"name": "never_mod:never"}]
    sys.modules.pop("never_mod", None)


def _run(tmp_path, max_tokens, verifiers=None, steps=2):
    """`steps` GRPO steps of the tiny model on arith (2 groups of 2 a step): the rows and the log lines."""
    data = tiny_run_config(tmp_path / "run", verify={"verifiers": verifiers} if verifiers else None,
                           steps=steps).model_dump(mode="json")
    data["sampler"]["params"]["max_tokens"] = max_tokens
    lines = []
    trainer = Trainer(validate_config(data), resume=False, log=lines.append)
    try:
        rows = [trainer.run_step() for _ in range(steps)]
    finally:
        trainer.close()
    return rows, lines


def test_every_completion_cut_at_max_tokens_is_said_once_with_the_setting_to_raise(tmp_path, warm_model):
    rows, lines = _run(tmp_path, max_tokens=2)
    assert all(r["truncation_rate"] == 1.0 and r["zero_variance_frac"] == 1.0 for r in rows), rows
    assert [r["groups_kept"] for r in rows] == [0.0, 0.0]  # it said 2.0: every group "kept", none learned from
    said = [line for line in lines if WARNING in line]
    assert said == [f"warning: step 1: {WARNING} (zero_variance_frac 1.0): every completion was cut at "
                    "sampler.params.max_tokens=2 before it ended: raise it (said once per run; metrics.jsonl has "
                    "zero_variance_frac and truncation_rate at every step)"], lines


def test_a_verifier_that_rewards_nothing_is_said_with_the_status_counts(tmp_path, warm_model, never_verifier):
    rows, lines = _run(tmp_path, max_tokens=48, verifiers=never_verifier)
    assert rows[0]["truncation_rate"] < 1.0, rows[0]  # the answers end: the rewards, not the length, are the cause
    said = [line for line in lines if WARNING in line]
    assert len(said) == 1 and said[0].endswith(
        "no completion is correct (wrong 4): the task is too hard for this model, or the verifier never rewards its "
        "answers (`rlvr verify` scores a file of completions) (said once per run; metrics.jsonl has "
        "zero_variance_frac and truncation_rate at every step)"), lines


ROW = {"step": 3, "completions": 8, "zero_variance_frac": 1.0, "truncation_rate": 0.5, "accuracy": 1.0,
       "reward_mean": 1.0, "status/correct": 1.0}


@pytest.mark.parametrize("change, said", [
    ({}, "every completion is correct: the task is too easy for this model"),
    ({"accuracy": 0.5, "reward_mean": 0.5, "status/correct": 0.5}, "each group's rewards are equal (mean 0.5)"),
    ({"zero_variance_frac": 0.75}, None),  # one group tells its completions apart
    ({"groups_kept": 1.0, "accuracy": 0.0}, None),  # NGRPO (virtual_max): an all-wrong group still learns
    ({"status/correct": 0.0, "status/error": 1.0, "accuracy": 0.0}, None),  # the step's line says the verifier fails
    ({"completions": 0}, None),  # offline DPO samples nothing
])
def test_the_warning_names_the_cause_the_row_shows(change, said):
    from rlvr.trainers.verifier_health import no_signal_warning

    warning = no_signal_warning({**ROW, **change}, max_tokens=64)
    if said is None:
        assert warning is None
    else:
        assert f"(zero_variance_frac 1.0): {said} (said once per run" in warning, warning
