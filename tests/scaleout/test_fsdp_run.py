"""FSDP2 training runs on CPU: the real Trainer with `train.parallel=fsdp` on 2 gloo ranks against one process.

Each run (fsdp_run_child.py): 2 steps of 4 prompts x 4 samples from the default hf sampler, which decodes with
the policy's own (sharded) module under `generation_weights`; the toy verifier `scaleout_rewards:score`;
16 rows in micro-batches of 3 (uneven per rank: lock-step passes run). Compared: every logged metric that does not
measure time (rel 1e-4) and the final weights read back from the checkpoint's consolidated export
(atol 1e-5; LoRA adapters 1e-4: Adam's normalised step amplifies summation-order noise on near-zero gradients).
- GRPO, interrupted after step 1 and resumed from the sharded checkpoint on 2 ranks, or in 1 process, equals
  one uninterrupted process;
- GRPO started with `accelerate launch` (torchrun underneath, as on GPUs) equals one process;
- PPO (replicated value head, sharded frozen reference for the KL), DPO (online pairs, sharded reference),
  GRPO + LoRA (sharded adapters) and GRPO with vLLM as the sampler (one colocated engine per rank, streamed
  sync) equal one process.
The one-process references sampled with hf train one after the other in one process (`single`): one start-up
instead of four. The vLLM engines get a small KV cache (`small_engine_fraction`): the default's took up to ~30 s
to make.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.scaleout.launch_child import launch, small_engine_fraction

pytestmark = pytest.mark.slow
LORA = ("model.lora={r: 4, alpha: 8}",)
# A small KV cache, and float32 engines: the FSDP run's weights after step 1 differ from the one process's by
# summation order (<= 7.5e-9), and in vLLM's default bfloat16 on CPU 32 of 3.4M weights rounded to other values,
# which changed a step-2 sample on an AVX-512 host (its final weights then 1.7e-3 apart). In float32 the engines
# sample from the weights as trained; what the run compares (the streamed sync, the sharded update) is unchanged.
VLLM = ("sampler.backend=vllm", "sampler.dtype=float32", f"sampler.gpu_memory_utilization={small_engine_fraction()}")
TIMING = ("step_time_s", "rollout_time_s", "verify_time_s", "tokens_per_s", "peak_rss_mb")


# The hf-sampled one-process references: GRPO (the resume and accelerate tests), then each of
# test_run_matches_one_process's but vLLM's
HF_REFERENCES = [("grpo", ()), ("ppo", ()), ("dpo", ()), ("grpo", LORA)]


@pytest.fixture(scope="module")
def single(tiny_model, tmp_path_factory):
    """One-process reference runs, built on first use: all of HF_REFERENCES one after the other in ONE process (one
    start-up for the four, each run with its own seeded Trainer), any other (vLLM's) in a process of its own."""
    root, done = tmp_path_factory.mktemp("single"), {}

    def run(algorithm: str, *overrides: str) -> Path:
        key = (algorithm, overrides)
        if key not in done:
            batch = [k for k in HF_REFERENCES if k not in done] if key in HF_REFERENCES else [key]
            args = []
            for name, extra in batch:
                done[(name, extra)] = root / f"{name}-{len(done)}"
                args += ["then", done[(name, extra)], 2, name, *extra]
            launch("fsdp_run_child.py", tiny_model, *args[1:])
        return done[key]

    return run


def assert_same_run(single: Path, sharded: Path, atol: float = 1e-5, last_world: str = "2") -> None:
    assert [(d / "world_size").read_text() for d in (single, sharded)] == ["1", last_world]
    rows = [[json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()] for d in (single, sharded)]
    assert [r["step"] for r in rows[0]] == [r["step"] for r in rows[1]] == [1, 2]  # rank 0 alone wrote metrics
    for a, b in zip(*rows):
        assert a.keys() == b.keys()
        for key, value in a.items():
            if key not in TIMING and isinstance(value, (int, float)):
                assert b[key] == pytest.approx(value, rel=1e-4, abs=1e-6), (a["step"], key)
    assert rows[0][0]["reward_std"] > 0 and rows[0][0]["grad_norm"] > 0  # the policy really moved
    w1, w2 = (_final_weights(d) for d in (single, sharded))
    assert w1.keys() == w2.keys() and w1
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], atol=atol, rtol=0, msg=lambda m, name=name: f"{name}: {m}")


def _final_weights(run: Path) -> dict[str, torch.Tensor]:
    model = run / "checkpoints" / "step-2" / "model"
    if (model / "adapter_config.json").is_file():
        from safetensors.torch import load_file

        return load_file(model / "adapter_model.safetensors")
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(model).state_dict()  # one file, or the sharded index + files


@pytest.fixture(scope="module")
def stopped_after_step_one(tiny_model, tmp_path_factory):
    """A GRPO run stopped after step 1 on 2 ranks (a sharded checkpoint); each test resumes its own copy."""
    run = tmp_path_factory.mktemp("step1") / "run"
    launch("fsdp_run_child.py", tiny_model, run, 1, "grpo", ranks=2)
    assert (run / "checkpoints" / "step-1" / "sharded" / ".metadata").is_file()
    assert (run / "world_size").read_text() == "2"
    return run


def test_grpo_run_resumed_from_a_sharded_checkpoint_matches_one_process(tiny_model, single, stopped_after_step_one,
                                                                        tmp_path):
    run = shutil.copytree(stopped_after_step_one, tmp_path / "fsdp")
    launch("fsdp_run_child.py", tiny_model, run, 1, "grpo", ranks=2)  # resume: DCP load on both ranks
    assert_same_run(single("grpo"), run)


def test_sharded_checkpoint_resumed_in_one_process_matches_one_process(tiny_model, single, stopped_after_step_one,
                                                                         tmp_path):
    run = shutil.copytree(stopped_after_step_one, tmp_path / "fsdp-then-one")
    launch("fsdp_run_child.py", tiny_model, run, 1, "grpo")  # step 2 in one unsharded process (DCP reshards)
    assert_same_run(single("grpo"), run, last_world="1")


def test_run_under_accelerate_launch_matches_one_process(tiny_model, single, tmp_path):
    launch("fsdp_run_child.py", tiny_model, tmp_path / "acc", 2, "grpo", ranks=2, launcher="accelerate")
    assert_same_run(single("grpo"), tmp_path / "acc")


@pytest.mark.parametrize("algorithm, overrides, atol", [
    ("ppo", (), 1e-5),
    ("dpo", (), 1e-5),  # pairs built online; reference sums round-robin over the ranks (no per-rank cache)
    ("grpo", LORA, 1e-4),
    ("grpo", VLLM, 1e-5),  # a colocated vLLM engine per rank, fed one layer per sync call
], ids=["ppo", "dpo", "grpo_lora", "grpo_vllm"])
def test_run_matches_one_process(tiny_model, single, tmp_path, algorithm, overrides, atol):
    launch("fsdp_run_child.py", tiny_model, tmp_path / "fsdp", 2, algorithm, *overrides, ranks=2)
    assert_same_run(single(algorithm, *overrides), tmp_path / "fsdp", atol=atol)
    if "sampler.backend=vllm" in overrides:  # each rank's engine on its own device (LOCAL_RANK), not all on 0
        assert (tmp_path / "fsdp" / "sampler").read_text().endswith(", this rank's engine (external launcher)")
