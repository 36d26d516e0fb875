"""Learning is shown, not assumed: a short GRPO run of the demo recipe lifts held-out arith accuracy.

Generous bound on purpose (the measured numbers, with the full budget, are in bench/RESULTS.md): 20 steps of
32 prompts x G=8 on level 1 must raise greedy accuracy on 100 held-out problems by at least 4 points.
"""

from pathlib import Path

import pytest

from rlvr.trainers.run_config import load_config
from rlvr.flows.eval_report import evaluate_model
from rlvr.trainers.loop import Trainer

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_grpo_lifts_held_out_greedy_accuracy(tmp_path, warm_model):
    cfg = load_config(REPO / "configs" / "arith_grpo.yaml", [
        f"model.path={warm_model}", "train.steps=20", f"train.checkpoint.dir={tmp_path / 'run'}",
        "train.checkpoint.every=20", "eval.tasks=[{name: arith, level: 1, split: test, limit: 100}]",
        "eval.n=1", "eval.k=[1]",
    ])
    quiet = lambda _msg: None  # noqa: E731
    trainer = Trainer(cfg, resume=False, log=quiet)
    try:
        suite = "arith-l1-test"
        before = evaluate_model(trainer.sampler, trainer.pool, cfg, "before", log=quiet)["suites"][suite]
        rows = trainer.train()
        after = evaluate_model(trainer.sampler, trainer.pool, cfg, "after", log=quiet)["suites"][suite]
    finally:
        trainer.close()
    assert len(rows) == 20 and all(r["grad_norm"] > 0 for r in rows[:5])
    assert after["greedy_accuracy"] >= before["greedy_accuracy"] + 0.04, (before, after)
