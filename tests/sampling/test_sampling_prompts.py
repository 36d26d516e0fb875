"""Prompt rendering and stop-string cutting, shared by both backends."""

from __future__ import annotations

import pytest

from rlvr.data.problem import Problem
from rlvr.sampling.prompts import cut_at_stop, prompt_token_ids


def test_chat_prompt_uses_template_with_generation_prompt(tokenizer):
    messages = [{"role": "user", "content": "What is 2 + 3?"}]
    ids = prompt_token_ids(tokenizer, Problem("p", "t", messages, "5"))
    text = tokenizer.decode(ids)
    assert text == "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")  # special tokens are single ids


def test_text_prompt_is_tokenized_as_is(tokenizer):
    ids = prompt_token_ids(tokenizer, Problem("p", "t", "The answer is", "x"))
    assert tokenizer.decode(ids) == "The answer is"


@pytest.mark.parametrize(
    "text, stop, start, expected",
    [
        ("abc STOP def", ["STOP"], 0, ("abc ", True)),  # cut before the stop string
        ("a;b.c", [".", ";"], 0, ("a", True)),  # the earliest of several
        ("no stop here", ["STOP"], 0, ("no stop here", False)),
        ("x.y.z", ["."], 2, ("x.y", True)),  # matches before `start` (min_tokens) do not count
        ("text", [""], 0, ("text", False)),  # an empty stop string is ignored
    ],
)
def test_cut_at_stop(text, stop, start, expected):
    assert cut_at_stop(text, stop, start) == expected
