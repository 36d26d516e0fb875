"""Synthetic multi-step integer arithmetic. The answer goes in \\boxed{}; solutions reduce one operation a line.

Operands are single digits and levels lengthen the chain, so each line of a solution needs one small
fact (running total +/- a digit) and errors compound with length -- a good range for RL to improve.
Levels: 1 = three terms, + and -; 2 = four terms; 3 = five terms; 4 = four terms with + - *;
5 = five terms with + - * and one parenthesised pair (operands 0..12).
"""

from __future__ import annotations

import random

from rlvr.data.config import TaskConfig
from rlvr.data.problem import Problem
from rlvr.data.tasks.synthetic import generate_split

VERIFIER = "math"
INSTRUCTION = "Put the final answer in \\boxed{}."

_LEVELS = {  # level -> (number of operands, operators, largest operand, parenthesise)
    1: (3, "+-", 9, False),
    2: (4, "+-", 9, False),
    3: (5, "+-", 9, False),
    4: (4, "+-*", 9, False),
    5: (5, "+-*", 12, True),
}


def _tokens(rng: random.Random, level: int) -> list[str]:
    count, ops, top, paren = _LEVELS[level]
    toks: list[str] = [str(rng.randint(0, top))]
    for _ in range(count - 1):
        toks += [rng.choice(ops), str(rng.randint(0, top))]
    if paren:
        start = 2 * rng.randint(0, count - 2)
        toks = toks[:start] + ["("] + toks[start : start + 3] + [")"] + toks[start + 3 :]
    return toks


def _show(toks: list[str]) -> str:
    return " ".join(toks).replace("( ", "(").replace(" )", ")")


def _reduce_once(toks: list[str]) -> list[str]:
    """Evaluate the first operation due under the usual precedence; return the shorter token list."""
    if "(" in toks:
        i = toks.index("(")
        inner = _reduce_once(toks[i + 1 : i + 4])
        return toks[:i] + inner + toks[i + 5 :] if len(inner) == 1 else toks[:i] + ["("] + inner + [")"] + toks[i + 5 :]
    j = next((k for k in range(1, len(toks), 2) if toks[k] == "*"), 1)
    a, op, b = int(toks[j - 1]), toks[j], int(toks[j + 1])
    value = a * b if op == "*" else a + b if op == "+" else a - b
    return toks[: j - 1] + [str(value)] + toks[j + 2 :]


def solve(toks: list[str]) -> tuple[str, int]:
    """The worked solution `e = e' = ... = n` followed by `\\boxed{n}`, and n."""
    steps = [_show(toks)]
    while len(toks) > 1:
        toks = _reduce_once(toks)
        steps.append(_show(toks))
    return " = ".join(steps) + f"\n\\boxed{{{toks[0]}}}", int(toks[0])


def _make(rng: random.Random, level: int) -> tuple[str, list[str]]:
    toks = _tokens(rng, level)
    return _show(toks), toks


def question(expression: str) -> str:
    return f"Compute {expression}. {INSTRUCTION}"


def load(cfg: TaskConfig) -> list[Problem]:
    problems = []
    for key, toks in generate_split(cfg, _make):
        solution, answer = solve(toks)
        text = question(key)
        prompt = [{"role": "user", "content": text}] if cfg.template == "chat" else text + "\n"
        problems.append(
            Problem(
                id=f"arith-L{cfg.level}-{cfg.split}-{len(problems)}",
                task="arith",
                prompt=prompt,
                reference=str(answer),
                meta={"expression": key, "solution": solution, "level": cfg.level},
            )
        )
    return problems
