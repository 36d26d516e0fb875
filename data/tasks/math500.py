"""MATH-500: OpenAI's 500-problem test subset of MATH (Hendrycks et al.), judged by the math verifier.

Source: hub `HuggingFaceH4/MATH-500` (split test) or a local file/dir such as `/work/shared/data/math500/test.jsonl`.
Rows: `problem`, `answer` (the boxed answer of `solution`), `solution`, `subject`, `level`, `unique_id`.
Reference: the `answer` field. The set is a test set only: `split="train"` and `few_shot > 0` are refused with a
ValueError rather than quietly training or prompting on the problems being evaluated.
Data source (`Problem.context()`, what verl's `default_compute_score` dispatches on): `HuggingFaceH4/MATH-500`,
wherever the rows are read from.
"""

from __future__ import annotations

from rlvr.data.config import TaskConfig
from rlvr.data.loading import load_rows, shuffle_and_limit, validate_rows
from rlvr.data.problem import Problem, row_columns
from rlvr.data.templates import math_prompt

VERIFIER = "math"
HUB_ID = "HuggingFaceH4/MATH-500"
FIELDS = {"problem": str, "answer": (str, int, float)}
PROMPT_FIELD = "problem"  # its length is capped by TaskConfig.max_prompt_chars


def load(cfg: TaskConfig) -> list[Problem]:
    if cfg.split != "test":
        raise ValueError("math500 has only a test split; train on another task (e.g. gsm8k) and evaluate on this one")
    if cfg.few_shot:
        raise ValueError("math500 has no train split to draw few-shot examples from; use few_shot=0")
    rows = validate_rows(load_rows(cfg.source, "test", HUB_ID), FIELDS, "math500", cfg.on_bad_row,
                         max_chars={PROMPT_FIELD: cfg.max_prompt_chars})
    problems = [
        Problem(
            id=str(row.get("unique_id") or f"math500/{index}"),
            task="math500",
            prompt=math_prompt(row["problem"], cfg.template),
            reference=str(row["answer"]).strip(),
            meta={
                "index": index,
                "subject": row.get("subject"),
                "level": row.get("level"),
                "solution": row.get("solution"),
                "data_source": HUB_ID,
                "columns": row_columns(row, PROMPT_FIELD),
            },
        )
        for index, row in rows
    ]
    return shuffle_and_limit(problems, cfg.seed, cfg.limit)
