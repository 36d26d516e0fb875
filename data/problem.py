"""The unit of work every stage passes along: one prompt with what its verifier needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Problem:
    """One prompt of a task.

    `prompt` is chat messages (`[{"role": "user", "content": ...}]`) or plain text.
    `reference` is what the task's verifier needs: a gold answer string for math tasks, a dict
    `{"tests", "entry_point", "setup", "prompt_prefix"}` for code tasks (see `verifiers/code.py`).
    """

    id: str
    task: str
    prompt: Messages | str
    reference: Any
    meta: dict[str, Any] = field(default_factory=dict)

    def context(self) -> dict[str, Any]:
        """What a verifier written for verl reads of the row besides the completion (`verifiers/verl_style.py`):
        `data_source` (`meta["data_source"]`, else the task's name), `extra_info` (`meta["extra_info"]`, else `{}`,
        as verl's reward managers pass) and `ground_truth` as the dataset holds it (`meta["ground_truth"]`, task qa's
        answer cell before a final answer is read out of it; else the reference). Only such a verifier sees it."""
        return {"data_source": self.meta.get("data_source") or self.task,
                "extra_info": self.meta.get("extra_info") or {},
                "ground_truth": self.meta.get("ground_truth", self.reference)}
