"""The unit of work every stage passes along: one prompt with what its verifier needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Problem:
    """One prompt of a task.

    `prompt` is chat messages (`[{"role": "user", "content": ...}]`) or plain text.
    `reference` is what the task's verifier needs: a gold answer string for math tasks, a dict
    `{"tests", "entry_point", "setup", "prompt_prefix"}` for code tasks (see `verifiers/code.py`).
    `meta` holds what else a task keeps of the row; of it, `context()` reads `data_source`, `extra_info`,
    `ground_truth` and `columns` (`row_columns`).
    """

    id: str
    task: str
    prompt: Messages | str
    reference: Any
    meta: dict[str, Any] = field(default_factory=dict)

    def context(self) -> dict[str, Any]:
        """What a reward function written for verl or TRL reads of the row besides the completion
        (`verifiers/verl_style.py`, `verifiers/trl_style.py`); only such a function is sent it:
        - `data_source`: `meta["data_source"]` (a dataset task's hub id, `openai/gsm8k`, which verl's
          `default_compute_score` dispatches on; task qa's row's), else the task's name;
        - `extra_info`: `meta["extra_info"]`, else `{}`, as verl's reward managers pass;
        - `ground_truth`: the answer as the dataset holds it (`meta["ground_truth"]`, task qa's answer cell before a
          final answer is read out of it, a dict for some verl tasks), else the reference;
        - `prompt`: the prompt as the model is given it (TRL's `prompts`; messages make the task conversational);
        - `columns`: the row's columns other than its prompt (`meta["columns"]`, TRL's keyword arguments), else {}
          (the synthetic tasks have no row)."""
        return {"data_source": self.meta.get("data_source") or self.task,
                "extra_info": self.meta.get("extra_info") or {},
                "ground_truth": self.meta.get("ground_truth", self.reference),
                "prompt": self.prompt,
                "columns": self.meta.get("columns") or {}}


def row_columns(row: Mapping[str, Any], prompt_column: str) -> dict[str, Any]:
    """A dataset row's columns other than the one its prompt is read from: what TRL passes a reward function as
    keyword arguments (the prompt goes as `prompts`)."""
    return {name: value for name, value in row.items() if name != prompt_column}
