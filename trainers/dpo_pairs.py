"""Preference pairs from a JSONL file (`train.dpo.pairs_path`), in the layouts preference datasets come in.

One JSON object per line, in any of these forms (the layouts of TRL's preference datasets, so a file prepared for
its `DPOTrainer` reads here unchanged -- except plain-text rows without a prompt, whose prompt TRL cuts at the
first differing character; here such a row is refused with its line number):
- explicit prompt, text:          {"prompt": "...", "chosen": "...", "rejected": "..."}
- explicit prompt, conversation:  {"prompt": [messages], "chosen": [one assistant message], "rejected": [...]}
  (chosen / rejected may also be plain text after a messages prompt)
- implicit prompt:                {"chosen": [messages], "rejected": [messages]}: the prompt is the messages both
  conversations share from the start, and each must then end in exactly one assistant message.
A message is {"role": str, "content": str}. A prompt given as messages goes through the tokenizer's chat template
(generation prompt added); each response is its text plus the EOS token (trainers/sft.py: `encode_example`).
A line that fits none of these is a ValueError naming the file and line, before anything is tokenised.
"""

from __future__ import annotations

import json
from pathlib import Path

from rlvr.trainers.sft import SFTExample, encode_example, encode_response

Pair = tuple[list[int], list[int], list[int]]  # (prompt_ids, chosen_ids, rejected_ids)
Messages = list[dict]


def read_pair_rows(path: str | Path) -> list[tuple[str | Messages, str, str]]:
    """(prompt, chosen text, rejected text) of each non-blank line of a pairs file."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a BOM at the start is dropped
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); a pairs file is JSON Lines, one "
                         "{prompt, chosen, rejected} object per line (convert a parquet file with pandas' "
                         "to_json(orient='records', lines=True))") from None
    rows, bad = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(_pair_of_line(line))
        except ValueError as exc:  # every bad line is found in one read, the first named in full
            bad.append((number, str(exc)))
    if bad:
        (first, why), rest = bad[0], bad[1:]
        more = "; ".join(f"line {n}: {w}" for n, w in rest[:3]) + ("; ..." if len(rest) > 3 else "")
        raise ValueError(f"{path}:{first}: {why}" + (f" (and {len(rest)} more bad line(s): {more})" if rest else ""))
    if not rows:
        raise ValueError(f"{path} holds no preference pairs")
    return rows


def _pair_of_line(line: str) -> tuple[str | Messages, str, str]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(row, dict) or "chosen" not in row or "rejected" not in row:
        raise ValueError("expected a JSON object with chosen and rejected (and a prompt, or conversations that start "
                         "with it)")
    return _pair(row)


def read_pairs_file(path: str | Path, tokenizer) -> list[Pair]:
    """The pairs of `read_pair_rows`, tokenised."""
    pairs = []
    for prompt, chosen, rejected in read_pair_rows(path):
        prompt_ids, chosen_ids = encode_example(tokenizer, SFTExample(prompt, chosen))  # the prompt once
        rejected_ids = encode_response(tokenizer, rejected)
        pairs.append((prompt_ids, chosen_ids, rejected_ids))
    return pairs


def _pair(row: dict) -> tuple[str | Messages, str, str]:
    chosen, rejected = row["chosen"], row["rejected"]
    if "prompt" not in row:  # implicit: the shared start of two conversations
        if not (_is_messages(chosen) and _is_messages(rejected)):
            raise ValueError("without a prompt, chosen and rejected must be conversations (lists of messages)")
        shared = 0
        while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
            shared += 1
        if shared == 0:
            raise ValueError("chosen and rejected share no messages at the start, so there is no prompt")
        prompt, chosen, rejected = chosen[:shared], chosen[shared:], rejected[shared:]
    else:
        prompt = row["prompt"]
        if not (isinstance(prompt, str) or (_is_messages(prompt) and prompt)):
            raise ValueError("prompt must be text or a list of messages")
    return prompt, _response(chosen, "chosen"), _response(rejected, "rejected")


def _response(value, name: str) -> str:
    if isinstance(value, str):
        return value
    if _is_messages(value) and len(value) == 1 and value[0]["role"] == "assistant":
        return value[0]["content"]
    raise ValueError(f"{name} must be text or one assistant message after the prompt")


def _is_messages(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value)
