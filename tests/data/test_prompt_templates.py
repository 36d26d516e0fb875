"""rlvr.data.templates: chat and plain prompts carry the verifier's answer format; few-shot examples come first."""

from __future__ import annotations

import pytest

from rlvr.data.templates import (
    CODE_INSTRUCTION,
    MATH_INSTRUCTION,
    Example,
    code_prompt,
    fenced,
    humaneval_task,
    math_prompt,
    mbpp_task,
)

SHOTS = [Example("What is 1+1?", "1+1=2\n\\boxed{2}"), Example("What is 2+2?", "2+2=4\n\\boxed{4}")]


def test_math_chat_zero_shot_is_one_user_turn_asking_for_boxed():
    assert math_prompt("What is 3+4?") == [{"role": "user", "content": f"What is 3+4?\n\n{MATH_INSTRUCTION}"}]
    assert "\\boxed{}" in MATH_INSTRUCTION


def test_math_chat_few_shot_examples_are_prior_turns():
    messages = math_prompt("What is 3+4?", "chat", SHOTS)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == f"What is 1+1?\n\n{MATH_INSTRUCTION}"  # same format as the real question
    assert messages[1]["content"] == SHOTS[0].answer
    assert messages[-1]["content"].startswith("What is 3+4?")


def test_math_plain_prefixes_examples_and_ends_ready_for_the_answer():
    text = math_prompt("What is 3+4?", "plain", SHOTS)
    assert text.startswith(MATH_INSTRUCTION + "\n\n")
    assert text.index("What is 1+1?") < text.index("What is 2+2?") < text.index("What is 3+4?")
    assert "Answer: 2+2=4\n\\boxed{4}" in text
    assert text.endswith("Question: What is 3+4?\nAnswer:")
    assert math_prompt("Q", "plain") == f"{MATH_INSTRUCTION}\n\nQuestion: Q\nAnswer:"


def test_code_prompt_asks_for_one_python_block():
    assert "```python" in CODE_INSTRUCTION
    (turn,) = code_prompt("Write f.")
    assert turn == {"role": "user", "content": f"Write f.\n\n{CODE_INSTRUCTION}"}
    shot = Example("Write g.", fenced("def g():\n    return 1"))
    assert code_prompt("Write f.", "chat", [shot])[1]["content"] == "```python\ndef g():\n    return 1\n```"
    assert code_prompt("Write f.", "plain", [shot]).endswith("Question: Write f.\nAnswer:")


def test_fenced_normalises_crlf_and_blank_edges():
    assert fenced("\r\ndef f():\r\n    return 1\r\n\r\n") == "```python\ndef f():\n    return 1\n```"


def test_humaneval_task_shows_the_signature_in_a_block():
    prompt = 'def add(a, b):\n    """Sum."""\n'
    text = humaneval_task(prompt)
    assert "Complete the following Python function" in text
    assert fenced(prompt) in text


def test_mbpp_task_shows_the_first_assert():
    text = mbpp_task("Write a function to square a number. ", "assert square(2) == 4 ")
    assert text == "Write a function to square a number.\nYour code should pass this test:\nassert square(2) == 4"


def test_unknown_template_is_refused():
    with pytest.raises(ValueError, match="unknown template"):
        math_prompt("Q", "html")
