"""The result of judging one completion. Every verifier returns one; none raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["correct", "wrong", "no_answer", "timeout", "error", "unsafe"]
STATUSES: tuple[Status, ...] = ("correct", "wrong", "no_answer", "timeout", "error", "unsafe")


@dataclass(frozen=True)
class Verdict:
    """`reward` is in [0, 1] for built-ins; `detail` holds parsed gold/prediction and the rule that matched."""

    reward: float
    status: Status
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Verdict.status must be one of {STATUSES}, got {self.status!r}")
        if not isinstance(self.detail, dict):  # readers (metrics, reports, the CLI) look keys up in it
            raise ValueError(f"Verdict.detail must be a dict, got {type(self.detail).__name__}")
