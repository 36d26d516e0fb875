"""The task registry: one small module per task, chosen through a literal dict.

Each task module exposes:
    VERIFIER: str                                   built-in verifier that judges it ("math" or "code")
    load(cfg: rlvr.data.config.TaskConfig) -> list[Problem]
"""

from __future__ import annotations

import importlib
from types import ModuleType

from typing import get_args

from rlvr.data.config import TaskConfig, TaskName
from rlvr.data.problem import Problem

_MODULES = {
    "arith": "rlvr.data.tasks.arith",
    "code": "rlvr.data.tasks.code",
    "gsm8k": "rlvr.data.tasks.gsm8k",
    "math500": "rlvr.data.tasks.math500",
    "humaneval": "rlvr.data.tasks.humaneval",
    "mbpp": "rlvr.data.tasks.mbpp",
    "qa": "rlvr.data.tasks.qa",
}
TASK_NAMES: tuple[str, ...] = tuple(_MODULES)
assert set(TASK_NAMES) == set(get_args(TaskName)), "rlvr.data.config.TaskName and the registry disagree"


def task_module(name: str) -> ModuleType:
    if name not in _MODULES:
        raise ValueError(f"unknown task {name!r}; allowed: {', '.join(TASK_NAMES)}")
    return importlib.import_module(_MODULES[name])


def load_problems(cfg: TaskConfig) -> list[Problem]:
    return task_module(cfg.name).load(cfg)


def task_verifier(name: str) -> str:
    return task_module(name).VERIFIER
