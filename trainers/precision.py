"""Training precision: the dtype the weights (and AdamW's state) are kept in, and the dtype matmuls run in.

Three useful combinations of `model.dtype` and `model.autocast`:

| name | model.dtype | model.autocast | weights + AdamW state | matmuls | memory per param (full FT) |
|---|---|---|---|---|---|
| fp32 | float32 | off | fp32 | fp32 | 16 B |
| bf16_mixed | float32 | bfloat16 | fp32 (master weights) | bf16 under `torch.autocast` | 16 B + a bf16 copy per matmul |
| bf16 (pure) | bfloat16 | off | bf16 | bf16 | 8 B |

Pure bf16 rounds every update to bf16's 8-bit mantissa: an AdamW step smaller than ~1/256 of a weight is
lost, which with RL's small learning rates (1e-6 .. 1e-5) means most updates vanish; it halves the memory.
Mixed precision keeps fp32 master weights and optimizer state (updates accumulate exactly as in fp32) and
runs the matmuls in bf16, which is where a GPU's speed is; softmax and norms stay fp32 (autocast's op lists),
and the trainer's log-prob reductions run in float32 on the logits. It is TRL's `bf16=True`.

`model.autocast: auto` (the default) resolves to bfloat16 on CUDA when the weights are float32 -- so the
CUDA default is bf16_mixed -- and to off on CPU (most CPUs have no bf16 matmul units: fp32 stays faster there,
and CPU results stay what they were). The autocast is put into the model's own `forward` (as accelerate does),
so every pass through the module -- the trainer's log-prob passes, backward, the hf sampler decoding the shared
module on its own thread (autocast state is per thread) -- runs in the same precision. The module is marked with
`rlvr_autocast_dtype`, so the hf sampler can cast the linear weights once per generate call instead of at every
decoded token (sampling/hf_backend.py), with the same values.
"""

from __future__ import annotations

import functools
import types
from typing import Literal

import torch
from torch import nn

Autocast = Literal["auto", "off", "bfloat16"]


def autocast_dtype(setting: Autocast, device: torch.device | str, weight_dtype: torch.dtype) -> torch.dtype | None:
    """The dtype to autocast the forward to, or None for none."""
    if setting == "off":
        return None
    if setting == "bfloat16":
        return None if weight_dtype == torch.bfloat16 else torch.bfloat16
    return torch.bfloat16 if torch.device(device).type == "cuda" and weight_dtype == torch.float32 else None


def precision_name(weight_dtype: torch.dtype, compute: torch.dtype | None) -> str:
    """The table's name for weights in `weight_dtype` and matmuls under autocast to `compute` (None: none)."""
    weights = str(weight_dtype).removeprefix("torch.")
    if compute is None:
        return {"float32": "fp32", "bfloat16": "bf16"}.get(weights, weights)
    mixed = str(compute).removeprefix("torch.").replace("bfloat16", "bf16").replace("float16", "fp16")
    return f"{mixed}_mixed" if weights == "float32" else f"{weights} weights, {mixed} autocast"


def autocast_forward(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Run `model.forward` under `torch.autocast(<its device type>, dtype)` from now on (in place, returns it).
    The wrapper is bound to the instance, so `copy.deepcopy` (the frozen reference) keeps it."""
    forward = type(model).forward

    @functools.wraps(forward)
    def forward_in_autocast(self, *args, **kwargs):
        # the device is read at each call: under FSDP the module is built in host memory and sharded onto the
        # GPU afterwards, and an autocast bound to the build device ("cpu") would do nothing there
        with torch.autocast(device_type=next(self.parameters()).device.type, dtype=dtype):
            return forward(self, *args, **kwargs)

    model.forward = types.MethodType(forward_in_autocast, model)
    model.rlvr_autocast_dtype = dtype  # the hf sampler casts the linear weights to it once per generate call
    return model
