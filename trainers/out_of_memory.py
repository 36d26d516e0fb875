"""A step that runs out of memory ends in one line naming the phase, the device and the settings that size that
phase, with their current values; the run's last checkpoint is untouched and the same command resumes from it.

torch says how many bytes it could not get ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total
capacity of ..."), not which of the run's settings asked for them: the rollout is sized by the sampler's batch and
`max_tokens`, the update by the micro-batch, the completion length and whether activations are kept; AdamW's state
(2 floats per trained weight) is allocated at the first optimizer step, so a model too large for the device fails
there too. Exit code 2 (flows/errors.py): the fix is a config change, as for bad input.

What counts as out of memory: torch.OutOfMemoryError (CUDA and the other accelerators), the CPU allocator's
failure (a RuntimeError "DefaultCPUAllocator: can't allocate memory", e.g. under a memory limit) and Python's
MemoryError. Everything else passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch

_CPU_ALLOCATOR = ("DefaultCPUAllocator: can't allocate memory", "DefaultCPUAllocator: not enough memory")


class OutOfMemory(RuntimeError):
    """A phase of a step could not allocate what it needed; the message names the settings to lower."""


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in _CPU_ALLOCATOR)


@contextmanager
def out_of_memory_names(phase: str, device, advice: Callable[[], str]):
    """Inside the block, running out of memory raises OutOfMemory('<phase> ran out of memory on <device>: <advice>
    (torch: <its first line>)'). `advice` is called only then."""
    try:
        yield
    except Exception as exc:
        if not is_out_of_memory(exc) or isinstance(exc, OutOfMemory):
            raise
        said = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise OutOfMemory(f"{phase} ran out of memory on {device}: {advice()} (torch: {said[:200]})") from exc


def sampling_advice(cfg, length_key: str = "sampler.params") -> str:
    """The settings that size a rollout (or, `length_key="eval.params"`, an evaluation's), with their values."""
    sampler = cfg.sampler
    params = cfg.eval.params if length_key == "eval.params" else sampler.params
    length = f"{length_key}.max_tokens (now {params.max_tokens})"
    if sampler.backend == "hf":
        return f"lower sampler.hf_batch_size (now {sampler.hf_batch_size}) or {length}"
    return f"lower {length} or sampler.max_model_len (now {sampler.max_model_len})"


def update_advice(cfg) -> str:
    """The settings that size an update, with their values."""
    optim = cfg.train.optim
    text = (f"lower train.optim.micro_batch_size (now {optim.micro_batch_size}) or sampler.params.max_tokens "
            f"(now {cfg.sampler.params.max_tokens})")
    if optim.micro_batch_tokens is not None:
        text += f", or train.optim.micro_batch_tokens (now {optim.micro_batch_tokens})"
    else:
        text += ", or cap tokens per micro-batch: train.optim.micro_batch_tokens"
    if not cfg.model.gradient_checkpointing:
        text += ", or set model.gradient_checkpointing: true"
    if cfg.sampler.backend == "vllm" and str(cfg.model.device).startswith("cuda"):
        share = cfg.sampler.gpu_memory_utilization
        text += (f", or leave the trainer more of the GPU: sampler.gpu_memory_utilization (now "
                 f"{'auto' if share is None else share})")
    if cfg.model.lora is None:
        text += "; weights and AdamW state that do not fit train with model.lora or train.parallel: fsdp"
    return text
