"""The trainer's AdamW and its learning-rate schedule.

AdamW runs fused (one kernel updates every parameter's weight and both moments; torch has it on CPU and CUDA)
wherever every trainable parameter allows it, else torch's default form. Why: it is the peer's default
(transformers' Trainer, and with it TRL, picks `adamw_torch_fused` with torch >= 2.8), so the side-by-side
benches compare the same optimizer; and it is the faster form: ~5x on 2 CPU cores (181M fp32 params: 0.09 s
against 0.49 s a step), where torch's default steps parameter by parameter. On the H200 the multi-tensor step
was already 0.01-0.02 s of a 181M step (bench/RESULTS.md). Both forms compute AdamW's update; their roundings
may differ in the last bit. Under FSDP a group that mixes sharded parameters (DTensors) with plain ones -- PPO's
value head is not sharded -- has neither a fused nor a multi-tensor form (both kernels refuse the mix): it steps
parameter by parameter. Named, since torch's default is the multi-tensor form on CUDA (on CPU it steps one by
one, which is why the CPU tests could not show it).

On resume the run config decides the hyper-parameters, not the checkpoint (`keep_configured`): the lr, weight decay
and the rest that `build_optimizer` set replace the ones `load_state_dict` restored, and the lr is the config's
schedule at the restored step, as in a fresh run of that config at that step (the schedule is a function of the step
alone: a changed warm-up, decay or `train.steps` takes effect from the next step).
"""

from __future__ import annotations

import math

import torch

from rlvr.trainers.fsdp import is_sharded_tensor

_FUSED_DEVICES = {"cpu", "cuda", "xpu", "mps"}  # where torch has a fused AdamW kernel


def lr_factor(step: int, optim, steps: int) -> float:
    """The share of `optim.lr` used after `step` scheduler steps (one per training step) of a `steps`-step run: a
    linear warm-up over `optim.warmup_steps`, then `optim.schedule` (the linear decay is transformers'
    `get_linear_schedule_with_warmup` when min_lr_ratio is 0; the cosine one its half-cycle cosine)."""
    warmup = optim.warmup_steps
    if step < warmup or optim.schedule == "constant":
        return min(1.0, (step + 1) / (warmup + 1))
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    decayed = 1.0 - progress if optim.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
    return optim.min_lr_ratio + (1.0 - optim.min_lr_ratio) * decayed


def build_optimizer(params, optim, steps: int) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over `params` with `optim`'s lr and weight decay, and its lr schedule over a `steps`-step run
    (`lr_factor`)."""
    params = list(params)
    mixed = len({is_sharded_tensor(p) for p in params}) > 1
    fused = not mixed and all(p.is_floating_point() and p.device.type in _FUSED_DEVICES for p in params)
    optimizer = torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay, fused=fused or None,
                                  foreach=False if mixed else None)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, optim, steps))
    return optimizer, scheduler


def configured(optimizer: torch.optim.Optimizer) -> list[dict]:
    """Each param group's hyper-parameters as `build_optimizer` set them (all but its parameters), to be put back by
    `keep_configured` after a checkpoint's state is loaded."""
    return [{key: value for key, value in group.items() if key != "params"} for group in optimizer.param_groups]


def keep_configured(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LambdaLR,
                    settings: list[dict]) -> None:
    """Put the run config's hyper-parameters (`settings`, from `configured`) back over those a checkpoint's
    `load_state_dict` restored, and set the lr the next step uses to the config's schedule at the restored step.

    torch's `load_state_dict` restores each group's lr, weight decay, betas, ... and the scheduler's `base_lrs`, so a
    resumed run kept the checkpoint's values while its log line and saved config named the new ones. The schedule's
    function is this run's already (a LambdaLR saves no plain function); its step count is the checkpoint's."""
    for group, configured_group in zip(optimizer.param_groups, settings, strict=True):
        group.update(configured_group)  # `initial_lr` included: the schedule's base, the config's lr
    scheduler.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
    lrs = [base * factor(scheduler.last_epoch) for base, factor in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = lrs  # what get_last_lr() reads; torch sets it only inside step()
