"""One process of a scale-out test, run alone (`python ddp_child.py ...`) or as a rank of
`torchrun --nproc_per_node 2 ddp_child.py ...`; rank 0 writes what the test compares.

    ddp_child.py update MODEL OUT_DIR     the GRPO/DPO/PPO update on FIXED rollouts, for several loss settings;
                                           writes OUT_DIR/<case>.pt = {"params": ..., "stats": ...}
    ddp_child.py run MODEL RUN_DIR STEPS  a real training run (hf sampler, verifier pool with the toy
                                           `scaleout_rewards:score`), resumed from RUN_DIR if it holds a checkpoint;
                                           metrics.jsonl and checkpoints are the output
    ddp_child.py reference MODEL OUT_DIR RUN_DIR
                                           alone: `update` into OUT_DIR, then a 2-step `run` in RUN_DIR (one
                                           start-up for both one-process references)
MODEL is a local HF model directory (the tests use an untrained tiny Qwen2).

Sampling is made deterministic PER PROBLEM by `PerProblem` (per_problem.py): the hf backend seeds once per generate
call, so the samples of a problem would otherwise depend on which other problems share its call (i.e. on the
rank's shard).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from rlvr.trainers.run_config import validate_config
from rlvr.sampling.hf_backend import HFSampler
from rlvr.trainers.loop import Scored, Trainer

from per_problem import PerProblem  # this folder is sys.path[0] of a child script

UPDATE_CASES = {
    # name: (algorithm, train-section overrides)
    "grpo_dapo": ("grpo", {"grpo": {"group_size": 4, "loss_aggregation": "dapo"}}),
    "grpo_seqmean_beta": ("grpo", {"grpo": {"group_size": 4, "loss_aggregation": "grpo", "beta": 0.1}}),
    "grpo_dr_batchscale_mu2": (
        "grpo", {"grpo": {"group_size": 4, "loss_aggregation": "dr_grpo", "scale": "batch", "num_iterations": 2}},
    ),
    "grpo_filter": ("grpo", {"grpo": {"group_size": 4, "zero_variance": "filter"}}),
    "dpo": ("dpo", {"dpo": {"group_size": 4}, "optim": {"lr": 1e-3, "micro_batch_size": 1}}),
    "ppo": ("ppo", {"ppo": {"group_size": 4, "kl_coef": 0.05}}),
}


def config(model, run_dir, algorithm="grpo", steps=2, **train):
    return validate_config({
        "model": {"path": str(model)},
        "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 16}},
        "verify": {"workers": 1, "verifiers": [{"name": "scaleout_rewards:score"}]},
        "train": {
            "algorithm": algorithm, "steps": steps, "prompts_per_step": 4, "seed": 3,
            "grpo": {"group_size": 4}, "optim": {"lr": 1e-3, "micro_batch_size": 3},
            "checkpoint": {"dir": str(run_dir), "every": 1}, **train,
        },
    })


class NoSampler:
    def sync(self, model):
        pass

    def close(self):
        pass


def fixed_rollouts(trainer, group_size):
    """4 groups of `group_size` completions with fixed token ids and rewards (one group all-equal)."""
    from rlvr.sampling.types import Completion, Group

    gen = torch.Generator().manual_seed(11)
    problems = trainer.problems[:4]
    groups, rewards = [], []
    for g, problem in enumerate(problems):
        prompt = torch.randint(3, 100, (3 + g,), generator=gen).tolist()
        group = Group(problem=problem)
        for i in range(group_size):
            length = 2 + (3 * g + 5 * i) % 9
            tokens = torch.randint(3, 100, (length,), generator=gen).tolist()
            reason = "length" if length == 10 else "stop"
            group.completions.append(Completion(problem.id, "x", tokens, prompt, None, reason))
        groups.append(group)
        rewards.append([1.0] * group_size if g == 2 else [float((g + i) % 3 == 0) for i in range(group_size)])
    return groups, rewards


def run_update(model: Path, out_dir: Path) -> None:
    for name, (algorithm, train) in UPDATE_CASES.items():
        trainer = Trainer(config(model, out_dir / name, algorithm, **train), sampler=NoSampler(), pool=NoSampler(), resume=False,
                          log=lambda _m: None)
        groups, rewards = fixed_rollouts(trainer, train[algorithm]["group_size"])
        stats = trainer.update(Scored(groups, rewards))
        if trainer.dist.is_main:
            params = {k: v.detach().clone() for k, v in trainer.policy.model.named_parameters()}
            if trainer.policy.value_head is not None:
                params.update({f"value_head.{k}": v.detach().clone() for k, v in trainer.policy.value_head.named_parameters()})
            torch.save({"params": params, "stats": stats, "world_size": trainer.dist.world_size}, out_dir / f"{name}.pt")
        trainer.close()


def run_training(model: Path, run_dir: Path, steps: int) -> None:
    cfg = config(model, run_dir, steps=2)
    sampler = PerProblem(HFSampler(cfg.sampler, model))
    trainer = Trainer(cfg, sampler=sampler, resume=True, log=lambda m: print(m, flush=True))
    try:
        trainer.train(steps=steps)
        if trainer.dist.is_main:
            (run_dir / "world_size").write_text(str(trainer.dist.world_size))
    finally:
        sampler.close()
        trainer.close()


if __name__ == "__main__":
    mode, model, path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if mode == "update":  # the group is made here once, so the Trainers below join it and leave it up
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            torch.distributed.init_process_group("gloo")
        run_update(model, path)
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    elif mode == "reference":
        run_update(model, path)
        run_training(model, Path(sys.argv[4]), 2)
    else:
        run_training(model, path, int(sys.argv[4]))
