"""The sampler interface: G completions per problem, plus weight sync after each optimizer step.

    from rlvr.sampling.factory import make_sampler
    sampler = make_sampler(cfg, model_path, lora_rank=r_or_None)   # once per run
    groups = sampler.generate(problems, n=G, params=cfg.params)
    ...optimizer step...
    sampler.sync(policy_model)                                      # full weights or the LoRA adapter
    sampler.close()

`sync(model)` picks the path: a PEFT model sends its adapter (`sync_lora`), any other module sends
all its parameters (`sync_full`). Both are also callable directly with tensors or an adapter dir.
`sample_logprobs` are log-probs of the chosen tokens under the distribution actually sampled
from (after temperature / top-k / top-p); with temperature 1 and no truncation they equal the
model's log-softmax, so they can serve as log pi_old.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Self

import torch

from rlvr.data.problem import Problem
from rlvr.sampling.config import SamplingParams
from rlvr.sampling.lora import LoraAdapter
from rlvr.sampling.types import Group

NamedTensors = Iterable[tuple[str, torch.Tensor]]


class Sampler(ABC):
    @abstractmethod
    def generate(self, problems: list[Problem], n: int, params: SamplingParams) -> list[Group]:
        """One Group per problem, in order, each with `n` completions."""

    @abstractmethod
    def sync_full(self, named_tensors: NamedTensors) -> None:
        """Replace the engine's weights in place with these (HF checkpoint names, any dtype)."""

    @abstractmethod
    def sync_lora(self, adapter: LoraAdapter | str | Path) -> None:
        """Sample with this LoRA adapter (in memory or a PEFT adapter dir) from now on."""

    def sync(self, model: torch.nn.Module) -> None:
        """Send the trainer's current policy: its LoRA adapter if it is a PEFT model, else all weights."""
        if hasattr(model, "peft_config"):
            self.sync_lora(LoraAdapter.from_peft(model))
        else:
            self.sync_full(model.named_parameters())

    @abstractmethod
    def logprobs_of(self, sequences: list[list[int]]) -> list[list[float]]:
        """Log-prob (temperature 1) of each token given its prefix, for tokens 1..len-1 of each sequence.
        Uses the current weights/adapter; for checking a sync against the trainer's model."""

    @abstractmethod
    def close(self) -> None:
        """Free the engine; the sampler cannot be used afterwards."""

    def describe(self) -> str:
        """One line: the backend and the choices it resolved (device, precision, decode or engine options)."""
        return type(self).__name__

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
