"""Fixtures of the sampling tests: the tiny offline model, its torch twin, and ONE vLLM engine per session.

The engine is started with LoRA enabled (rank 8) so the full-weight and the LoRA sync tests share it;
tests that change its weights put the original ones back (`restore_engine`).
"""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from rlvr.data.problem import Problem
from tests.sampling.sampling_helpers import cfg_for, load_policy
from rlvr.trainers.tiny_model import build_tiny_model

LORA_RANK = 8


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def tokenizer(tiny_dir):
    return AutoTokenizer.from_pretrained(str(tiny_dir))


@pytest.fixture(scope="session")
def _session_engine():
    held = {}
    yield held
    if held:
        held["sampler"].close()


@pytest.fixture
def vllm_sampler(_session_engine, tiny_dir, tokenizer):
    """The session's engine, started again when another engine of this process closed since the last test: vLLM's
    shutdown tears down the parallel state every in-process engine shares, and which test files ran before this one
    in this process depends on how the suite was split among workers."""
    from vllm.distributed.parallel_state import model_parallel_is_initialized

    from rlvr.sampling.factory import make_sampler

    if _session_engine and not model_parallel_is_initialized():
        _session_engine.pop("sampler").close()
    if not _session_engine:
        _session_engine["sampler"] = make_sampler(cfg_for("vllm"), tiny_dir, tokenizer, lora_rank=LORA_RANK)
    return _session_engine["sampler"]


@pytest.fixture
def restore_engine(vllm_sampler, tiny_dir):
    """Put the on-disk weights back and drop any adapter after a test that synced the engine."""
    yield vllm_sampler
    vllm_sampler.lora_request = None
    vllm_sampler.sync_full(load_policy(tiny_dir).named_parameters())


@pytest.fixture
def problems():
    return [
        Problem("chat", "arith", [{"role": "user", "content": "What is 2 + 3?"}], "5"),
        Problem("text", "arith", "Question: what is 4 + 4? The answer is", "8"),
    ]
