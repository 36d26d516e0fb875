"""The trainer's AdamW (trainers/optimizer.py): fused where the parameters allow it, the same update as torch's
multi-tensor AdamW, and the linear warm-up."""

from __future__ import annotations

import pytest
import torch

from rlvr.trainers.config import OptimConfig
from rlvr.trainers.optimizer import build_optimizer


def _params(dtype):
    torch.manual_seed(0)
    return [torch.nn.Parameter(torch.randn(shape, dtype=dtype)) for shape in ((7, 5), (5,), (3, 2, 4))]


def _steps(optimizer, params, n=3):
    for k in range(n):
        for p in params:
            torch.manual_seed(100 + k)
            p.grad = torch.randn_like(p)
        optimizer.step()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_fused_update_is_torchs_adamw_update(dtype):
    optim = OptimConfig(lr=1e-2, weight_decay=0.1, warmup_steps=0)
    fused_params, reference_params = _params(dtype), _params(dtype)
    optimizer, _ = build_optimizer(fused_params, optim, steps=10)
    assert optimizer.param_groups[0]["fused"] is True
    reference = torch.optim.AdamW(reference_params, lr=1e-2, weight_decay=0.1, foreach=True)
    _steps(optimizer, fused_params)
    _steps(reference, reference_params)
    # in bf16 the fused kernel computes in fp32 and rounds once, the multi-tensor form rounds every intermediate:
    # they agree within a few bf16 ulps (2**-7 relative)
    atol, rtol = (1e-6, 1e-6) if dtype == torch.float32 else (1e-3, 4 * 2**-7)
    for a, b, before in zip(fused_params, reference_params, _params(dtype), strict=True):
        assert not torch.equal(a, before)
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol)


def test_integer_parameters_keep_the_multi_tensor_form():
    """A parameter fused AdamW has no kernel for (here an integer one, frozen) leaves the choice to torch."""
    frozen = torch.nn.Parameter(torch.zeros(3, dtype=torch.int64), requires_grad=False)
    optimizer, _ = build_optimizer([frozen, *_params(torch.float32)], OptimConfig(), steps=10)
    assert not optimizer.param_groups[0]["fused"]


def test_shards_mixed_with_plain_parameters_step_one_by_one():
    """PPO under FSDP: the policy's parameters are shards (DTensors), the value head's are plain tensors. The
    fused and the multi-tensor kernels both refuse that mix -- and the multi-tensor form is torch's default on
    CUDA, so the first step of a PPO + FSDP run on GPUs failed. The trainer's AdamW steps such a list one by one."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        mesh = init_device_mesh("cpu", (1,))

        def params_with_grads():
            torch.manual_seed(0)
            params = [torch.nn.Parameter(distribute_tensor(torch.randn(4, 3), mesh, [Shard(0)])),
                      torch.nn.Parameter(torch.randn(3))]
            for p in params:
                p.grad = torch.ones_like(p)
            return params

        with pytest.raises(RuntimeError, match="mixed torch.Tensor and DTensor"):  # CUDA's default form
            torch.optim.AdamW(params_with_grads(), foreach=True).step()
        params = params_with_grads()
        whole = lambda p: (p.full_tensor() if hasattr(p, "full_tensor") else p).detach().clone()  # noqa: E731
        before = [whole(p) for p in params]
        optimizer, _ = build_optimizer(params, OptimConfig(lr=1e-2, warmup_steps=0), steps=10)
        assert optimizer.param_groups[0]["foreach"] is False and not optimizer.param_groups[0]["fused"]
        optimizer.step()
        assert all(not torch.equal(a, whole(p)) for a, p in zip(before, params))
    finally:
        dist.destroy_process_group()


def test_the_learning_rate_warms_up_linearly_then_stays():
    params = _params(torch.float32)
    optimizer, scheduler = build_optimizer(params, OptimConfig(lr=0.4, warmup_steps=3), steps=6)
    lrs = []
    for _ in range(6):
        lrs.append(scheduler.get_last_lr()[0])
        _steps(optimizer, params, 1)
        scheduler.step()
    assert lrs == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4])


@pytest.mark.parametrize("schedule, peer", [("linear", "get_linear_schedule_with_warmup"),
                                            ("cosine", "get_cosine_schedule_with_warmup")])
def test_decaying_schedules_follow_transformers_after_the_warm_up(schedule, peer):
    """transformers' schedules (TRL's) as the yardstick: the same lr at every step after the warm-up (theirs starts
    the warm-up at 0, ours at lr / (warmup + 1), so the warm-up steps differ by design)."""
    import transformers

    params = _params(torch.float32)
    optimizer, scheduler = build_optimizer(params, OptimConfig(lr=0.4, warmup_steps=2, schedule=schedule), steps=10)
    theirs_optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.4)
    theirs = getattr(transformers, peer)(theirs_optimizer, num_warmup_steps=2, num_training_steps=10)
    ours_lrs, their_lrs = [], []
    for _ in range(10):
        ours_lrs.append(scheduler.get_last_lr()[0])
        their_lrs.append(theirs.get_last_lr()[0])
        _steps(optimizer, params, 1)
        theirs_optimizer.step()
        scheduler.step()
        theirs.step()
    assert ours_lrs[2:] == pytest.approx(their_lrs[2:]) and ours_lrs[2] == pytest.approx(0.4)
    assert ours_lrs[:2] == pytest.approx([0.4 / 3, 0.8 / 3]) and ours_lrs[-1] < 0.1


def test_a_decay_ends_at_min_lr_ratio_and_stays_there_past_the_planned_steps():
    params = _params(torch.float32)
    optim = OptimConfig(lr=1.0, schedule="linear", min_lr_ratio=0.1)
    optimizer, scheduler = build_optimizer(params, optim, steps=4)
    lrs = []
    for _ in range(6):  # a run extended past train.steps keeps the last lr
        lrs.append(scheduler.get_last_lr()[0])
        _steps(optimizer, params, 1)
        scheduler.step()
    assert lrs == pytest.approx([1.0, 0.775, 0.55, 0.325, 0.1, 0.1])
