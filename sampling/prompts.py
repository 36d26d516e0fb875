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


def prompt_lengths(tokenizer, problems: list[Problem]) -> list[int]:
    """Each problem's prompt length in tokens, as the samplers count it; ValueError for chat prompts on a tokenizer
    without a chat template."""
    return [len(prompt_token_ids(tokenizer, problem)) for problem in problems]


def overlong_prompts(tokenizer, problems: list[Problem], max_model_len: int, lengths: list[int] | None = None
                     ) -> list[tuple[Problem, int]]:
    """(problem, prompt tokens) for each prompt that leaves no room to generate within `max_model_len` (the
    samplers refuse it); `lengths`: the `prompt_lengths` of `problems`, if counted already."""
    lengths = prompt_lengths(tokenizer, problems) if lengths is None else lengths
    return [(problem, length) for problem, length in zip(problems, lengths) if length >= max_model_len]


def without_overlong(tokenizer, problems: list[Problem], max_model_len: int, what: str, on_bad_row: str,
                     lengths: list[int] | None = None) -> tuple[list[Problem], str | None]:
    """The problems whose prompt fits `max_model_len`, and a line saying how many were skipped (None: none), as
    verl's `filter_overlong_prompts`: one such prompt would otherwise stop the whole run or evaluation when its
    batch is sampled. `what` names them in that line ("training prompts"); `lengths` as for `overlong_prompts`.
    ValueError when `on_bad_row` is "fail" and one does not fit, when none fits, or for chat prompts on a tokenizer
    without a chat template."""
    overlong = overlong_prompts(tokenizer, problems, max_model_len, lengths)
    if not overlong:
        return problems, None
    first, tokens = overlong[0]
    said = (f"{len(overlong)} of {len(problems)} {what} do not fit sampler.max_model_len={max_model_len} "
            f"(first: {first.id}, {tokens} tokens)")
    if on_bad_row == "fail" or len(overlong) == len(problems):
        raise ValueError(f"{said}; raise sampler.max_model_len or lower task.max_prompt_chars")
    dropped = {id(p) for p, _ in overlong}
    return [p for p in problems if id(p) not in dropped], f"{said}: skipped; raise sampler.max_model_len to keep them"


def capped_completions(lengths: list[int], max_tokens: int, max_model_len: int, params: str) -> str | None:
    """A line saying that `max_tokens` does not fit beside the prompts of `lengths` (those that fit), or None.
    Both samplers end a completion where the context ends (max_model_len minus its prompt; the hf backend minus the
    longest prompt of the batch it decodes), so a larger max_tokens is cut without an error: said once per run, as
    the truncation rate alone does not say why. `params`: the setting's name ("sampler.params")."""
    if not lengths or max_tokens <= max_model_len - max(lengths):
        return None
    shortest, longest = min(lengths), max(lengths)
    return (f"{params}.max_tokens={max_tokens} does not fit in sampler.max_model_len={max_model_len} beside the "
            f"prompts: a completion ends at max_model_len minus its prompt, at most {max_model_len - shortest} tokens "
            f"(after the shortest prompt, {shortest} tokens) and {max_model_len - longest} after the longest "
            f"({longest}); raise sampler.max_model_len to {max_tokens + longest} (or lower max_tokens to "
            f"{max_model_len - longest}) so that the context cuts no completion")


def cut_at_stop(text: str, stop: list[str], start: int = 0) -> tuple[str, bool]:
    """Text up to the earliest stop string found at or after `start` (excluded), and whether one was found."""
    cuts = [i for i in (text.find(s, start) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)
