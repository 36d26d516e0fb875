"""Helpers of the sampling tests (a module of its own: `conftest` names clash across test folders)."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

from rlvr.sampling.config import SamplerConfig


def load_policy(tiny_dir) -> torch.nn.Module:
    """A fresh torch copy of the tiny model, as a trainer would hold it."""
    return AutoModelForCausalLM.from_pretrained(str(tiny_dir), dtype=torch.float32)


def engine_fraction() -> float:
    """`gpu_memory_utilization` for a CPU engine started in this process: on CPU it is the share of RAM the whole
    process may hold, so a test process that already holds an engine or a few models (its size depends on which
    test files ran in it before) gets ~1.2 GiB above what it holds now; 0.15 at least."""
    import psutil

    held = psutil.Process().memory_info().rss
    return max(0.15, round((held + 1.2 * 2**30) / psutil.virtual_memory().total + 0.005, 2))


def cfg_for(backend: str, **kw) -> SamplerConfig:
    base = {"backend": backend, "dtype": "float32", "max_model_len": 256, "timeout_s": 120}
    if backend == "vllm" and "gpu_memory_utilization" not in kw:
        base["gpu_memory_utilization"] = engine_fraction()
    return SamplerConfig(**(base | kw))


def torch_logprobs(model: torch.nn.Module, prompt: list[int], completion: list[int]) -> torch.Tensor:
    """log pi(completion token | prefix) at temperature 1, as the trainer computes it."""
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()
    return torch.log_softmax(logits, -1).gather(1, ids[0, len(prompt) :, None])[:, 0]


def train_a_few_steps(model: torch.nn.Module, prompt: list[int], completion: list[int], steps: int = 3, lr: float = 0.05):
    """Raise the likelihood of `completion` with Adam: a stand-in for optimizer steps of a trainer."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    ids = torch.tensor([prompt + completion])
    for _ in range(steps):
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
        loss = torch.nn.functional.cross_entropy(logits, ids[0, len(prompt) :])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
