"""The SDPA kernels a masked attention call may use on CUDA: each one torch has except cuDNN's.

Why: cuDNN attention builds an execution plan for each new input shape. Where shapes change from call to call
-- the dynamic decode drops finished rows at every step, the trainer's packed-segment buckets differ in every
micro-batch, each prefill has its own prompt width -- its calls took 2.7 ms each on an H200 (5.5 s of a 7.7 s
rollout, bench/RESULTS.md), against ~15 us when the shape stays. Flash attention takes no mask; the
memory-efficient kernel takes a mask without a plan, but not grouped-query heads (callers repeat the kv heads:
with `enable_gqa` and a mask SDPA would fall back to math, the last resort). On other devices nothing changes.
`<env>=all` gives torch its own choice back, for comparisons (bench/gpu_profile.py).
"""

from __future__ import annotations

import contextlib
import os

import torch


def without_cudnn(device, env: str):
    """A context for SDPA calls on `device`: on CUDA, cuDNN attention left out unless os.environ[env] == 'all'."""
    if torch.device(device).type != "cuda" or os.environ.get(env) == "all":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.MATH])
