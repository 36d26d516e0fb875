"""Synthetic short Python functions with assert tests, e.g. "Write f(x) returning 3*x + 1".

Levels add function families: 1 = linear; 2 = + quadratic; 3 = + conditional (max/abs);
4 = + list reductions; 5 = + string functions.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from rlvr.data.config import TaskConfig
from rlvr.data.problem import Problem
from rlvr.data.tasks.synthetic import generate_split

VERIFIER = "code"
INSTRUCTION = "Reply with one ```python code block."
_NAMES = ("f", "g", "h", "calc", "solve")

Spec = tuple[str, str, str, Callable]  # (signature args, description, body expression, python function)


def _linear(rng: random.Random) -> Spec:
    a, b = rng.randint(1, 20), rng.randint(-20, 20)
    body = f"{a} * x + {b}" if b >= 0 else f"{a} * x - {-b}"
    return "x", f"returns {body}", body, lambda x: a * x + b


def _quadratic(rng: random.Random) -> Spec:
    a, b = rng.randint(1, 5), rng.randint(0, 9)
    body = f"{a} * x * x + {b}"
    return "x", f"returns {body}", body, lambda x: a * x * x + b


def _conditional(rng: random.Random) -> Spec:
    a = rng.randint(-5, 9)
    if rng.random() < 0.5:
        return "x", f"returns the larger of x and {a}", f"max(x, {a})", lambda x: max(x, a)
    return "x", f"returns the distance between x and {a}", f"abs(x - {a})", lambda x: abs(x - a)


def _reduction(rng: random.Random) -> Spec:
    k = rng.randint(2, 5)
    if rng.random() < 0.5:
        return "xs", f"returns {k} times the sum of the list xs", f"{k} * sum(xs)", lambda xs: k * sum(xs)
    return "xs", f"returns how many items of xs are greater than {k}", f"sum(1 for v in xs if v > {k})", (
        lambda xs: sum(1 for v in xs if v > k)
    )


def _string(rng: random.Random) -> Spec:
    k = rng.randint(2, 4)
    if rng.random() < 0.5:
        return "s", f"returns the string s repeated {k} times", f"s * {k}", lambda s: s * k
    return "s", "returns the string s reversed", "s[::-1]", lambda s: s[::-1]


_FAMILIES = [_linear, _quadratic, _conditional, _reduction, _string]
_INPUTS = {"x": [0, 1, 2, -3, 7], "xs": [[1, 2, 3], [], [5, 9, 0, 4]], "s": ["ab", "", "xyz"]}


def _make(rng: random.Random, level: int) -> tuple[str, dict]:
    family = rng.choice(_FAMILIES[:level])
    arg, description, body, fn = family(rng)
    name = rng.choice(_NAMES)
    text = f"Write a Python function {name}({arg}) that {description}."
    tests = "\n".join(f"assert {name}({v!r}) == {fn(v)!r}" for v in _INPUTS[arg])
    solution = f"```python\ndef {name}({arg}):\n    return {body}\n```"
    return text, {"name": name, "tests": tests, "solution": solution}


def load(cfg: TaskConfig) -> list[Problem]:
    problems = []
    for text, item in generate_split(cfg, _make):
        content = f"{text} {INSTRUCTION}"
        prompt = [{"role": "user", "content": content}] if cfg.template == "chat" else content + "\n"
        reference = {"tests": item["tests"], "entry_point": item["name"], "setup": "", "prompt_prefix": ""}
        problems.append(
            Problem(
                id=f"code-L{cfg.level}-{cfg.split}-{len(problems)}",
                task="code",
                prompt=prompt,
                reference=reference,
                meta={"solution": item["solution"], "level": cfg.level},
            )
        )
    return problems
