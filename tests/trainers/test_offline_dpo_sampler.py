"""Offline DPO (pairs from a file, nothing sampled while training) opens no sampler: not while it trains, resumes
or closes. The sampler asked for afterwards, as the final evaluation asks, serves the trained weights (all of
them, or the LoRA adapter), not the base model's."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from rlvr.data.problem import Problem
from rlvr.sampling.config import SamplingParams
from rlvr.sampling.factory import make_sampler
from rlvr.trainers.checkpoint import MODEL_DIR, latest_checkpoint
from rlvr.trainers.dpo_pairs import read_pairs_file
from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import validate_config
from tests.sampling.sampling_helpers import torch_logprobs

STEPS = 3
GREEDY = SamplingParams(max_tokens=12, temperature=0.0)
OWN_COPY = {"backend": "hf", "hf_share_model": False}


def _user(n: int) -> dict:
    return {"role": "user", "content": f"Compute {n} + 1."}


def _pairs_file(path: Path) -> Path:
    said = lambda text: {"role": "assistant", "content": text}  # noqa: E731
    path.write_text("".join(json.dumps({"chosen": [_user(n), said(f"\\boxed{{{n + 1}}}")],
                                        "rejected": [_user(n), said(f"\\boxed{{{n + 2}}}")]}) + "\n" for n in range(6)))
    return path


def _problems() -> list[Problem]:
    return [Problem(f"p{n}", "arith", [_user(n)], str(n + 1)) for n in range(6)]


def _cfg(tmp_path: Path, sampler: dict, lora: dict | None = None):
    """Offline DPO with a learning rate high enough that a few steps change the tiny model's greedy answers."""
    return validate_config({
        "model": {"path": "tiny", "lora": lora},
        "task": {"name": "arith", "level": 1},
        "sampler": {"params": {"max_tokens": 12}, **sampler},
        "verify": {"workers": 1},
        "train": {
            "algorithm": "dpo", "steps": STEPS, "prompts_per_step": 3, "seed": 5,
            "dpo": {"pairs_path": str(_pairs_file(tmp_path / "pairs.jsonl")), "beta": 0.1},
            "optim": {"lr": 1e-2 if lora else 2e-3, "micro_batch_size": 6},
            "checkpoint": {"dir": str(tmp_path / "run"), "every": STEPS},
        },
    })


def _sampler_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """Engine threads started since `before`: every sampler runs its engine on one (`EngineThread`)."""
    return [t for t in set(threading.enumerate()) - before if t.name in ("hf-sampler", "vllm-sampler")]


def _greedy(sampler) -> list[list[int]]:
    return [c.token_ids for g in sampler.generate(_problems(), 1, GREEDY) for c in g.completions]


def _train_without_a_sampler(cfg, before: set[threading.Thread]) -> Trainer:
    """A trainer that has run every step (and saved), having opened no sampler; the caller closes it."""
    lines: list[str] = []
    trainer = Trainer(cfg, resume=False, log=lines.append)
    try:
        rows = trainer.train()
        assert len(rows) == STEPS and all(r["pairs"] == 3 and r["generated_tokens"] == 0 for r in rows)
        assert not _sampler_threads(before), "a sampler opened while nothing was sampled"
        assert "sampler: " + cfg.sampler.backend + ", opened when first needed" in lines[0], lines[0]
    except BaseException:
        trainer.close()
        raise
    return trainer


def _closed(thread: threading.Thread) -> bool:
    thread.join(timeout=30)  # a closed sampler's engine thread ends as it takes the stop from its queue
    return not thread.is_alive()


def _check_resume_and_close_open_nothing(cfg) -> None:
    before = set(threading.enumerate())
    resumed = Trainer(cfg, resume=True, log=lambda _m: None)
    try:
        assert resumed.step == STEPS
    finally:
        resumed.close()
    assert not _sampler_threads(before)


