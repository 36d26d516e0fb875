"""Short training runs of the trainer tests on the real tiny model (a module of its own: `conftest` names clash
across test folders)."""

from __future__ import annotations

from pathlib import Path

from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import validate_config


def tiny_run_config(run_dir: Path, algorithm: str = "grpo", *, verify: dict | None = None, **train):
    """`algorithm` on arith level 1 with the hf sampler: 2 prompts x 2 completions of at most 16 tokens a step, a
    checkpoint every step, 5 kept; `verify` and `train` add to (or replace) their sections' keys."""
    return validate_config({
        "model": {"path": "tiny"},
        "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 16}},
        "verify": {"workers": 1, **(verify or {})},
        "train": {
            "algorithm": algorithm, "steps": 3, "prompts_per_step": 2, "seed": 7,
            algorithm: {"group_size": 2}, "optim": {"lr": 1e-3, "micro_batch_size": 4},
            "checkpoint": {"dir": str(run_dir), "every": 1, "keep": 5}, **train,
        },
    })


def run_steps(cfg, steps: int) -> Path:
    """Train a fresh run of `cfg` for `steps` steps (a checkpoint after each); its run dir."""
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    try:
        trainer.train(steps=steps)
    finally:
        trainer.close()
    return Path(cfg.train.checkpoint.dir)
