"""An evaluation with the hf backend decodes on `model.device`: on a GPU machine, on the GPU (the fixed-shape
decode, CUDA graphs, bfloat16 for a float32 checkpoint), not on the CPU. Plain functions of flows/eval_report.py (no Prefect on the GPU machine)."""

from __future__ import annotations

import pytest
import torch

from tests.gpu.gpu_helpers import cuda


@pytest.mark.gpu
@pytest.mark.skipif(not cuda, reason="needs a CUDA device")
def test_an_hf_evaluation_decodes_on_the_gpu(random_model, caplog):
    from rlvr.flows.eval_report import evaluate_model, open_sampler
    from rlvr.flows.eval_target import eval_config, resolve_target
    from rlvr.verifiers.task_runner import make_pool

    target = resolve_target(str(random_model))
    cfg = eval_config(target, None, ["sampler.backend=hf", "model.device=cuda", "eval.n=2",
                                     "eval.tasks=[{name: arith, level: 1, split: test, limit: 4}]"])
    with caplog.at_level("WARNING", logger="rlvr.sampling.static_decode"), open_sampler(target, cfg) as sampler, \
            make_pool(cfg.verify) as pool:
        assert sampler.device.type == "cuda"
        assert next(sampler.model.parameters()).dtype == torch.bfloat16  # auto: the float32 checkpoint as vLLM loads it
        report = evaluate_model(sampler, pool, cfg, label=target.label, log=lambda _m: None)
    assert not caplog.records, "; ".join(r.getMessage() for r in caplog.records)
    suite = report["suites"]["arith-l1-test"]
    assert 0.0 <= suite["pass@1"] <= 1.0 and sum(suite["status_counts"].values()) == 4 * 2, suite
