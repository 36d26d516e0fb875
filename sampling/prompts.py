"""Turn a Problem's prompt into token ids the same way for every backend."""

from __future__ import annotations

from rlvr.data.problem import Problem


def prompt_token_ids(tokenizer, problem: Problem) -> list[int]:
    """Chat messages go through the tokenizer's chat template (with the assistant turn opened);
    plain text is tokenized as-is (with the tokenizer's usual special tokens, e.g. a BOS)."""
    if isinstance(problem.prompt, str):
        return list(tokenizer(problem.prompt, add_special_tokens=True)["input_ids"])
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(f"problem {problem.id} gives chat messages but the tokenizer has no chat template: set "
                         "task.template=plain (eval suites that set no template follow it), or use a model whose "
                         "tokenizer has one")
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


def without_overlong(tokenizer, problems: list[Problem], max_model_len: int, what: str, on_bad_row: str
                     ) -> tuple[list[Problem], str | None]:
    """The problems whose prompt fits `max_model_len`, and a line saying how many were skipped (None: none), as
    verl's `filter_overlong_prompts`: one such prompt would otherwise stop the whole run or evaluation when its
    batch is sampled. `what` names them in that line ("training prompts"). ValueError when `on_bad_row` is "fail"
    and one does not fit, when none fits, or for chat prompts on a tokenizer without a chat template."""
    overlong = overlong_prompts(tokenizer, problems, max_model_len)
    if not overlong:
        return problems, None
    first, tokens = overlong[0]
    said = (f"{len(overlong)} of {len(problems)} {what} do not fit sampler.max_model_len={max_model_len} "
            f"(first: {first.id}, {tokens} tokens)")
    if on_bad_row == "fail" or len(overlong) == len(problems):
        raise ValueError(f"{said}; raise sampler.max_model_len or lower task.max_prompt_chars")
    dropped = {id(p) for p, _ in overlong}
    return [p for p in problems if id(p) not in dropped], f"{said}: skipped; raise sampler.max_model_len to keep them"


def cut_at_stop(text: str, stop: list[str], start: int = 0) -> tuple[str, bool]:
    """Text up to the earliest stop string found at or after `start` (excluded), and whether one was found."""
    cuts = [i for i in (text.find(s, start) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)
