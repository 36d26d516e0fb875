"""Your own question/answer dataset, judged by the math verifier (or `task.verifier`): the task for data that is
not one of the built-in sets.

    task: {name: qa, source: /data/deepscaler.jsonl, columns: {prompt: problem, answer: answer}}
    task: {name: qa, source: /data/verl/train.parquet, columns: {prompt: prompt, answer: reward_model.ground_truth}}

Source: a hub dataset id (`task.hub_config` names its subset where it has several) or a local file/dir (json,
jsonl, jsonl.gz, parquet, a `save_to_disk` folder), as for every dataset task; it has no default. Splits: train,
test, validation. `task.columns` says where each row keeps its prompt and its answer: a column name, or a dotted path
into nested objects (`reward_model.ground_truth`, verl's layout; a number indexes a list). Defaults: `prompt`
and `answer` (TRL's prompt column name).

- The prompt is text or a list of chat messages (`[{"role": "user", "content": ...}]`, TRL's conversational
  format and verl's). Text is rendered like GSM8K's questions: with the instruction to put the final answer in
  `\\boxed{}`, as chat or plain text by `task.template`. Messages are the dataset's own prompt and are used as
  they are (their instruction is the dataset's), so they need `template: chat`; the last one must not be the
  assistant's, unless it is the answer (next item but one).
- The reference is the answer column: a number, text, or a list of acceptable answers (the math verifier rewards
  any of them). A worked solution (MATH's `solution`, a MetaMathQA response) gives its final answer as the verifier
  reads a completion's: its last box, its GSM8K `#### ` line, its closing `The answer is: X`. Answers that still
  read as sentences are said at load: compared whole, they would reward nothing.
- A conversation that ends with the answer (`columns: {prompt: messages, answer: messages.-1.content}`) is
  prompted with the messages before it.
- Each problem's id is `qa/<split>/<row index>`; as an eval suite it is named after the source
  (`qa-deepscaler-test`; `suite:` names it otherwise), so two qa suites in one report keep apart.
- For a verifier written for verl (`compute_score(data_source, solution_str, ground_truth, extra_info)`), each
  problem keeps its row's `data_source` and `extra_info` (`task.columns.data_source` / `.extra_info`, verl's column
  names by default; missing: `qa` and {}) and the answer cell as it is (`meta["ground_truth"]`): verl passes the
  cell, not the final answer rlvr reads out of it (`Problem.context()`). For one written for TRL, it keeps the
  row's columns other than the prompt's (`meta["columns"]`), which TRL passes as keyword arguments.
- An answer cell that is a dict (verl's countdown: `{"target": 24, "numbers": [...]}`) is a reference only for
  verifiers of your own (`pkg.mod:fn`), which get it as it is: those that score the rows (`TaskConfig.judged_by`:
  the training task's `verify.verifiers`, else `task.verifier`). The math verifier needs a text or a number, so
  under it (alone or beside a plug-in) such a row is a bad row saying so.

There are no worked solutions to show, so `few_shot` is refused.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy

from rlvr.data.config import TaskConfig
from rlvr.data.files import BadLine
from rlvr.data.loading import load_rows, shuffle_and_limit, validate_rows
from rlvr.data.problem import Problem, row_columns
from rlvr.data.templates import math_prompt
from rlvr.verifiers.math_answer import extract

VERIFIER = "math"
logger = logging.getLogger(__name__)
ROLES = ("system", "user", "assistant", "tool")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def column(row: Mapping[str, Any], path: str, missing: Any = None) -> Any:
    """The value at a dotted `path` of a row (`reward_model.ground_truth`; a number indexes a list, from the end when
    negative: `messages.-1.content`), `missing` where any part is missing. A column whose own name holds the dot wins
    over the nesting."""
    if path in row:
        return row[path]
    value: Any = row
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", part) and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return missing
    return value


def reference(answer: Any) -> str | list[str] | Mapping:
    """The gold answer of an answer cell: the final answer of a worked solution (its last `\\boxed{}`, GSM8K's
    `#### ` line, a closing `The answer is: X`, read as the verifier reads a completion), else the text itself; a
    number as written (a float32 column's 0.1 is 0.1); a list of acceptable answers (also as a JSON list of
    strings, `'["18", "eighteen"]'`) as the list of theirs; a dict as it is (a plug-in's own ground truth)."""
    if isinstance(answer, Mapping):
        return answer
    if isinstance(answer, list):
        return [reference(a) for a in answer]
    if isinstance(answer, bool):
        return str(answer)
    if isinstance(answer, float):
        if answer.is_integer():
            return str(int(answer))
        single = float(numpy.float32(answer))
        return str(numpy.float32(answer)) if single == answer else str(answer)
    text = str(answer).strip()
    if text.startswith("[\"") and text.endswith("]"):
        try:
            listed = json.loads(text)
        except ValueError:
            listed = None
        if isinstance(listed, list) and listed and all(isinstance(a, str) for a in listed):
            return [reference(a) for a in listed]
    if text.endswith("####"):
        return ""  # GSM8K's marker with nothing after it
    stated, rule = extract(text, fallback=False)
    gold = text if stated is None else stated.strip()  # an empty box states an empty answer
    # GSM8K's `#### 1,024` is 1024 (as the gsm8k task reads it); `#### 3, 5` stays two values
    return gold.replace(",", "") if rule == "gsm8k" and _THOUSANDS.fullmatch(gold) else gold


def _sentences(references: list) -> list[str]:
    """The references that read as sentences (several words): the verifier compares the whole text with an answer,
    so such a column (a chat reply, an explanation) rewards nothing."""
    flat = [r for ref in references for r in (ref if isinstance(ref, list) else [ref]) if isinstance(r, str)]
    return [r for r in flat if len(re.findall(r"[A-Za-z]{2,}", re.sub(r"\\[A-Za-z]+", "", r))) >= 4]


def _messages_problem(messages: list, template: str) -> str | None:
    if template != "chat":
        return ("is a list of chat messages, which need the chat template: template: chat (task.template, or "
                "eval.tasks.N.template for an eval suite)")
    for message in messages:
        if not isinstance(message, Mapping) or not isinstance(message.get("content"), str):
            return "is a list whose items are not all chat messages ({'role': ..., 'content': '...'})"
        if message.get("role") not in ROLES:
            return f"has a message with role {message.get('role')!r} (allowed: {', '.join(ROLES)})"
    if messages[-1]["role"] == "assistant":
        return "ends with the assistant's message: nothing is left for the model to answer"
    return None


_ABSENT = object()


def _flat(row: Any, cfg: TaskConfig) -> Any:
    """The row as {prompt column: value, answer column: value, ...}, under the column names the user gave, so that a
    bad row is reported by those names; a column the row lacks is left out, so that it reads as missing, and one
    holding null (JSON null, a parquet null) as null."""
    if isinstance(row, BadLine) or not isinstance(row, Mapping):
        return row
    columns = cfg.qa_columns()
    found = {name: column(row, name, _ABSENT) for name in (columns.prompt, columns.answer, columns.data_source,
                                                            columns.extra_info)}
    return {name: value for name, value in found.items() if value is not _ABSENT}


def _answer_problem(answer: Any, verifiers: tuple[str, ...]) -> str | None:
    """Why an answer cell holds no answer for `verifiers` (those that score the row), or None."""
    if isinstance(answer, Mapping):  # a plug-in gets it as it is; a built-in compares text
        builtin = next((name for name in verifiers if not _is_plugin(name)), None)
        return None if builtin is None else (
            f"is a dict (keys {', '.join(map(str, list(answer)[:8]))}), but the {builtin} verifier needs a text or a "
            f"number answer; a dict is passed as it is to a verifier of your own, 'pkg.mod:fn' in task.verifier (an "
            f"eval suite's too) or verify.verifiers (training only)")
    if isinstance(answer, float) and not math.isfinite(answer):
        return f"is {answer}, not an answer"
    if isinstance(answer, list):
        if not answer or not all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in answer):
            return "is a list, but not of answers (strings or numbers)"
        return next((why for why in (_answer_problem(a, verifiers) for a in answer) if why), None)
    ref = reference(answer)
    if not ref or isinstance(ref, list) and not all(ref):
        return "has an empty answer"
    return None


