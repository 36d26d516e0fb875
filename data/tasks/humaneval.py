"""HumanEval (Chen et al. 2021): 164 Python functions to complete from signature + docstring; code verifier.

Source: hub `openai/openai_humaneval` (split test) or a local file/dir such as
`/work/shared/data/humaneval/HumanEval.jsonl.gz`. Rows: `task_id`, `prompt`, `entry_point`, `canonical_solution`,
`test` (defines `check(candidate)`). Reference: `{"tests": test, "entry_point": entry_point, "setup": "",
"prompt_prefix": prompt}` — the verifier runs the prompt, then the completion's code, then `check(entry_point)`.
Test set only: `split="train"` and `few_shot > 0` are refused with a ValueError.
Data source (`Problem.context()`): `openai/openai_humaneval`, wherever the rows are read from.
"""

from __future__ import annotations

from rlvr.data.config import TaskConfig
from rlvr.data.loading import load_rows, shuffle_and_limit, validate_rows
from rlvr.data.problem import Problem, row_columns
from rlvr.data.templates import code_prompt, humaneval_task

VERIFIER = "code"
HUB_ID = "openai/openai_humaneval"
FIELDS = {"task_id": str, "prompt": str, "entry_point": str, "test": str}
PROMPT_FIELD = "prompt"  # its length is capped by TaskConfig.max_prompt_chars


def load(cfg: TaskConfig) -> list[Problem]:
    if cfg.split != "test":
        raise ValueError("humaneval has only a test split; train on another task (e.g. mbpp) and evaluate on this one")
    if cfg.few_shot:
        raise ValueError("humaneval has no train split to draw few-shot examples from; use few_shot=0")
    rows = validate_rows(load_rows(cfg.source, "test", HUB_ID), FIELDS, "humaneval", cfg.on_bad_row,
                         max_chars={PROMPT_FIELD: cfg.max_prompt_chars})
    problems = [
        Problem(
            id=row["task_id"],
            task="humaneval",
            prompt=code_prompt(humaneval_task(row["prompt"]), cfg.template),
            reference={
                "tests": row["test"],
                "entry_point": row["entry_point"],
                "setup": "",
                "prompt_prefix": row["prompt"],
            },
            meta={"index": index, "canonical_solution": row.get("canonical_solution"), "data_source": HUB_ID,
                  "columns": row_columns(row, PROMPT_FIELD)},
        )
        for index, row in rows
    ]
    return shuffle_and_limit(problems, cfg.seed, cfg.limit)
