"""A bound on the size of a Verdict's `detail`.

    cut_to_size(Verdict(1.0, "correct", {"rule": "r", "log": "x" * 20_000_000}))
    # -> Verdict(1.0, "correct", {"rule": "r", "log": '"xxx…', "detail_truncated": {...}})

Why: a detail crosses processes as a pickle (pool worker -> pool, Dask worker -> trainer), is kept in the verdict
cache, and is written whole into `rlvr verify --out` files and the run's logs. A plug-in that put 20 MB in it
(a whole program output, a model's full trace) slowed a training step from 1 s to 7 s. A detail whose JSON is over
`MAX_DETAIL_BYTES` is replaced, in the process that ran the verifier, by a cut form: every entry whose JSON is at most
`KEEP_CHARS` long is kept as it is (`rule`, counts, short strings: what metrics and reports read), each longer one
becomes the first `KEEP_CHARS` characters of its JSON, and `detail_truncated` says what was cut. Reward and status
are never changed.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

MAX_DETAIL_BYTES = 64 * 1024
KEEP_CHARS = 2000


def _json_size(value: Any) -> int:
    """Length of `value` as `rlvr verify --out` writes it (ASCII JSON, so characters are bytes)."""
    return len(json.dumps(value, default=str))


def cut_to_size(verdict: Any) -> Any | None:
    """The verdict with its detail cut to at most `MAX_DETAIL_BYTES` of JSON, or None when it fits (or cannot be
    measured as JSON: a cycle; it is then left as it is)."""
    try:
        size = _json_size(verdict.detail)
    except (ValueError, TypeError, RecursionError):
        return None
    if size <= MAX_DETAIL_BYTES:
        return None
    kept, cut = {}, []
    for key, value in verdict.detail.items():
        piece = json.dumps(value, default=str)
        if len(piece) <= KEEP_CHARS:
            kept[key] = value
        else:
            kept[key] = piece[:KEEP_CHARS] + "..."
            cut.append(str(key))
    note = {"json_bytes": size, "limit_bytes": MAX_DETAIL_BYTES, "cut_keys": cut[:50],
            "why": f"the verifier's detail was {size} bytes as JSON; entries over {KEEP_CHARS} characters of JSON "
                   f"were cut to their first {KEEP_CHARS}"}
    if _json_size(kept) + _json_size(note) > MAX_DETAIL_BYTES - 100:  # many small entries: keep the rule and a preview
        preview = json.dumps(verdict.detail, default=str)[:KEEP_CHARS] + "..."
        rule = verdict.detail.get("rule")
        kept = {**({"rule": rule} if isinstance(rule, str) and len(rule) <= KEEP_CHARS else {}), "preview": preview}
        note = {**note, "cut_keys": ["*"], "why": f"the verifier's detail was {size} bytes as JSON, in "
                f"{len(verdict.detail)} entries; only its rule and the first {KEEP_CHARS} characters are kept"}
    return dataclasses.replace(verdict, detail={**kept, "detail_truncated": note})
