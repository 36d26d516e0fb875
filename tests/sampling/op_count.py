"""Counting aten ops per decoded token: the CPU-measurable proxy of GPU decode cost (decoding a small model on
a GPU is bound by per-op overhead: dispatch and kernel launches), shared by the CPU and the GPU tests."""

from __future__ import annotations

import collections
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from rlvr.sampling.config import SamplingParams

CASTS = {torch.ops.aten.to.dtype, torch.ops.aten._to_copy.default}


class OpCounter(TorchDispatchMode):
    """Counts every aten op run on this thread (after autocast: the casts it inserts are seen), and sorts the
    casts by what they cast: a parameter, or a whole K/V cache ([rows, heads, positions, head_dim])."""

    def __init__(self, params, head_dim: int):
        super().__init__()
        self.param_ids = {id(p) for p in params}
        self.head_dim = head_dim
        self.ops = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops["all"] += 1
        target = args[1] if len(args) > 1 and isinstance(args[1], torch.dtype) else (kwargs or {}).get("dtype")
        if func in CASTS and target is not None and args[0].dtype != target:
            x = args[0]
            if id(x) in self.param_ids:
                self.ops["weight casts"] += 1
            elif x.dim() == 4 and x.shape[-2] > 1 and x.shape[-1] == self.head_dim:  # a whole K or V cache
                self.ops["cache casts"] += 1
        return func(*args, **(kwargs or {}))


def per_token(sampler, model, prompts, n: int = 2, short: int = 3, long: int = 7) -> dict[str, float]:
    """Ops per generated token: two decodes of exactly `short` and `long` tokens, the difference divided out
    (prefill and set-up cancel). On the caller's thread (dispatch modes are per thread), so through the
    sampler's `_generate_rows` rather than its engine thread."""
    counts = []
    for length in (short, long):
        params = SamplingParams(max_tokens=length, min_tokens=length, seed=0, logprobs=False)
        config = (model.get_base_model() if hasattr(model, "get_base_model") else model).config
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        with OpCounter(list(model.parameters()), head_dim) as counter:
            sampler._generate_rows(prompts, n, params, time.monotonic() + 120)
        counts.append(counter.ops)
    return {k: (counts[1][k] - counts[0][k]) / (long - short) for k in ("all", "weight casts", "cache casts")}
