"""Your own question/answer dataset, judged by the math verifier (or `task.verifier`): the task for data that is
not one of the built-in sets.

    task: {name: qa, source: /data/deepscaler.jsonl, columns: {prompt: problem, answer: answer}}
    task: {name: qa, source: /data/verl/train.parquet, columns: {prompt: prompt, answer: reward_model.ground_truth}}

Source: a hub dataset id or a local file/dir (json, jsonl, jsonl.gz, parquet), as for every dataset task; it has
no default. `task.columns` says where each row keeps its prompt and its answer: a column name, or a dotted path
into nested objects (`reward_model.ground_truth`, verl's layout). Defaults: `prompt` and `answer` (TRL's prompt
column name).

- The prompt is text or a list of chat messages (`[{"role": "user", "content": ...}]`, TRL's conversational
  format and verl's). Text is rendered like GSM8K's questions: with the instruction to put the final answer in
  `\\boxed{}`, as chat or plain text by `task.template`. Messages are the dataset's own prompt and are used as
  they are (their instruction is the dataset's), so they need `template: chat`; the last one must not be the
  assistant's.
- The reference is the answer column: a number, or text. Text holding a `\\boxed{}` (a worked solution, as in
  MATH's `solution`) gives the content of its last box; text with a GSM8K `#### ` line gives what follows it.
- Each problem's id is `qa/<split>/<row index>`; as an eval suite it is named after the source
  (`qa-deepscaler-test`), so two qa suites in one report keep apart.

There are no worked solutions to show, so `few_shot` is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlvr.data.config import TaskConfig
from rlvr.data.loading import BadLine, load_rows, shuffle_and_limit, validate_rows
from rlvr.data.problem import Problem
from rlvr.data.templates import math_prompt
from rlvr.verifiers.math_answer import boxed_all

VERIFIER = "math"
ROLES = ("system", "user", "assistant", "tool")


def column(row: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted `path` of a row (`reward_model.ground_truth`), None where any part is missing. A
    column whose own name holds the dot wins over the nesting."""
    if path in row:
        return row[path]
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def reference(answer: Any) -> str:
    """The gold answer of an answer cell: the last `\\boxed{}` of a worked solution, what follows GSM8K's `#### `,
    else the text (or number) itself."""
    text = str(answer).strip()
    if boxed := boxed_all(text, limit=1):
        return boxed[0].strip()
    if "####" in text:
        return text.rsplit("####", 1)[1].strip().replace(",", "")
    return text


def _messages_problem(messages: list, template: str) -> str | None:
    if template != "chat":
        return "is a list of chat messages, which need task.template=chat"
    for message in messages:
        if not isinstance(message, Mapping) or not isinstance(message.get("content"), str):
            return "is a list whose items are not all chat messages ({'role': ..., 'content': '...'})"
        if message.get("role") not in ROLES:
            return f"has a message with role {message.get('role')!r} (allowed: {', '.join(ROLES)})"
    if messages[-1]["role"] == "assistant":
        return "ends with the assistant's message: nothing is left for the model to answer"
    return None


def _flat(row: Any, cfg: TaskConfig) -> Any:
    """The row as {prompt column: value, answer column: value}, under the column names the user gave, so that a
    bad row is reported by those names."""
    if isinstance(row, BadLine) or not isinstance(row, Mapping):
        return row
    columns = cfg.qa_columns()
    return {name: column(row, name) for name in (columns.prompt, columns.answer)}


def _usable(rows, cfg: TaskConfig, split: str) -> list[tuple[int, dict]]:
    columns = cfg.qa_columns()

    def check(row: Mapping[str, Any]) -> str | None:
        prompt, answer = row[columns.prompt], row[columns.answer]
        if isinstance(prompt, list):
            if (why := _messages_problem(prompt, cfg.template)) is not None:
                return f"field {columns.prompt!r} {why}"
            chars = sum(len(m["content"]) for m in prompt)
            if chars > cfg.max_prompt_chars:
                return f"field {columns.prompt!r} has {chars} characters, more than max_prompt_chars={cfg.max_prompt_chars}"
        if not reference(answer):
            return f"field {columns.answer!r} has no answer (an empty \\boxed{{}})"
        return None

    flat = type(rows)([_flat(row, cfg) for row in rows], rows.where, rows.files) if hasattr(rows, "where") else rows
    fields = {columns.prompt: (str, list), columns.answer: (str, int, float)}
    try:
        return validate_rows(flat, fields, f"qa {cfg.source}/{split}", cfg.on_bad_row, check,
                             max_chars={columns.prompt: cfg.max_prompt_chars})
    except ValueError as exc:
        if not any(isinstance(r, Mapping) and r.get(columns.prompt) is not None for r in flat):
            raise ValueError(f"{exc}; no row has the column {columns.prompt!r}: {_columns_hint(rows)}") from None
        raise


def _columns_hint(rows) -> str:
    first = next((row for row in rows if isinstance(row, Mapping)), None)
    if first is None:
        return "no row is a JSON object"
    return f"the first row's columns are {', '.join(map(repr, first))}; set task.columns.prompt and task.columns.answer"


def load(cfg: TaskConfig) -> list[Problem]:
    if not cfg.source:
        raise ValueError("task qa reads your dataset: set task.source to a hub id or a local file/dir")
    if cfg.few_shot:
        raise ValueError("task qa has no worked solutions to show as examples; use few_shot=0")
    rows = _usable(load_rows(cfg.source, cfg.split, cfg.source), cfg, cfg.split)
    columns = cfg.qa_columns()
    problems = []
    for index, row in rows:
        prompt = row[columns.prompt]
        problems.append(Problem(
            id=f"qa/{cfg.split}/{index}",
            task="qa",
            prompt=math_prompt(prompt, cfg.template) if isinstance(prompt, str) else
            [{"role": m["role"], "content": m["content"]} for m in prompt],
            reference=reference(row[columns.answer]),
            meta={"index": index, "answer": row[columns.answer]},
        ))
    return shuffle_and_limit(problems, cfg.seed, cfg.limit)
