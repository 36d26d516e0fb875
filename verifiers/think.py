"""The part of a completion that can hold its answer, around a reasoning trace (`<think>...</think>`): one reading
for the math and the code verifier.

    after_think(text) -> (the answer part, or None when there is none; where it was read)

- After the last `</think>` when text follows it: the trace is scratch work, not the answer, so a draft in it, right
  or wrong, is not graded.
- A `<think>` that never closes (the last one that starts a line comes after the last `</think>`, or there is no
  `</think>`) is a trace cut at the token limit: it has no answer (None), as vLLM's reasoning parsers (deepseek_r1,
  qwen3 in current vLLM) give such an output no content. `read_unclosed=True` (the verifiers' option
  `read_unclosed_think`) reads it whole instead, as both verifiers did before. A trace opened again after an answer
  and cut is unclosed too: the model was revising that answer.
- A trace that closes with nothing after it (`<think>...</think>`, or only `...</think>` when the opening tag was in
  the prompt) has no answer either (None): the answer comes after `</think>`, and vLLM's reasoning parsers give such
  an output no content, so what a user of the served model reads is empty. A draft left in the trace is scratch
  work, as it is when text follows. `read_unclosed=True` reads it whole too.
- Otherwise the text is read whole: no trace at all, or a trace whose `<think>` was in the prompt (R1-distill) and
  that never closed, which nothing in the text tells from an answer.
An opening tag inside a sentence (`I will skip the <think> step`) is not a trace: it must start a line. Where a tag
is markup is the caller's `tags` (the code verifier does not take one inside a fenced block for one; the math
verifier has removed code blocks before).
"""

from __future__ import annotations

from typing import Callable

OPEN, CLOSE = "<think>", "</think>"
UNCLOSED, NOTHING_AFTER = "unclosed <think>", "nothing after </think>"  # where no answer was read
NO_ANSWER_RULE = {UNCLOSED: "unclosed_think", NOTHING_AFTER: "nothing_after_think"}  # the verdicts' rule for each


def _everywhere(text: str, tag: str) -> list[int]:
    out, i = [], text.find(tag)
    while i >= 0:
        out.append(i)
        i = text.find(tag, i + len(tag))
    return out


def after_think(text: str, read_unclosed: bool = False,
                tags: Callable[[str, str], list[int]] = _everywhere) -> tuple[str | None, str]:
    """(the answer part of `text`, or None for a trace without an answer after it; "after </think>", "unclosed
    <think>", "nothing after </think>" or "completion"), by the module docstring's rules. `tags(text, tag)`: where
    `tag` stands as markup, in order."""
    closes = tags(text, CLOSE)
    opens = [i for i in tags(text, OPEN) if not text[text.rfind("\n", 0, i) + 1:i].strip()]
    if not read_unclosed and opens and (not closes or opens[-1] > closes[-1]):
        return None, UNCLOSED
    if closes and text[closes[-1] + len(CLOSE):].strip():
        return text[closes[-1] + len(CLOSE):], "after </think>"
    if closes and not read_unclosed:
        return None, NOTHING_AFTER
    return text, "completion"
