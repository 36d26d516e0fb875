"""The shared training loop on the real tiny model: a step updates weights, non-finite values stop a step
without touching the last good checkpoint, and an existing run is never silently overwritten."""

import math
import sys

import pytest
import torch

from rlvr.trainers.run_config import validate_config
from rlvr.trainers.checkpoint import latest_checkpoint
from rlvr.trainers.loop import NonFiniteError, Trainer


def _cfg(run_dir, algorithm="grpo", **train):
    return validate_config({
        "model": {"path": "tiny"},
        "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 32}},
        "verify": {"workers": 1},
        "train": {
            "algorithm": algorithm, "steps": 3, "prompts_per_step": 4, "seed": 5,
            "grpo": {"group_size": 4}, "dpo": {"group_size": 4}, "ppo": {"group_size": 2},
            "optim": {"lr": 1e-4, "micro_batch_size": 8},
            "checkpoint": {"dir": str(run_dir), "every": 1}, **train,
        },
    })


@pytest.mark.parametrize("algorithm", ["grpo", "dpo", "ppo"])
def test_one_step_of_each_algorithm_updates_the_policy_and_logs_metrics(tmp_path, warm_model, algorithm):
    trainer = Trainer(_cfg(tmp_path, algorithm), resume=False, log=lambda _m: None)
    try:
        before = {k: v.clone() for k, v in trainer.policy.model.state_dict().items()}
        row = trainer.run_step()
        after = trainer.policy.model.state_dict()
        changed = any(not torch.equal(before[k], after[k]) for k in before)
        assert row["step"] == 1 and 0.0 <= row["accuracy"] <= 1.0 and row["generated_tokens"] > 0
        if algorithm == "dpo" and row["pairs"] == 0:  # no group had both a right and a wrong answer
            assert not changed
        else:
            assert changed and math.isfinite(row["loss"])
        assert trainer.metrics.read()[0]["step"] == 1
        # no algorithm reads the sampler's log-probs: training does not ask for them
        assert all(c.sample_logprobs is None for g in trainer.last_groups for c in g.completions)
    finally:
        trainer.close()


def test_dpo_from_a_pairs_file_samples_nothing_and_resumes_in_the_file_order(tmp_path, warm_model):
    """Offline DPO: each step takes the next pairs of the file (conversational rows with an implicit prompt), the
    first step at ln 2 (the policy is its reference), nothing sampled, and a resumed run goes on from its cursor."""
    import json

    pairs = tmp_path / "pairs.jsonl"
    user = lambda n: {"role": "user", "content": f"Compute {n} + 1."}  # noqa: E731
    said = lambda text: {"role": "assistant", "content": text}  # noqa: E731
    pairs.write_text("".join(json.dumps({"chosen": [user(n), said(f"\\boxed{{{n + 1}}}")],
                                         "rejected": [user(n), said(f"\\boxed{{{n + 2}}}")]}) + "\n" for n in range(6)))
    cfg = lambda steps: _cfg(tmp_path / "run", "dpo", steps=steps, prompts_per_step=2,  # noqa: E731
                             dpo={"pairs_path": str(pairs), "beta": 0.1})
    trainer = Trainer(cfg(2), resume=False, log=lambda _m: None)
    try:
        rows = [trainer.run_step() for _ in range(2)]
        trainer.save()
    finally:
        trainer.close()
    assert rows[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert math.isfinite(rows[1]["loss"]) and rows[1]["loss"] != rows[0]["loss"]  # other pairs, a trained policy
    assert all(r["pairs"] == 2 and r["generated_tokens"] == 0 for r in rows)  # nothing sampled
    resumed = Trainer(cfg(3), resume=True, log=lambda _m: None)
    try:
        assert resumed.step == 2 and resumed.cursor == 4
        row = resumed.run_step()
        assert row["pairs"] == 2 and resumed.cursor == 6 and math.isfinite(row["loss"])
    finally:
        resumed.close()


def test_nan_loss_stops_the_step_and_keeps_the_last_checkpoint(tmp_path, warm_model):
    trainer = Trainer(_cfg(tmp_path), resume=False, log=lambda _m: None)
    try:
        trainer.train(steps=1)
        saved = latest_checkpoint(tmp_path)
        assert saved.name == "step-1"
        scored = trainer.collect()
        with torch.no_grad():  # poison the policy: every logit becomes NaN
            trainer.policy.model.get_output_embeddings().weight.fill_(float("nan"))
        with pytest.raises(NonFiniteError, match="step 2"):
            trainer.update(scored)
        assert latest_checkpoint(tmp_path) == saved and trainer.step == 1
    finally:
        trainer.close()


def test_nan_reward_from_a_user_verifier_is_an_error_verdict_not_a_crash(tmp_path, warm_model, monkeypatch):
    plugin = tmp_path / "nan_rewards.py"
    plugin.write_text(
        "from rlvr.verifiers.verdict import Verdict\n"
        "def score(completion, reference, options=None):\n"
        "    return Verdict(float('nan'), 'correct', {})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = _cfg(tmp_path / "run").model_copy(update={"verify": validate_config(
        {"verify": {"workers": 1, "verifiers": [{"name": "nan_rewards:score"}]}}).verify})
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    try:
        row = trainer.run_step()
        assert row["status/error"] == 1.0 and row["reward_mean"] == 0.0
    finally:
        trainer.close()
        sys.modules.pop("nan_rewards", None)


def test_existing_run_is_not_overwritten_without_resume(tmp_path, warm_model):
    trainer = Trainer(_cfg(tmp_path), resume=False, log=lambda _m: None)
    try:
        trainer.train(steps=1)
    finally:
        trainer.close()
    with pytest.raises(FileExistsError, match="already holds checkpoints"):
        Trainer(_cfg(tmp_path), resume=False, log=lambda _m: None)


def test_a_task_smaller_than_one_batch_is_said_at_start(tmp_path, warm_model):
    lines = []
    cfg = _cfg(tmp_path, prompts_per_step=8)
    cfg = cfg.model_copy(update={"task": cfg.task.model_copy(update={"limit": 3})})
    trainer = Trainer(cfg, resume=False, log=lines.append)
    try:
        assert len(trainer.problems) == 3
    finally:
        trainer.close()
    assert ("warning: the task has 3 problems, fewer than train.prompts_per_step 8: each step's batch repeats "
            "problems") in lines, lines
