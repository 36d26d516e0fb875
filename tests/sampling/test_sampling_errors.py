"""Failures name their cause: missing model files, a wrong memory fraction, an unsupported dtype, a hang."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from rlvr.sampling.deadline import EngineThread
from rlvr.sampling.errors import SamplerError, SamplerTimeout
from rlvr.sampling.factory import make_sampler
from rlvr.sampling.preflight import (
    check_cpu_memory_fraction,
    check_model_files,
    explain_startup_error,
)
from tests.sampling.sampling_helpers import cfg_for

GIB = 1 << 30


def test_missing_model_dir_is_named(tmp_path):
    with pytest.raises(SamplerError, match="does not exist"):
        make_sampler(cfg_for("vllm"), tmp_path / "no-such-model")


@pytest.mark.parametrize("backend", ["vllm", "hf"])
def test_missing_weights_are_named(tiny_dir, tmp_path, backend):
    broken = tmp_path / "model"
    shutil.copytree(tiny_dir, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(SamplerError, match=r"incomplete: missing weights"):
        make_sampler(cfg_for(backend), broken)


def test_missing_config_and_tokenizer_are_named(tiny_dir, tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(tiny_dir, broken)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (broken / name).unlink()
    with pytest.raises(SamplerError, match=r"missing config.json, tokenizer files"):
        check_model_files(broken)


def test_hub_id_is_left_to_the_loader():
    check_model_files("Qwen/Qwen2.5-0.5B-Instruct")  # no local dir: not ours to judge


def test_memory_fraction_too_low_fails_before_the_engine_starts(tiny_dir):
    with pytest.raises(SamplerError, match="gpu_memory_utilization=0.001 is too low"):
        make_sampler(cfg_for("vllm", gpu_memory_utilization=0.001), tiny_dir)


@pytest.mark.parametrize(
    "fraction, available, in_use, match",
    [
        (0.9, 4 * GIB, 1 * GIB, "too high"),  # 7.2 GiB wanted, 4 free
        (0.05, 8 * GIB, 1 * GIB, "too low"),  # 0.4 GiB reserved, the process already holds 1
    ],
)
def test_memory_fraction_bounds(fraction, available, in_use, match):
    with pytest.raises(SamplerError, match=match):
        check_cpu_memory_fraction(fraction, total=8 * GIB, available=available, in_use=in_use)


def test_memory_fraction_that_fits_leaves_kv_bytes():
    assert check_cpu_memory_fraction(0.5, total=8 * GIB, available=6 * GIB, in_use=1 * GIB) == 3 * GIB


@pytest.mark.parametrize(
    "exc, match",
    [
        (ValueError("Bfloat16 is only supported on GPUs with compute capability of at least 8.0"), "dtype='bfloat16'"),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "too high"),
        (ValueError("Free memory on device (3.1/80 GiB) on startup is less than desired GPU memory utilization"), "too high"),
        (ValueError("No available memory for the cache blocks. Try increasing `gpu_memory_utilization`"), "too low"),
        (ValueError("kv cache allocation is less than requested memory for kv (-0.12/0.90 GiB)"), "too low"),
        (OSError("model.safetensors: No such file"), "could not load model files"),
        (KeyError("something else"), "failed to start"),
    ],
)
def test_startup_errors_are_explained(exc, match):
    err = explain_startup_error(exc, "/models/x", 0.3, "bfloat16")
    assert isinstance(err, SamplerError)
    assert match in str(err)


def test_hung_call_times_out_and_marks_engine_unusable():
    engine = EngineThread("test", grace_s=0.1)
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(SamplerTimeout, match="unusable"):
        engine.call("stuck op", release.wait, timeout_s=0.1)
    assert time.monotonic() - start < 5
    with pytest.raises(SamplerError, match="unusable since an earlier call hung"):
        engine.call("next op", lambda: 1, timeout_s=1)
    release.set()
    engine.close()


def test_cooperative_timeout_keeps_engine_usable():
    engine = EngineThread("test", grace_s=5)

    def times_out():
        raise SamplerTimeout("stopped cleanly")

    with pytest.raises(SamplerTimeout, match="stopped cleanly"):
        engine.call("op", times_out, timeout_s=1)
    assert engine.call("op", lambda: 42, timeout_s=1) == 42
    engine.close()
