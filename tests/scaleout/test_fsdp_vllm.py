"""The colocated vLLM engine fed from a sharded module: one decoder layer (FSDP group) per `sync_full` call gives
the engine exactly the weights one whole sync gives (vLLM's in-place reload keeps the layers a call does not
carry), and the per-layer "Failed to load weights" warnings of the partial reloads are not printed. The 2-rank
run with a vLLM engine per rank is in test_fsdp_run.py."""

from __future__ import annotations

import json

import pytest

from tests.scaleout.launch_child import launch

pytestmark = pytest.mark.slow


def test_streamed_sync_into_vllm_equals_one_whole_sync(tmp_path):
    from rlvr.trainers.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny", seed=0)
    launch("fsdp_vllm_child.py", model, tmp_path / "out.json")
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["world_size"] == 1
    assert out["calls"] == [2, 12, 12, 12, 12]  # root (embedding + final norm; LM head tied), then 4 layers
    assert out["streamed"] == out["one_call"]  # exactly
    assert max(abs(a - b) for a, b in zip(out["before"], out["streamed"])) > 0.1  # the sync changed the engine
    assert not [line for line in out["warnings"] if line.endswith("Failed to load weights")]
