"""One process of the FSDP training-run test: alone, or as a rank of `torchrun` / `accelerate launch`.

    fsdp_run_child.py MODEL RUN_DIR STEPS ALGORITHM [key=value ...] [then RUN_DIR STEPS ALGORITHM [key=value ...] ...]

A real run of the Trainer (`train.parallel=fsdp`; alone it runs unsharded) with the default hf sampler, which
decodes with the policy's own (here: sharded) module; resumed from RUN_DIR's newest checkpoint if any. Sampling is
made deterministic PER PROBLEM (one generate call per problem, seeded as in one whole call), so a rank's share
of the problems samples what one process samples for them. metrics.jsonl and checkpoints are the output.
Runs joined by `then` train one after the other in the same processes, each with its own Trainer (seeded as
alone): the one-process references share one start-up. Ranks other than 0 get MODEL without its weight files
(unless a vLLM engine on each rank must read them): the sharded policy must come from rank 0's copy.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import apply_overrides, validate_config

from per_problem import PerProblem  # this folder is sys.path[0] of a child script
from weightless import model_for_this_rank


def config(model: Path, run_dir: Path, algorithm: str, overrides: list[str]):
    data = {
        "model": {"path": str(model)},
        "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 12}},
        "verify": {"workers": 1, "verifiers": [{"name": "scaleout_rewards:score"}]},
        "train": {
            "algorithm": algorithm, "steps": 2, "prompts_per_step": 4, "seed": 3, "parallel": "fsdp",
            "grpo": {"group_size": 4}, "ppo": {"group_size": 4, "kl_coef": 0.05}, "dpo": {"group_size": 4},
            "optim": {"lr": 1e-3, "micro_batch_size": 3}, "checkpoint": {"dir": str(run_dir), "every": 1},
        },
    }
    return validate_config(apply_overrides(data, overrides))


def main(model: Path, run_dir: Path, steps: int, algorithm: str, overrides: list[str]) -> None:
    if "sampler.backend=vllm" not in overrides:  # each rank's vLLM engine reads the weights; the trainer does not
        model = model_for_this_rank(model, run_dir.with_name(run_dir.name + "-model"))
    trainer = Trainer(config(model, run_dir, algorithm, overrides), resume=True, log=lambda m: print(m, flush=True))
    trainer.sampler = PerProblem(trainer.sampler)
    try:
        trainer.train(steps=steps)
        if trainer.dist.is_main:
            (run_dir / "world_size").write_text(str(trainer.dist.world_size))
            (run_dir / "sampler").write_text(trainer.sampler.inner.describe())
    finally:
        trainer.close()


def runs(args: list[str]) -> list[tuple[Path, int, str, list[str]]]:
    """`RUN_DIR STEPS ALGORITHM [key=value ...]` groups, separated by `then`."""
    groups, current = [], []
    for arg in [*args, "then"]:
        if arg != "then":
            current.append(arg)
            continue
        groups.append((Path(current[0]), int(current[1]), current[2], current[3:]))
        current = []
    return groups


if __name__ == "__main__":
    for run_dir, steps, algorithm, overrides in runs(sys.argv[2:]):
        main(Path(sys.argv[1]), run_dir, steps, algorithm, overrides)
