"""Pick a sampler backend from the config."""

from __future__ import annotations

from pathlib import Path

import torch

from rlvr.sampling.base import Sampler
from rlvr.sampling.config import SamplerConfig
from rlvr.sampling.hf_backend import HFSampler
from rlvr.sampling.vllm_backend import VLLMSampler


def make_sampler(
    cfg: SamplerConfig,
    model_path: str | Path,
    tokenizer=None,
    *,
    lora_rank: int | None = None,
    model: torch.nn.Module | None = None,
    device: str = "cpu",
) -> Sampler:
    """Start the configured backend on `model_path` (a local HF model dir or a hub id).

    `lora_rank`: the trainer's LoRA rank, so the engine can take adapters; None for full fine-tuning.
    `model`: the trainer's live module (PEFT-wrapped or not). The hf backend samples with it directly, on its
    device, with nothing to load or copy (`cfg.hf_share_model`, on by default); vLLM keeps its own engine and
    ignores it. `device`: where the hf backend puts a model it loads itself (vLLM picks its own platform)."""
    if cfg.backend == "hf":
        shared = model if cfg.hf_share_model else None
        return HFSampler(cfg, model_path, tokenizer=tokenizer, model=shared, lora_rank=lora_rank, device=device)
    return VLLMSampler(cfg, model_path, tokenizer=tokenizer, lora_rank=lora_rank)