def _continues_itself(messages: list, answer_path: str, prompt_path: str) -> bool:
    """Whether the answer is read from the prompt's own last message (`messages` / `messages.-1.content`, TRL's
    conversational SFT rows): the prompt is then the messages before it."""
    return messages[-1].get("role") == "assistant" and answer_path.startswith(prompt_path + ".")


def _is_plugin(verifier: str) -> bool:
    return ":" in verifier  # an import path; the built-ins have plain names (`registry.resolve`)


def _usable(rows, cfg: TaskConfig, split: str) -> list[tuple[int, dict]]:
    columns = cfg.qa_columns()
    verifiers = cfg.judged_by() or (VERIFIER,)

    def check(row: Mapping[str, Any]) -> str | None:
        prompt, answer = row[columns.prompt], row[columns.answer]
        if isinstance(prompt, list):
            if prompt and isinstance(prompt[-1], Mapping) and _continues_itself(prompt, columns.answer, columns.prompt):
                prompt = row[columns.prompt] = prompt[:-1]
            if not prompt:
                return f"field {columns.prompt!r} has no message before the answer"
            if (why := _messages_problem(prompt, cfg.template)) is not None:
                return f"field {columns.prompt!r} {why}"
            chars = sum(len(m["content"]) for m in prompt)
            if chars > cfg.max_prompt_chars:
                return (f"field {columns.prompt!r} has {chars} characters, more than "
                        f"max_prompt_chars={cfg.max_prompt_chars}")
        if (why := _answer_problem(answer, verifiers)) is not None:
            return f"field {columns.answer!r} {why}"
        return None

    flat = type(rows)([_flat(row, cfg) for row in rows], rows.where, rows.files) if hasattr(rows, "where") else rows
    fields = {columns.prompt: (str, list), columns.answer: (str, int, float, list, dict)}
    try:
        return validate_rows(flat, fields, label(cfg, split), cfg.on_bad_row, check,
                             max_chars={columns.prompt: cfg.max_prompt_chars})
    except ValueError as exc:
        for name in (columns.prompt, columns.answer):
            if not any(isinstance(r, Mapping) and r.get(name) is not None for r in flat):
                raise ValueError(f"{exc}; no row has the column {name!r}: {_columns_hint(rows)}") from None
        raise


