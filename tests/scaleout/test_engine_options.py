"""The vLLM engine options of a GPU cluster travel from the config to `vllm.LLM(...)`, and the DDP rank helpers
split work as documented. (The engine itself is replaced by a recorder: no GPU here, and the CPU engine's own
tests live in tests/sampling.)"""

from __future__ import annotations

import pytest

from rlvr.sampling.config import SamplerConfig
from rlvr.trainers.distributed import Dist, from_env


class RecordingLLM:
    calls: list[dict] = []

    def __init__(self, **kwargs):
        RecordingLLM.calls.append(kwargs)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from rlvr.trainers.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny", seed=0)


def test_engine_options_reach_vllm_llm(tiny_dir, monkeypatch):
    vllm = pytest.importorskip("vllm")
    from rlvr.sampling.vllm_backend import VLLMSampler

    monkeypatch.setattr(vllm, "LLM", RecordingLLM)
    RecordingLLM.calls.clear()
    cfg = SamplerConfig(gpu_memory_utilization=0.25, max_model_len=512, dtype="bfloat16",
                        enforce_eager=False, max_num_batched_tokens=8192)
    sampler = VLLMSampler(cfg, tiny_dir, lora_rank=16)
    sampler.llm = None  # nothing to shut down
    sampler.close()
    (kwargs,) = RecordingLLM.calls
    assert kwargs["tensor_parallel_size"] == 1 and kwargs["gpu_memory_utilization"] == 0.25
    assert "seed" not in kwargs and "distributed_executor_backend" not in kwargs  # one process: vLLM's defaults
    assert kwargs["max_model_len"] == 512 and kwargs["dtype"] == "bfloat16" and kwargs["enforce_eager"] is False
    assert kwargs["max_num_batched_tokens"] == 8192
    assert kwargs["enable_lora"] and kwargs["max_lora_rank"] == 16


def test_a_launched_ranks_engine_gets_the_external_launcher_and_its_own_seed(tiny_dir, monkeypatch):
    """Rank r of a torchrun job: vLLM's external launcher (the device from LOCAL_RANK), and engine seed r: the GPU
    model runner seeds unseeded requests from a numpy stream seeded by the engine seed, the same on every rank
    otherwise. (The process group is stood in for by the rank it reports; the 2-rank run is test_fsdp_run.py.)"""
    vllm = pytest.importorskip("vllm")
    from rlvr.sampling import vllm_backend

    monkeypatch.setattr(vllm, "LLM", RecordingLLM)
    monkeypatch.setattr(vllm_backend, "_launched_rank", lambda: 1)
    RecordingLLM.calls.clear()
    sampler = vllm_backend.VLLMSampler(SamplerConfig(), tiny_dir)
    sampler.llm = None
    sampler.close()
    (kwargs,) = RecordingLLM.calls
    assert kwargs["distributed_executor_backend"] == "external_launcher" and kwargs["seed"] == 1


def test_data_parallel_engines_are_refused_by_the_colocated_sampler(tiny_dir):
    pytest.importorskip("vllm")
    from rlvr.sampling.errors import SamplerError
    from rlvr.sampling.vllm_backend import VLLMSampler

    with pytest.raises(SamplerError, match="data_parallel_size"):  # under torchrun, each rank's engine is one replica
        VLLMSampler(SamplerConfig(data_parallel_size=2), tiny_dir)


@pytest.mark.parametrize("count, world, expected", [
    (8, 2, [(0, 4), (4, 8)]),
    (5, 2, [(0, 3), (3, 5)]),  # the first ranks take the remainder
    (1, 3, [(0, 1), (1, 1), (1, 1)]),  # a rank may get nothing (it still joins every collective)
])
def test_shards_are_contiguous_and_cover_the_batch(count, world, expected):
    assert [Dist(rank=r, world_size=world).shard(count) for r in range(world)] == expected


def test_micro_batches_go_round_robin():
    assert [k for k in range(7) if Dist(rank=1, world_size=3).owns(k)] == [1, 4]
    assert all(Dist().owns(k) for k in range(5))


def test_rank_comes_from_the_launcher_environment():
    assert from_env({}) == Dist()
    assert from_env({"WORLD_SIZE": "1", "RANK": "0"}) == Dist()
    assert from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == Dist(rank=3, world_size=4, local_rank=1)


def test_single_process_collectives_are_identities():
    d = Dist()
    assert d.sum([1.5, 2.0]) == [1.5, 2.0] and d.min(3.0) == 3.0 and d.gather("x") == ["x"] and d.broadcast(7) == 7
