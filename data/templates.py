"""Prompt templates shared by every task: chat messages or plain text, with the answer format the verifier expects.

- math: the completion must end with the final answer in `\\boxed{...}` (`MATH_INSTRUCTION`);
- code: the completion must hold the program in one fenced ```python block (`CODE_INSTRUCTION`).

Few-shot examples are `Example(question, answer)` pairs whose answers already follow that format; in chat they
become prior user/assistant turns, in plain text they are prefixed as `Question: ...` / `Answer: ...` blocks.
The plain layout (k = number of examples):

    <instruction>

    Question: <example 1>
    Answer: <its answer>
    ... (k blocks)

    Question: <question>
    Answer:
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rlvr.data.problem import Messages

Template = Literal["chat", "plain"]
MATH_INSTRUCTION = "Please reason step by step, and put the final answer in \\boxed{}."
CODE_INSTRUCTION = "Reply with one ```python code block holding the complete solution."


@dataclass(frozen=True)
class Example:
    """One worked example: the question text (without the instruction) and an answer in the verifier's format."""

    question: str
    answer: str


def render(question: str, instruction: str, template: Template, examples: Sequence[Example] = ()) -> Messages | str:
    """`question` with `instruction` as chat messages (each user turn carries the instruction) or plain text."""
    if template == "chat":
        messages: Messages = []
        for ex in examples:
            messages.append({"role": "user", "content": f"{ex.question}\n\n{instruction}"})
            messages.append({"role": "assistant", "content": ex.answer})
        messages.append({"role": "user", "content": f"{question}\n\n{instruction}"})
        return messages
    if template == "plain":
        blocks = [instruction] + [f"Question: {ex.question}\nAnswer: {ex.answer}" for ex in examples]
        return "\n\n".join(blocks + [f"Question: {question}\nAnswer:"])
    raise ValueError(f"unknown template {template!r}; allowed: chat, plain")


def math_prompt(
    question: str, template: Template = "chat", few_shot_examples: Sequence[Example] = ()
) -> Messages | str:
    """A math question asking for step-by-step reasoning and the final answer in `\\boxed{}`.

    few_shot_examples: answers should be worked solutions that end in `\\boxed{answer}`.
    """
    return render(question, MATH_INSTRUCTION, template, few_shot_examples)


def code_prompt(task: str, template: Template = "chat", few_shot_examples: Sequence[Example] = ()) -> Messages | str:
    """A programming task asking for the solution in one ```python block.

    task: the task text (see `humaneval_task` and `mbpp_task`); few_shot_examples: answers as `fenced(code)`.
    """
    return render(task, CODE_INSTRUCTION, template, few_shot_examples)


def fenced(code: str) -> str:
    """`code` in one ```python block (line endings normalised to \\n)."""
    return "```python\n" + code.replace("\r\n", "\n").replace("\r", "\n").strip("\n") + "\n```"


def humaneval_task(prompt: str) -> str:
    """The HumanEval task text: complete the function whose signature and docstring are given."""
    return (
        "Complete the following Python function. Keep its signature and implement what its docstring describes; "
        "the function will be tested.\n\n" + fenced(prompt)
    )


def mbpp_task(text: str, first_test: str) -> str:
    """The MBPP task text: the description plus its first test assert, which shows the function's name and use."""
    return f"{text.strip()}\nYour code should pass this test:\n{first_test.strip()}"
