"""FSDP2 over NCCL on one GPU: a 1-rank process group in this process, so every collective of the sharded path runs
on the GPU (gloo on the CPU is all the scale-out tests have) while nothing is split, and the sharded policy must
do what the plain one does:
- shards, buffers and the replicated value head on the GPU, filled from rank 0's host copy over NCCL
  (`broadcast_from_rank0`, the buffer and RNG broadcasts);
- one step with the trainer's AdamW, which on CUDA must step shards mixed with the plain value head one by one
  (fused and foreach refuse the mix), and the clipping's all-reduce: the same gradient norm and weights as the
  plain module's step;
- the streamed sync (`DTensor.full_tensor()` per group) into an hf sampler's own copy, exactly; generation
  through the unsharded module under `generation_weights`, sharded again afterwards;
- a DCP checkpoint written and read back into a fresh sharded policy: the same weights and AdamW moments.
Tolerances: the plain and sharded steps run the same bf16-autocast kernels, but CUDA's backward is not bitwise
deterministic and AdamW's first step moves a weight by ~lr * sign(gradient), so a weight whose gradient is ~0 may
move the other way: at most 2 lr apart, and such weights must stay rare (<= 0.1% beyond 1e-4)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as tdist

from tests.gpu.gpu_helpers import cuda
from tests.scaleout.fsdp_step import fixed_batch, full_params, train_step
from tests.scaleout.launch_child import free_port

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not cuda, reason="needs a CUDA device")]

DEVICE = "cuda"
BACKEND = "gloo" if DEVICE == "cpu" else "nccl"  # the CPU rehearsal (scripts/gpu_tests_on_cpu.sh) reads cuda as cpu
LR = 1e-3


@pytest.fixture(scope="module")
def one_rank_group():
    tdist.init_process_group(BACKEND, init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        yield
    finally:
        tdist.destroy_process_group()


def _policy(model_dir, *, sharded: bool):
    from rlvr.trainers import fsdp
    from rlvr.trainers.config import FSDPConfig, ModelConfig
    from rlvr.trainers.policy import Policy

    torch.manual_seed(0)
    cfg = ModelConfig(path=str(model_dir), device=DEVICE, autocast="bfloat16")
    policy = Policy.from_config(cfg, path=str(model_dir), value_head=True, build_on="cpu" if sharded else None)
    if sharded:
        fsdp.shard_policy(policy, FSDPConfig())
    return policy


def _optimizer(policy):
    from rlvr.trainers.config import OptimConfig
    from rlvr.trainers.optimizer import build_optimizer

    return build_optimizer(policy.trainable_parameters(), OptimConfig(lr=LR), steps=10)[0]


def _assert_close_weights(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name, value in want.items():
        diff = (got[name].float() - value.float()).abs()
        assert diff.max().item() <= 2.1 * LR, name
        assert (diff > 1e-4).float().mean().item() <= 1e-3, name


@pytest.fixture(scope="module")
def stepped(one_rank_group, random_model):
    """(plain policy, sharded policy, its optimizer, weights before, norms) after one step each on batch 1."""
    from rlvr.trainers.distributed import Dist

    plain, sharded = _policy(random_model, sharded=False), _policy(random_model, sharded=True)
    before = {"plain": full_params(plain), "sharded": full_params(sharded)}
    optimizers = {"plain": _optimizer(plain), "sharded": _optimizer(sharded)}
    norms = {side: train_step(policy, optimizers[side], fixed_batch(1), Dist())
             for side, policy in (("plain", plain), ("sharded", sharded))}
    return plain, sharded, optimizers["sharded"], before, norms


def test_the_sharded_policy_lives_on_the_gpu_with_rank_0s_values(stepped):
    from rlvr.trainers import fsdp

    plain, sharded, _, before, _ = stepped
    assert all(fsdp.is_sharded_tensor(p) and p.device.type == DEVICE for p in sharded.model.parameters())
    assert all(p.device.type == DEVICE for p in sharded.value_head.parameters())
    for (name, buffer), (_, want) in zip(sharded.model.named_buffers(), plain.model.named_buffers(), strict=True):
        assert buffer.device.type == DEVICE and torch.equal(buffer, want), name  # rotary frequencies
    for name, value in before["plain"].items():
        assert torch.equal(before["sharded"][name].cpu(), value.cpu()), name


def test_a_sharded_step_equals_the_plain_step(stepped):
    plain, sharded, optimizer, before, norms = stepped
    assert optimizer.defaults["foreach"] is False  # shards beside the replicated value head: stepped one by one
    assert norms["plain"] > 0.5  # the clipping to 0.5 acted, so the sharded norm had to be right
    assert norms["sharded"] == pytest.approx(norms["plain"], rel=1e-3)
    after = full_params(sharded)
    _assert_close_weights(after, full_params(plain))
    assert max((after[k] - before["sharded"][k]).abs().max().item() for k in after) > 1e-4  # it moved


def test_the_sharded_policy_syncs_into_a_sampler_and_generates_through_its_own_module(stepped, random_model):
    from rlvr.data.problem import Problem
    from rlvr.sampling.config import SamplerConfig, SamplingParams
    from rlvr.sampling.hf_backend import HFSampler
    from rlvr.trainers import fsdp
    from rlvr.trainers.config import FSDPConfig

    _, sharded, _, _, _ = stepped
    want = full_params(sharded)
    cfg = SamplerConfig(backend="hf", dtype="float32")
    own = HFSampler(cfg, random_model, device=DEVICE)
    shared = HFSampler(cfg, random_model, tokenizer=sharded.tokenizer, model=sharded.model)
    try:
        fsdp.sync_sampler(own, sharded.model)
        for name, value in own.model.named_parameters():
            assert torch.equal(value.detach(), want[name]), name
        problems = [Problem(id=f"p{i}", task="arith", prompt=f"{i} + {i} =", reference=str(2 * i)) for i in range(3)]
        with fsdp.generation_weights(sharded.model, FSDPConfig(), shared):
            groups = shared.generate(problems, 2, SamplingParams(max_tokens=6, temperature=1.0, seed=7))
    finally:
        own.close()
        shared.close()
    assert [len(g.completions) for g in groups] == [2, 2, 2]
    assert all(c.token_ids for g in groups for c in g.completions)
    assert all(fsdp.is_sharded_tensor(p) for p in sharded.model.parameters())  # the shards came back


def test_a_dcp_checkpoint_over_nccl_reads_back_exactly(stepped, random_model, tmp_path):
    from rlvr.trainers import fsdp
    from rlvr.trainers import fsdp_checkpoint as fckpt
    from rlvr.trainers.distributed import Dist
    from rlvr.trainers.run_config import validate_config

    _, sharded, optimizer, _, _ = stepped
    config = validate_config({"model": {"path": str(random_model), "device": DEVICE}, "sampler": {"backend": "hf"},
                              "train": {"checkpoint": {"dir": str(tmp_path)}}})
    path = fckpt.save_checkpoint(tmp_path, 1, sharded, optimizer, {"cursor": 0}, config.model_dump(mode="json"),
                                 Dist(), keep=2)
    fresh = _policy(random_model, sharded=True)
    fresh_optimizer = _optimizer(fresh)
    fckpt.load_sharded(path, fresh, fresh_optimizer)
    want, got = full_params(sharded), full_params(fresh)
    for name, value in want.items():
        assert torch.equal(got[name], value), name
    moments = [(optimizer.state[p], fresh_optimizer.state[q])
               for p, q in zip(sharded.trainable_parameters(), fresh.trainable_parameters(), strict=True)]
    assert moments and all(saved for saved, _ in moments)  # the step left AdamW state to save
    for saved, loaded in moments:
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(fsdp.full(loaded[key]), fsdp.full(saved[key])), key