def label(cfg: TaskConfig, split: str) -> str:
    """How the data-quality lines name this dataset: `qa: /data/verl/train.parquet (train)`. The source as the user
    gave it keeps two files of one name apart; `qa /data/verl/train.parquet/train` read as a path to a file `train`."""
    return f"qa: {cfg.source} ({split})"


def _columns_hint(rows) -> str:
    first = next((row for row in rows if isinstance(row, Mapping)), None)
    if first is None:
        return "no row is a JSON object"
    verl = " (verl's layout: task.columns.answer=reward_model.ground_truth)" if column(
        first, "reward_model.ground_truth") is not None else ""
    return (f"the first row's columns are {', '.join(map(repr, first))}; set task.columns.prompt and "
            f"task.columns.answer{verl}")


def load(cfg: TaskConfig) -> list[Problem]:
    if not cfg.source:
        raise ValueError("task qa reads your dataset: set task.source to a hub id or a local file/dir")
    if cfg.few_shot:
        raise ValueError("task qa has no worked solutions to show as examples; use few_shot=0")
    read = load_rows(cfg.source, cfg.split, cfg.source, cfg.hub_config)
    rows = _usable(read, cfg, cfg.split)
    columns = cfg.qa_columns()
    references = [reference(row[columns.answer]) for _, row in rows]
    if sentences := _sentences(references):
        logger.warning("%s: %d of %d answers read as sentences (first: %r); the verifier compares an answer "
                       "with the whole of one: point task.columns.answer at a short final answer, or at a worked "
                       "solution that ends in \\boxed{} or '#### '", label(cfg, cfg.split), len(sentences),
                       len(references), sentences[0][:80])
    problems = []
    for (index, row), ref in zip(rows, references):
        prompt = row[columns.prompt]
        problems.append(Problem(
            id=f"qa/{cfg.split}/{index}",
            task="qa",
            prompt=math_prompt(prompt, cfg.template) if isinstance(prompt, str) else
            [{"role": m["role"], "content": m["content"]} for m in prompt],
            reference=ref,
            # what a verl- or TRL-style verifier reads: Problem.context()
            meta={"index": index, "ground_truth": row[columns.answer], "data_source": row.get(columns.data_source),
                  "extra_info": row.get(columns.extra_info), "columns": row_columns(read[index], columns.prompt)},
        ))
    return shuffle_and_limit(problems, cfg.seed, cfg.limit)
