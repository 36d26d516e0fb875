"""A GRPO update makes the same few device->host syncs and host->device copies whatever its number of
micro-batches (issue 15: on a GPU, a small model's update is bound by these, not by its FLOPs).

Counted on CPU by `bench.step_profile.DeviceTraffic`, which simulates residency: the model's parameters and
what is computed from them live on "the device"; a sync is the host reading a device value (`.item()`,
`float()`, `bool()`, `.tolist()`, ...) or a data-dependent shape; an h2d is a host tensor moved there.
"""

import random

import pytest
import torch

from bench.step_profile import DeviceTraffic
from rlvr.data.problem import Problem
from rlvr.sampling.types import Completion, Group
from rlvr.trainers.loop import Scored, Trainer
from rlvr.trainers.run_config import validate_config

GROUPS, G = 4, 4


def _cfg(run_dir, micro_batch_size):
    return validate_config({
        "model": {"path": "tiny"},
        "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 24}},
        "verify": {"workers": 1},
        "train": {
            "algorithm": "grpo", "steps": 1, "prompts_per_step": GROUPS, "seed": 5, "grpo": {"group_size": G},
            "optim": {"lr": 1e-4, "micro_batch_size": micro_batch_size},
            "checkpoint": {"dir": str(run_dir), "every": 1},
        },
    })


def _scored(vocab: int) -> Scored:
    """4 groups of 4 completions with random tokens; group 0 is zero-variance (its rows are skipped)."""
    rng = random.Random(0)
    rewards = [[0.0] * G, [1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]]
    groups = []
    for g in range(GROUPS):
        prompt = [rng.randrange(3, vocab) for _ in range(rng.randint(5, 12))]
        completions = [
            Completion(f"p{g}", "", [rng.randrange(3, vocab) for _ in range(rng.randint(3, 24))], prompt, None, "stop")
            for _ in range(G)
        ]
        groups.append(Group(Problem(f"p{g}", "arith", "", "0"), completions))
    return Scored(groups=groups, rewards=rewards, verdicts=[[{}] * G for _ in range(GROUPS)])


def _update(run_dir, micro_batch_size):
    trainer = Trainer(_cfg(run_dir, micro_batch_size), resume=False, log=lambda _m: None)
    try:
        scored = _scored(trainer.policy.model.config.vocab_size)
        with DeviceTraffic(trainer.policy.model) as traffic:
            stats = trainer.update(scored)
        return traffic, stats
    finally:
        trainer.close()


def test_an_update_syncs_once_whatever_its_micro_batches(tmp_path, warm_model):
    one, stats_one = _update(tmp_path / "one", micro_batch_size=16)  # 12 live rows: one micro-batch
    three, stats_three = _update(tmp_path / "three", micro_batch_size=4)  # three micro-batches
    # one read of the step's stats and grad norm together; no per-micro-batch or per-layer sync
    assert one.counts["syncs"] == three.counts["syncs"] == 1, (one.sites, three.sites)
    # the loss mask and advantages once per step; per micro-batch one copy of the packed indices and one of
    # its attention plan
    assert one.counts["h2d"] <= 3 + 2 and three.counts["h2d"] <= 3 + 2 * 3, (one.sites, three.sites)
    assert stats_one["loss"] == pytest.approx(stats_three["loss"], abs=1e-6)
    assert stats_one["grad_norm"] == pytest.approx(stats_three["grad_norm"], rel=1e-4)
    assert stats_one["skipped_rows"] == stats_three["skipped_rows"] == G


def test_device_traffic_tells_device_values_from_host_values():
    weight = torch.nn.Parameter(torch.ones(3))
    host = torch.arange(3.0)
    with DeviceTraffic([weight]) as traffic:
        float(host.sum())  # a host value: free
        moved = host.to(weight.device)  # h2d
        total = (weight * moved).sum()
        float(total.detach())  # sync
        weight[weight > 0]  # data-dependent shape: sync
        torch.zeros(2, device=weight.device)  # made on the device: no copy
        torch.tensor([1, 2], device=weight.device)  # built on the host, then copied: h2d
    assert traffic.counts["syncs"] == 2 and traffic.counts["h2d"] == 2 and traffic.counts["ops"] > 0
