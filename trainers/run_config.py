"""The run config: one validated object composed of each stage's own section, loaded from YAML.

`load_config("configs/arith_grpo.yaml", ["train.steps=5", "sampler.backend=hf"])` reads the file,
applies `dotted.key=value` overrides (values parsed as YAML scalars) and validates. Any problem
raises ConfigError whose message names the field and, where there is a fixed set, the allowed values;
a key that was renamed says its new name (the lines are worded by trainers/config_errors.py).

It lives with the trainers (the Trainer is what consumes it) so that the flows, the torchrun entry point,
the benchmarks and plain scripts all import it from below: nothing under trainers/ imports rlvr.flows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, field_validator,
                      model_validator)
from pydantic_core import PydanticCustomError

from rlvr.data.config import TaskConfig
from rlvr.data.tasks import task_verifier
from rlvr.sampling.config import SamplerConfig, SamplingParams
from rlvr.trainers.config import ModelConfig, TrainConfig
# ConfigError and RENAMED stay importable from here (every caller imports the error from run_config)
from rlvr.trainers.config_errors import (RENAMED, ConfigError, describe, from_override,  # noqa: F401
                                         invalid, yaml_problem)
from rlvr.trainers.eval_default import held_out_suite, why_none
from rlvr.verifiers.config import VerifierSpec, VerifyConfig


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskConfig] = Field(
        default_factory=list,
        description="Task suites to evaluate on (held-out splits: a suite that names no split takes `test`). Unset: "
        "the training task's own held-out split, at most 100 problems, where it has one (trainers/eval_default.py), "
        "else none; [] for no evaluation.",
    )
    n: int = Field(4, ge=1, description="Samples per problem (pass@k needs n >= k).")
    k: list[int] | None = Field(None, validate_default=True,  # None: resolved against n below
                                description="k values for pass@k and maj@k, each <= n (refused otherwise); unset: "
                                            "those of [1, 4] that n allows.")
    params: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=1.0, max_tokens=128),
        description="Decoding for evaluation samples.",
    )
    greedy: bool = Field(True, description="Also score one greedy (temperature 0) sample per problem.")
    save_samples: bool = Field(True, description="Write every completion with its verdict (status, extracted answer, "
                                                 "rule, finish reason) beside the report: <report>.samples.jsonl.")

    @field_validator("tasks", mode="before")
    @classmethod
    def _held_out_by_default(cls, tasks: Any) -> Any:
        """An eval suite without a split is the test split (TaskConfig's own default, `train`, is the training task's)."""
        if isinstance(tasks, list):
            return [{**task, "split": "test"} if isinstance(task, dict) and "split" not in task else task for task in tasks]
        return tasks

    @field_validator("tasks")
    @classmethod
    def _one_suite_per_name(cls, tasks: list[TaskConfig]) -> list[TaskConfig]:
        """Reports, problems and the best checkpoint's basis are keyed by suite name: two suites of one name would
        be scored on one's problems."""
        names = [task.suite_name() for task in tasks]
        if twice := sorted({name for name in names if names.count(name) > 1}):
            raise PydanticCustomError(
                "suite_twice", "two suites are named {names} (task, level or source, and split): keep one, or name "
                "one with eval.tasks.N.suite", {"names": ", ".join(twice)})
        return tasks

    @field_validator("k")
    @classmethod
    def _k_within_n(cls, k: list[int] | None, info: ValidationInfo) -> list[int]:
        """pass@k and maj@k need k samples per problem: a k above n is refused, not left out of the report."""
        n = info.data.get("n")  # absent if n itself was invalid (that error is reported instead)
        if k is None:  # the default: every k that n samples allow
            return [v for v in (1, 4) if n is None or v <= n]
        if any(v < 1 for v in k):
            raise PydanticCustomError("k_range", "every k must be >= 1")
        if n is not None and max(k, default=0) > n:
            raise PydanticCustomError(
                "k_above_n", "pass@{k} needs eval.n >= {k} samples per problem (eval.n is {n}); raise eval.n or keep "
                "eval.k <= {n}", {"k": max(k), "n": n})
        return k


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("run", description="Run name, shown in Prefect and in reports.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    task: TaskConfig = Field(default_factory=TaskConfig, description="Training problems.")
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    _no_eval_note: str | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _defaults_from_name_and_task(self) -> RunConfig:
        """What an unset `train.checkpoint.dir` and `eval.tasks` follow: the run's name (`runs/<name>`) and its
        training task (its held-out split, or none, with `no_eval_note` saying why)."""
        if self.train.checkpoint.dir is None:
            self.train.checkpoint.dir = f"runs/{path_safe(self.name)}"
        if "tasks" not in self.eval.model_fields_set:
            suite, why = held_out_suite(self.task)
            self.eval.tasks = [suite] if suite else []
            self._no_eval_note = None if suite else why_none(self.task, why)
        return self

    @model_validator(mode="after")
    def _training_rows_know_their_rewards(self) -> RunConfig:
        """The training task's rows are checked against the verifiers that reward them (`TaskConfig.judged_by`):
        task qa keeps a dict ground truth (verl's countdown) for a plug-in named in `verify.verifiers` alone, not
        only in `task.verifier`. After the eval defaults above: a held-out suite copied from the task is judged by
        its own verifier, as the evaluation scores it."""
        if self.verify.verifiers:
            self.task.reward_with(tuple(spec.name for spec in self.verify.verifiers))
        return self

    @property
    def no_eval_note(self) -> str | None:
        """Why an unset `eval.tasks` gave no final evaluation, and how to name one; None when it gave one or was set."""
        return self._no_eval_note

    @model_validator(mode="after")
    def _suites_prompt_like_training(self) -> RunConfig:
        """An eval suite that sets no template renders its prompts as the training task does: a model trained on
        plain-text prompts (one without a chat template, say) is evaluated on plain-text prompts."""
        for task in self.eval.tasks:
            if "template" not in task.model_fields_set:
                task.template = self.task.template
        return self

    def verifier_specs(self) -> list[VerifierSpec]:
        """The verifiers that score training completions: `verify.verifiers`, else the task's (`task.verifier`, by
        default its own)."""
        return self.verify.verifiers or [VerifierSpec(name=self.task.verifier or task_verifier(self.task.name))]

    def eval_verifier_spec(self, task: TaskConfig) -> VerifierSpec:
        """The verifier that scores an eval suite: `task.verifier`, by default the task's own, with the options
        `verify.verifiers` gives that verifier (a code sandbox's timeout, memory or processes hold for evaluation as
        for training). One verifier, not the weighted training mix: pass@k counts correct answers."""
        name = task.verifier or task_verifier(task.name)
        options = next((spec.options for spec in self.verify.verifiers or [] if spec.name == name), {})
        return VerifierSpec(name=name, options=options)


def path_safe(name: str) -> str:
    """`name` as one folder name: each run of characters other than letters, digits, `.`, `_` and `-` becomes `-`,
    with no leading or trailing `.` or `-` (no `..`, no hidden folder); "run" when nothing is left."""
    return re.sub(r"[^\w.-]+", "-", name).strip(".-") or "run"


def parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form dotted.key=value")
    key, raw = item.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {item!r} has an empty key part")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """`a.b=v` sets a field; a number indexes a list the config file holds (`eval.tasks.0.limit=4`)."""
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for depth, part in enumerate(path[:-1]):
            if isinstance(node, list):
                node = node[_list_index(node, part, item, path[:depth])]
                continue
            child = node.setdefault(part, {})
            if not isinstance(child, (dict, list)):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            if child == {} and path[depth + 1].isdigit():  # a list the file does not hold: index its default
                child = node[part] = _default_list(item, path[:depth + 1], data)
            node = child
        if isinstance(node, list):
            node[_list_index(node, path[-1], item, path[:-1])] = value
        else:
            node[path[-1]] = value
    return data


_NO_FIELD = object()


def _default_list(item: str, where: list[str], data: dict) -> list:
    """A copy of the default list at `where` (`eval.tasks` when the file lists none: the training task's held-out
    split, so `data`'s task, where it is valid so far), for an override to index."""
    try:
        value: Any = RunConfig.model_validate({"task": data["task"]} if "task" in data else {}).model_dump(mode="json")
    except ValidationError:  # the task's own error is said when the whole config is validated
        value = RunConfig().model_dump(mode="json")
    for part in where:
        value = value.get(part, _NO_FIELD) if isinstance(value, dict) else _NO_FIELD
    dotted = ".".join(where)
    if value is _NO_FIELD:
        raise ConfigError(f"override {item!r}: {dotted} is not a config field")
    if not isinstance(value, list):
        raise ConfigError(f"override {item!r}: {dotted} holds no list here; give the whole list: {dotted}=[...]")
    return value


def _list_index(items: list, part: str, item: str, where: list[str]) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise ConfigError(f"override {item!r}: {'.'.join(where)} is a list of {len(items)} item(s); index it with "
                          f"0-{len(items) - 1}")
    return int(part)


def _admitted_types(annotation) -> set:
    """The types an annotation admits, through Optional, unions, lists and Annotated."""
    return {annotation, *(t for arg in getattr(annotation, "__args__", ()) for t in _admitted_types(arg))}


def _bools_for_numbers(model: type[BaseModel], data: Any, where: str = "") -> list[str]:
    """`key: true` where a number is expected (pydantic's lax mode reads it as 1, so `train.steps: yes` would
    train one step), found by walking `data` along `model`'s fields."""
    if not isinstance(data, dict):
        return []
    found = []
    for name, field in model.model_fields.items():
        if name not in data:
            continue
        value, path, types = data[name], f"{where}{name}", _admitted_types(field.annotation)
        items = value if isinstance(value, list) else [value]
        if types & {int, float} and bool not in types and any(isinstance(item, bool) for item in items):
            found.append(f"{path}: a number is expected (got {json.dumps(value)})")
        for sub in (t for t in types if isinstance(t, type) and issubclass(t, BaseModel)):
            for i, item in enumerate(items):
                found += _bools_for_numbers(sub, item, f"{path}.{i}." if isinstance(value, list) else f"{path}.")
    return found


def validate_config(data: dict, source: str = "config", overrides: list[str] = ()) -> RunConfig:
    """The RunConfig of `data` (the file `source` with `overrides` applied: an error line names the override
    that set the bad value, and the heading says whether the file or the overrides are to blame)."""
    overrides = list(overrides)
    if bools := _bools_for_numbers(RunConfig, data):
        locs = [tuple(line.split(":", 1)[0].split(".")) for line in bools]
        lines = [from_override(line, loc, overrides) for line, loc in zip(bools, locs)]
        raise invalid(source, lines, overrides, locs)
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        raise invalid(source, [describe(RunConfig, e, overrides) for e in errors], overrides,
                      [tuple(e["loc"]) for e in errors]) from None
    _check_combinations(cfg, source)
    return cfg


def _check_combinations(cfg: RunConfig, source: str) -> None:
    """Settings valid one by one that do not work together (refused before anything starts)."""
    if cfg.train.parallel == "fsdp" and cfg.train.fsdp.cpu_offload and not cfg.model.device.startswith("cpu"):
        raise ConfigError(f"invalid {source}:\n  train.fsdp.cpu_offload: not supported with model.device="
                          f"{cfg.model.device} yet (the offloaded shards are host tensors, which NCCL's collectives "
                          f"refuse); leave it false")
    if problem := _greedy_with_several_samples(cfg):
        raise ConfigError(f"invalid {source}:\n  {problem}")
    if cfg.train.dpo.pairs_path and cfg.train.algorithm != "dpo":  # it would be ignored without a word
        raise ConfigError(f"invalid {source}:\n  train.dpo.pairs_path: preference pairs train DPO only, and "
                          f"train.algorithm is {cfg.train.algorithm}; set train.algorithm=dpo or remove the path")


def _greedy_with_several_samples(cfg: RunConfig) -> str | None:
    """Temperature 0 samples one completion n times: vLLM refuses it mid-run ("n must be 1 when using greedy
    sampling"), and for a group-based loss every group would be identical (zero advantages, no pairs)."""
    if cfg.eval.params.temperature == 0 and cfg.eval.n > 1:
        return (f"eval.params.temperature: 0 (greedy) gives eval.n={cfg.eval.n} identical samples; set eval.n=1, or "
                "keep a temperature > 0 (eval.greedy already scores one greedy sample per problem)")
    algorithm = cfg.train.algorithm
    if algorithm == "dpo" and cfg.train.dpo.pairs_path:  # offline DPO samples nothing to train on
        return None
    group = getattr(cfg.train, algorithm).group_size
    if cfg.sampler.params.temperature == 0 and group > 1:
        return (f"sampler.params.temperature: 0 (greedy) gives train.{algorithm}.group_size={group} identical "
                f"completions per prompt (no advantage or preference to learn from); use a temperature > 0")
    return None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last silently: a run
    would quietly use the other of two values the user wrote)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool, type(None))):  # `? [a, b]: 1`: no config key
                raise yaml.constructor.ConstructorError(None, None, f"a key must be a plain value, not "
                                                        f"{type(key).__name__}", key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> RunConfig:
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {yaml_problem(exc)}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping at the top level, not {type(data).__name__}")
    data = apply_overrides(data, list(overrides))
    return validate_config(data, source=str(path) if path else "config", overrides=overrides)
