"""Turn a Problem's prompt into token ids the same way for every backend."""

from __future__ import annotations

from rlvr.data.problem import Problem


def prompt_token_ids(tokenizer, problem: Problem) -> list[int]:
    """Chat messages go through the tokenizer's chat template (with the assistant turn opened);
    plain text is tokenized as-is (with the tokenizer's usual special tokens, e.g. a BOS)."""
    if isinstance(problem.prompt, str):
        return list(tokenizer(problem.prompt, add_special_tokens=True)["input_ids"])
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(f"problem {problem.id} gives chat messages but the tokenizer has no chat template")
    text = tokenizer.apply_chat_template(problem.prompt, add_generation_prompt=True, tokenize=False)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def overlong_prompts(tokenizer, problems: list[Problem], max_model_len: int) -> list[tuple[Problem, int]]:
    """(problem, prompt tokens) for each prompt that leaves no room to generate within `max_model_len` (the
    samplers refuse it); ValueError for chat prompts on a tokenizer without a chat template."""
    out = []
    for problem in problems:
        if (length := len(prompt_token_ids(tokenizer, problem))) >= max_model_len:
            out.append((problem, length))
    return out


def cut_at_stop(text: str, stop: list[str], start: int = 0) -> tuple[str, bool]:
    """Text up to the earliest stop string found at or after `start` (excluded), and whether one was found."""
    cuts = [i for i in (text.find(s, start) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)
