"""What a sampler returns: completions grouped by the problem they answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rlvr.data.problem import Problem

FinishReason = Literal["stop", "length"]


@dataclass
class Completion:
    problem_id: str
    text: str
    token_ids: list[int]
    prompt_token_ids: list[int]
    sample_logprobs: list[float] | None
    finish_reason: FinishReason

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass
class Group:
    problem: Problem
    completions: list[Completion] = field(default_factory=list)
