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
from rlvr.trainers.logprobs import make_batch
from rlvr.trainers.loop import Scored, Trainer
from rlvr.trainers.run_config import validate_config
from rlvr.trainers.segment_attention import plan_segments, segment_attention_forward

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


def test_a_plan_for_an_accelerator_makes_fewer_attention_calls():
    """Each bucket is an SDPA call per layer, ~15 kernels with its gathers and backward: on a GPU their launches
    cost more than the padding that merging them computes (built on the host: no GPU needed)."""
    rng = random.Random(0)
    segments, length = [], 0
    for _ in range(4):  # 4 groups of a 30-token prompt and 8 completions of 8..128 tokens, as the batch
        prompt = list(range(length, length + 30))
        segments.append(([], prompt))
        length += 30
        for _ in range(8):
            n = rng.randint(8, 128)
            segments.append((prompt, list(range(length, length + n))))
            length += n
    on_cpu, on_gpu = plan_segments(segments, length), plan_segments(segments, length, device="cuda")
    assert len(on_gpu.buckets) < len(on_cpu.buckets) and len(on_gpu.buckets) <= 2
    q, k, v = (torch.randn(1, 2, length, 8) for _ in range(3))
    module = torch.nn.Module()
    module.is_causal = True
    same = [segment_attention_forward(module, q, k, v, None, rlvr_segments=p)[0] for p in (on_cpu, on_gpu)]
    torch.testing.assert_close(same[0], same[1], atol=1e-5, rtol=1e-5)


def test_batch_to_an_accelerator_keeps_every_tensor_shape_and_dtype(rows):
    """`Batch.to` an accelerator copies the four index tensors as one and splits them there (the meta device
    stands in for a GPU: shapes and dtypes, no values); on the CPU it moves nothing."""
    batch = make_batch(*rows, pad_id=0)
    moved = batch.to("meta")
    for name in ("input_ids", "attention_mask", "position_ids", "completion_ids", "completion_mask"):
        before, after = getattr(batch, name), getattr(moved, name)
        assert after.device.type == "meta" and after.shape == before.shape and after.dtype == before.dtype
    assert batch.to("cpu").input_ids is batch.input_ids
