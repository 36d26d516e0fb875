"""Which problems a run uses: task name, source, split and size."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from rlvr.data.files import NAMED_FOR_SPLIT


TaskName = Literal["arith", "code", "gsm8k", "math500", "humaneval", "mbpp", "qa"]


def _dataset_name(source: str) -> str:
    """What a source is called: the file's name without suffixes, or its folder's where the file is named for a
    split (`/data/deepscaler/train.parquet`), the last part of a hub id or a folder."""
    path = Path(source.rstrip("/"))
    name = re.split(r"\.(?:jsonl|json|parquet)", path.name, maxsplit=1, flags=re.I)[0]
    if not (NAMED_FOR_SPLIT.match(path.name) and path.suffix):
        return name
    folder = path.parent  # a hub snapshot keeps its files in `data/`: the dataset is the folder above
    return (folder.parent.name if folder.name == "data" else folder.name) or name


class QAColumns(BaseModel):
    """Where task qa finds a row's prompt and answer: column names, or dotted paths into nested objects."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("prompt", min_length=1, description="The prompt: text, or a list of chat messages.")
    answer: str = Field("answer", min_length=1, description="The gold answer: a number, a short text, or a worked "
                        "solution whose last \\boxed{} (or GSM8K `#### ` line) holds it; a dict (verl's countdown "
                        "ground truth) only for verifiers of your own ('pkg.mod:fn', in task.verifier or "
                        "verify.verifiers), which get it as it is.")
    data_source: str = Field(
        "data_source", min_length=1, description="Where a row names its data source (verl's column), passed to a "
        "verifier written for verl (`compute_score(data_source, ...)`); a row without it gives `qa`.")
    extra_info: str = Field(
        "extra_info", min_length=1, description="Where a row keeps verl's `extra_info` (a dict), passed as it is to a "
        "verifier written for verl; a row without it gives {}.")


class TaskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TaskName = Field("arith", description="Which task module of rlvr.data.tasks supplies the problems.")
    split: Literal["train", "test", "validation"] = Field(
        "train", description="Split to draw problems from (validation: task qa, whose data may have one).")
    hub_config: str | None = Field(
        None, description="Task qa: the hub dataset's configuration (subset) name, for a hub id that needs one "
        "(`openai/gsm8k` needs `main`); the built-in tasks know theirs.")
    source: str | None = Field(
        None, description="Hub dataset id or local file/dir (json, jsonl, jsonl.gz, parquet); None = the task's default."
    )
    limit: int | None = Field(None, ge=1, description="Use at most this many problems (first N after shuffling by seed).")
    seed: int = Field(0, description="Seed for synthetic generation and shuffling.")
    level: int = Field(1, ge=1, le=5, description="Difficulty level of synthetic tasks.")
    template: Literal["chat", "plain"] = Field(
        "chat", description="Prompt as chat messages or plain text; an eval suite that sets none takes the training "
        "task's.")
    few_shot: int = Field(0, ge=0, le=8, description="Number of worked examples prepended to the prompt.")
    on_bad_row: Literal["skip", "fail"] = Field(
        "skip",
        description="A bad row (a line that is not JSON, a needed field missing, empty or of the wrong type, a prompt "
        "longer than max_prompt_chars) is reported with its line number (row number for parquet / hub data), then "
        "skipped or fails the load.",
    )
    max_prompt_chars: int = Field(
        32_000,
        ge=1,
        description="A row whose prompt text (question / problem / description / function stub) is longer is a bad "
        "row. Characters, not tokens: checked at load, with no tokenizer (about 8k tokens of English); the exact token "
        "count against sampler.max_model_len is checked again when sampling.",
    )
    suite: str | None = Field(
        None, pattern=r"^[\w.+-]+$", description="This task's name as an eval suite in reports (None: task, level "
        "or source, and split: `gsm8k-test`, `qa-deepscaler-test`).")
    columns: QAColumns | None = Field(
        None, description="Task qa only: which columns hold the prompt and the answer (default: prompt, answer)."
    )
    verifier: str | None = Field(
        None,
        description="The verifier that judges this task's answers: a built-in name, an import path 'pkg.mod:fn' or a "
        "file 'path/to/rewards.py:fn'; None = the task's own (math, or code for humaneval/mbpp/code). An eval suite "
        "is scored with it (its options come from the verify.verifiers entry of the same name); the training task is "
        "rewarded by verify.verifiers when that is set, else by this one.",
    )

    # the verifiers whose rewards train on this task, when a run config names them (`RunConfig`: verify.verifiers)
    _rewarded_by: tuple[str, ...] = PrivateAttr(())

    def reward_with(self, names: tuple[str, ...]) -> None:
        """Name the verifiers whose rewards train on this task: the run config's `verify.verifiers`, which outrank
        `verifier` for training. Not a field: it is the run config's, and a suite copied from the task is judged by
        its own `verifier`."""
        self._rewarded_by = tuple(names)

    def judged_by(self) -> tuple[str, ...]:
        """The verifiers that score this task's rows, for a loader to check them against (task qa keeps a dict
        answer only for plug-ins): those set by `reward_with`, else `verifier`; () for the task's own."""
        return self._rewarded_by or ((self.verifier,) if self.verifier else ())

    @field_validator("verifier")
    @classmethod
    def _verifier_loads(cls, name: str | None) -> str | None:
        if name is not None:
            from rlvr.verifiers.registry import resolve  # here: the verifiers import the data package

            resolve(name)  # ValueError naming the problem (unknown name, import failure, signature)
        return name

    @model_validator(mode="after")
    def _qa_settings(self) -> TaskConfig:
        if self.columns is not None and self.name != "qa":
            raise ValueError(f"columns is a setting of task qa (your own dataset), not of task {self.name!r}")
        if self.name == "qa" and not self.source:
            raise ValueError("task qa reads your dataset: set its source to a hub id or a local file/dir")
        if self.name != "qa" and (self.split == "validation" or self.hub_config is not None):
            what = "split validation" if self.split == "validation" else "hub_config"
            raise ValueError(f"{what} is a setting of task qa (your own dataset); task {self.name!r} has train and "
                             "test splits of its own")
        return self

    def qa_columns(self) -> QAColumns:
        return self.columns or QAColumns()

    def suite_name(self) -> str:
        """A short name for this task as an evaluation suite: `arith-l2-test`, `gsm8k-test`, and for task qa the
        source's name (`qa-deepscaler-test` for /data/deepscaler.jsonl or a hub id `org/deepscaler`)."""
        if self.suite:
            return self.suite
        if self.name == "qa":
            return f"qa-{_dataset_name(str(self.source))}-{self.split}"
        level = f"-l{self.level}" if self.name in ("arith", "code") and self.source is None else ""
        return f"{self.name}{level}-{self.split}"
