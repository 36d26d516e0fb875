"""Helpers of the GPU tests: a replaying sampler (the same completions for every trainer under comparison) and
a trainer config. Nothing here needs prefect or vllm: the GPU machine has neither."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
cuda = torch.cuda.is_available()


class ReplaySampler:
    """Samples once with a real sampler, then hands every later caller the same groups for the same problems,
    so two trainers (CPU fp32, CUDA bf16) update on identical completions and rewards. Weight sync is a no-op:
    the comparison is of one update."""

    def __init__(self, sampler):
        self.sampler, self.cache = sampler, {}

    def generate(self, problems, n, params):
        key = (tuple(p.id for p in problems), n)
        if key not in self.cache:
            self.cache[key] = self.sampler.generate(problems, n, params)
        return copy.deepcopy(self.cache[key])

    def sync(self, model):
        pass

    def close(self):
        self.sampler.close()


def trainer_config(model_dir, run_dir, *, device: str, autocast: str, lr: float = 1e-3, max_tokens: int = 24,
                   lora: bool = False):
    """One GRPO step on 4 arith prompts x 4 completions, rewarded by the hash-of-text coin (bench/coin_reward.py),
    so a random model still gets non-zero advantages. `lora`: a rank-4 adapter on every projection."""
    from rlvr.trainers.run_config import validate_config

    model = {"path": str(model_dir), "device": device, "dtype": "float32", "autocast": autocast}
    if lora:
        model["lora"] = {"r": 4, "alpha": 8}
    return validate_config({
        "model": model,
        "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": max_tokens}},
        "verify": {"workers": 1, "verifiers": [{"name": "bench.coin_reward:score"}]},
        "train": {"steps": 1, "prompts_per_step": 4, "seed": 3, "grpo": {"group_size": 4},
                  "optim": {"lr": lr, "micro_batch_size": 16}, "checkpoint": {"dir": str(run_dir)}},
    })
