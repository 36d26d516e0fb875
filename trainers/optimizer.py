"""The trainer's AdamW and its warm-up schedule.

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
"""

from __future__ import annotations

import torch

from rlvr.trainers.fsdp import is_sharded_tensor

_FUSED_DEVICES = {"cpu", "cuda", "xpu", "mps"}  # where torch has a fused AdamW kernel


def build_optimizer(params, optim) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over `params` with `optim`'s lr and weight decay, and a linear warm-up to lr over
    `optim.warmup_steps` scheduler steps (constant after)."""
    params = list(params)
    mixed = len({is_sharded_tensor(p) for p in params}) > 1
    fused = not mixed and all(p.is_floating_point() and p.device.type in _FUSED_DEVICES for p in params)
    optimizer = torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay, fused=fused or None,
                                  foreach=False if mixed else None)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (optim.warmup_steps + 1)))
    return optimizer, scheduler

