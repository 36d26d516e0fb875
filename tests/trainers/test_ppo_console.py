"""PPO's console line shows the policy and value losses apart (`pg_loss`, `vf_loss`), not their weighted sum under
the name `loss`; metrics.jsonl keeps its keys (`loss`, `policy_loss`, `value_loss`: other tools read them).

Before: `step 3/3 loss 0.0244 ...` where 0.0244 was vf_coef x value loss and the policy loss 3.5e-8: a reader took
the critic's regression for the policy's objective."""

import json

from rlvr.trainers.loop import Trainer
from tests.trainers.tiny_runs import tiny_run_config


def first_step(run_dir, algorithm: str, **train) -> tuple[dict, str]:
    """One real training step of `algorithm` on the tiny model: its metrics row and the console line it logged."""
    lines = []
    trainer = Trainer(tiny_run_config(run_dir, algorithm, **train), resume=False, log=lines.append)
    try:
        row, = trainer.train(steps=1)
    finally:
        trainer.close()
    return row, next(line for line in lines if line.startswith("step 1/3 "))


def test_the_ppo_step_line_shows_pg_loss_and_vf_loss(tmp_path, warm_model):
    row, step_line = first_step(tmp_path, "ppo", ppo={"group_size": 2, "vf_coef": 0.5})
    assert f"pg_loss {row['policy_loss']:.4f} vf_loss {row['value_loss']:.4f} reward " in step_line, step_line
    assert " loss " not in step_line, step_line  # the sum is in the file, under its old key
    assert abs(row["loss"] - (row["policy_loss"] + 0.5 * row["value_loss"])) < 1e-6  # what the parts add up to
    written = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert {"loss", "policy_loss", "value_loss"} <= set(written)
