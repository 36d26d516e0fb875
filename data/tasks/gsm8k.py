"""GSM8K (Cobbe et al. 2021): grade-school word problems, judged by the math verifier.

Source: hub `openai/gsm8k` (config `main`, splits train/test) or a local file/dir such as
`/work/shared/data/gsm8k/test.jsonl`. Rows: `question`, `answer` (a worked solution with calculator annotations
`<<48/2=24>>`, ending in `#### <number>`). Reference: the number after `#### `, thousands commas removed.
Few-shot examples: the first `few_shot` rows of the train split (file order), shown as worked solutions ending in
`\\boxed{}`; when loading the train split itself those rows are left out of the problems. For the test split they
come from the train file beside the source (`loading.few_shot_rows`), never from the evaluated rows.
Data source (`Problem.context()`, what verl's `default_compute_score` dispatches on): `openai/gsm8k`, wherever the
rows are read from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rlvr.data.config import TaskConfig
from rlvr.data.files import Rows
from rlvr.data.loading import few_shot_rows, load_rows, shuffle_and_limit, validate_rows
from rlvr.data.problem import Problem, row_columns
from rlvr.data.templates import Example, math_prompt

VERIFIER = "math"
HUB_ID = "openai/gsm8k"
HUB_CONFIG = "main"
FIELDS = {"question": str, "answer": str}
PROMPT_FIELD = "question"  # its length is capped by TaskConfig.max_prompt_chars
_CALC = re.compile(r"<<[^<>]*>>")


def gold_answer(solution: str) -> str:
    """The final answer of a GSM8K solution: the text after the last `#### `, without thousands commas."""
    return solution.rsplit("####", 1)[1].strip().replace(",", "")


def worked_solution(solution: str) -> str:
    """A GSM8K solution as a model should write it: no calculator annotations, the answer in `\\boxed{}`."""
    steps = _CALC.sub("", solution.rsplit("####", 1)[0]).strip()
    return f"{steps}\nThe final answer is \\boxed{{{gold_answer(solution)}}}."


def _check(row: Mapping[str, Any]) -> str | None:
    if "####" not in row["answer"] or not gold_answer(row["answer"]):
        return "field 'answer' has no final answer after '#### '"
    return None


def _valid(rows: Rows, split: str, cfg: TaskConfig) -> list[tuple[int, dict]]:
    return validate_rows(rows, FIELDS, f"gsm8k/{split}", cfg.on_bad_row, _check,
                         max_chars={PROMPT_FIELD: cfg.max_prompt_chars})


def load(cfg: TaskConfig) -> list[Problem]:
    read = load_rows(cfg.source, cfg.split, HUB_ID, HUB_CONFIG)
    rows = _valid(read, cfg.split, cfg)
    if cfg.split == "train":
        shots, rows = [r for _, r in rows[: cfg.few_shot]], rows[cfg.few_shot :]
    elif cfg.few_shot:
        shots = few_shot_rows(cfg.source, read, lambda train: _valid(train, "train", cfg), cfg.few_shot, "question",
                              "gsm8k", HUB_ID, HUB_CONFIG)
    else:
        shots = []
    examples = [Example(r["question"], worked_solution(r["answer"])) for r in shots]
    problems = [
        Problem(
            id=f"gsm8k/{cfg.split}/{index}",
            task="gsm8k",
            prompt=math_prompt(row["question"], cfg.template, examples),
            reference=gold_answer(row["answer"]),
            meta={"index": index, "solution": row["answer"], "data_source": HUB_ID,
                  "columns": row_columns(row, PROMPT_FIELD)},
        )
        for index, row in rows
    ]
    return shuffle_and_limit(problems, cfg.seed, cfg.limit)
