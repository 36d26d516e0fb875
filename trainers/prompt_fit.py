"""Which prompts fit the sampler's context, and whether `max_tokens` fits beside them: checked before any engine
starts, the same way for the training task (`Trainer`) and for each eval suite (flows/eval_report.py).

    fit = fit_prompts(tokenizer, problems, cfg.sampler.max_model_len, params.max_tokens, "training prompts",
                      cfg.task.on_bad_row, "sampler.params")
    fit.problems   # those whose prompt fits (in tokens, as the samplers count them)
    fit.skipped    # the line saying how many were left out, or None
    fit.capped     # the line saying that max_tokens is cut by the context beside these prompts, or None

Why before: one prompt over `sampler.max_model_len` failed the step (or the evaluation) that drew it, and again at
the same step on every resume; a `max_tokens` past the context was cut without a word (the samplers end a completion
where the context ends), visible only as a truncation rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlvr.trainers.run_config import ConfigError


@dataclass(frozen=True)
class PromptFit:
    problems: list
    skipped: str | None
    capped: str | None


def fit_prompts(tokenizer, problems: list, max_model_len: int, max_tokens: int, what: str, on_bad_row: str,
                params: str) -> PromptFit:
    """The `problems` whose prompt fits `max_model_len`, as verl's `filter_overlong_prompts`, and the lines to say
    (`what` names the prompts in them, "training prompts"; `params` the setting that holds `max_tokens`,
    "sampler.params"). ConfigError, before anything is sampled, when `on_bad_row` is "fail" and one does not fit,
    when none fits, or for chat prompts on a tokenizer without a chat template (`sampling.prompts.without_overlong`)."""
    from rlvr.sampling.prompts import capped_completions, prompt_lengths, without_overlong

    try:
        lengths = prompt_lengths(tokenizer, problems)
        fitting, skipped = without_overlong(tokenizer, problems, max_model_len, what, on_bad_row, lengths)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    kept = [length for length in lengths if length < max_model_len]
    return PromptFit(fitting, skipped, capped_completions(kept, max_tokens, max_model_len, params))
