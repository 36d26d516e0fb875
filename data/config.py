"""Which problems a run uses: task name, source, split and size."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


TaskName = Literal["arith", "code", "gsm8k", "math500", "humaneval", "mbpp"]


class TaskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TaskName = Field("arith", description="Which task module of rlvr.data.tasks supplies the problems.")
    split: Literal["train", "test"] = Field("train", description="Split to draw problems from.")
    source: str | None = Field(
        None, description="Hub dataset id or local file/dir (json, jsonl, jsonl.gz, parquet); None = the task's default."
    )
    limit: int | None = Field(None, ge=1, description="Use at most this many problems (first N after shuffling by seed).")
    seed: int = Field(0, description="Seed for synthetic generation and shuffling.")
    level: int = Field(1, ge=1, le=5, description="Difficulty level of synthetic tasks.")
    template: Literal["chat", "plain"] = Field("chat", description="Prompt as chat messages or plain text.")
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
    verifier: str | None = Field(
        None,
        description="The verifier that judges this task's answers: a built-in name or an import path 'pkg.mod:fn'; "
        "None = the task's own (math, or code for humaneval/mbpp/code). An eval suite is scored with it (its options "
        "come from the verify.verifiers entry of the same name); the training task is rewarded by verify.verifiers "
        "when that is set, else by this one.",
    )

    @field_validator("verifier")
    @classmethod
    def _verifier_loads(cls, name: str | None) -> str | None:
        if name is not None:
            from rlvr.verifiers.registry import resolve  # here: the verifiers import the data package

            resolve(name)  # ValueError naming the problem (unknown name, import failure, signature)
        return name

    def suite_name(self) -> str:
        """A short name for this task as an evaluation suite: `arith-l2-test`, `gsm8k-test`."""
        level = f"-l{self.level}" if self.name in ("arith", "code") and self.source is None else ""
        return f"{self.name}{level}-{self.split}"