def _from_checkpoint(cfg, checkpoint: Path, base: Path, tokenizer):
    """An hf sampler with its own copy of the saved policy: the base model plus the saved adapter under LoRA."""
    sampler_cfg = cfg.sampler.model_copy(update=OWN_COPY)
    if not cfg.model.lora:
        return make_sampler(sampler_cfg, checkpoint / MODEL_DIR, tokenizer)
    sampler = make_sampler(sampler_cfg, base, tokenizer, lora_rank=cfg.model.lora.r)
    sampler.sync_lora(checkpoint / MODEL_DIR)
    return sampler


def _greedy_of(sampler) -> list[list[int]]:
    try:
        return _greedy(sampler)
    finally:
        sampler.close()


@pytest.mark.parametrize("sampler, lora", [
    ({"backend": "hf"}, None),  # the policy's own module
    (OWN_COPY, None),  # a copy loaded from the base model: the trained weights come by sync
    (OWN_COPY, {"r": 8, "alpha": 16}),  # the same, the adapter synced
], ids=["shared", "own-copy", "own-copy-lora"])
def test_offline_dpo_opens_its_hf_sampler_only_when_asked_with_the_trained_weights(tmp_path, warm_model, sampler, lora):
    cfg = _cfg(tmp_path, sampler, lora)
    before = set(threading.enumerate())
    trainer = _train_without_a_sampler(cfg, before)
    try:
        opened = trainer.sampler  # as the final evaluation asks
        threads = _sampler_threads(before)
        assert [t.name for t in threads] == ["hf-sampler"]
        assert opened.shared == (sampler == {"backend": "hf"})
        trained = _greedy(opened)
        tokenizer = trainer.policy.tokenizer
    finally:
        trainer.close()
    assert _closed(threads[0]), "close() left the opened sampler running"
    saved = latest_checkpoint(cfg.train.checkpoint.dir)
    assert trained == _greedy_of(_from_checkpoint(cfg, saved, warm_model, tokenizer))
    base = _greedy_of(make_sampler(cfg.sampler.model_copy(update=OWN_COPY), warm_model, tokenizer))
    assert trained != base, "the training did not move the greedy answers: the test cannot tell the weights apart"
    _check_resume_and_close_open_nothing(cfg)


@pytest.mark.slow  # a real CPU vLLM engine
def test_offline_dpo_starts_no_vllm_engine_until_asked_then_one_with_the_trained_weights(tmp_path, warm_model):
    # the CPU engine's memory check counts this whole process, which has trained models before in a full suite
    cfg = _cfg(tmp_path, {"backend": "vllm", "gpu_memory_utilization": 0.25, "dtype": "float32", "max_model_len": 256,
                          "timeout_s": 300})
    before = set(threading.enumerate())
    trainer = _train_without_a_sampler(cfg, before)
    try:
        prompt, completion, _ = read_pairs_file(cfg.train.dpo.pairs_path, trainer.policy.tokenizer)[0]
        engine = trainer.sampler  # as the final evaluation asks: the engine starts now
        threads = _sampler_threads(before)
        assert [t.name for t in threads] == ["vllm-sampler"] and engine.llm is not None
        served = torch.tensor(engine.logprobs_of([prompt + completion])[0][len(prompt) - 1:])
        trained = torch_logprobs(trainer.policy.model, prompt, completion)
    finally:
        trainer.close()
    assert engine.llm is None and _closed(threads[0]), "close() left the engine running"
    base = torch_logprobs(AutoModelForCausalLM.from_pretrained(warm_model, dtype=torch.float32), prompt, completion)
    torch.testing.assert_close(served, trained, atol=2e-3, rtol=0)
    assert (served - base).abs().max() > 0.1, "the engine serves the base model's weights"
    _check_resume_and_close_open_nothing(cfg)


def test_offline_dpo_reads_no_task_problems(tmp_path, warm_model):
    # it trains on the pairs file and samples nothing: the task's 2,000 arith problems were loaded and never used
    trainer = Trainer(_cfg(tmp_path, {"backend": "hf"}), resume=False, log=lambda _m: None)
    try:
        assert trainer.problems == []
        assert trainer.train(steps=1)[-1]["pairs"] > 0
    finally:
        trainer.close()
