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
