"""Pick a sampler backend from the config."""

from __future__ import annotations

from pathlib import Path

from rlvr.sampling.base import Sampler
from rlvr.sampling.config import SamplerConfig
from rlvr.sampling.hf_backend import HFSampler
from rlvr.sampling.vllm_backend import VLLMSampler

BACKENDS = {"vllm": VLLMSampler, "hf": HFSampler}


def make_sampler(cfg: SamplerConfig, model_path: str | Path, tokenizer=None, *, lora_rank: int | None = None) -> Sampler:
    """Start the configured backend on `model_path` (a local HF model dir or a hub id).
    `lora_rank`: the trainer's LoRA rank, so the engine can take adapters; None for full fine-tuning."""
    return BACKENDS[cfg.backend](cfg, model_path, tokenizer=tokenizer, lora_rank=lora_rank)
