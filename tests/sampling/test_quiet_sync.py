"""The per-sync vLLM log lines that every in-place weight sync produces are dropped; nothing else is."""

import logging

from rlvr.sampling.quiet_sync import quiet_sync_logs


def test_expected_sync_lines_are_dropped_and_others_pass(caplog):
    quiet_sync_logs()
    quiet_sync_logs()  # idempotent
    layerwise = logging.getLogger("vllm.model_executor.model_loader.reload.layerwise")
    assert len(layerwise.filters) == 1
    with caplog.at_level(logging.INFO):
        layerwise.propagate, was = True, layerwise.propagate
        try:
            layerwise.warning("%s: Failed to load weights", "RotaryEmbedding")
            layerwise.warning("%s: Failed to load weights", "ParallelLMHead")
            layerwise.warning("%s: Failed to load weights", "QKVParallelLinear")  # a real problem: kept
        finally:
            layerwise.propagate = was
    assert [r.getMessage() for r in caplog.records] == ["QKVParallelLinear: Failed to load weights"]
