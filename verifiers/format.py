"""Format verifier: does the completion have the expected shape? The reference is ignored.

    verify(completion, None, FormatOptions(kind="boxed"))

Kinds: `boxed` (exactly one \\boxed{}/\\fbox{}), `code_block` (exactly one fenced ``` block, closed),
`think` (one <think>...</think> followed by a non-empty answer), `regex` (`pattern` matches the whole completion;
the pattern comes from the config, which is trusted). correct = 1.0 / wrong = 0.0; no_answer for empty text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rlvr.verifiers.math_answer import boxed_all
from rlvr.verifiers.verdict import Verdict

VERSION = "1"
_FENCE_LINE = re.compile(r"^[ \t]*```", re.M)


@dataclass(frozen=True)
class FormatOptions:
    kind: Literal["boxed", "code_block", "think", "regex"] = "boxed"
    pattern: str = ""  # for kind="regex"


def _boxed(text: str, _o: FormatOptions) -> tuple[bool, dict]:
    n = len(boxed_all(text))
    return n == 1, {"boxes": n}


def _code_block(text: str, _o: FormatOptions) -> tuple[bool, dict]:
    fences = len(_FENCE_LINE.findall(text))
    return fences == 2, {"fence_lines": fences}


def _think(text: str, _o: FormatOptions) -> tuple[bool, dict]:
    opens, closes = text.count("<think>"), text.count("</think>")
    answer = text.rsplit("</think>", 1)[-1].strip() if closes else ""
    ok = opens == 1 and closes == 1 and text.index("<think>") < text.index("</think>") and bool(answer)
    return ok, {"think_tags": [opens, closes], "answer_chars": len(answer)}


def _regex(text: str, o: FormatOptions) -> tuple[bool, dict]:
    return re.fullmatch(o.pattern, text, re.S) is not None, {"pattern": o.pattern}


_KINDS = {"boxed": _boxed, "code_block": _code_block, "think": _think, "regex": _regex}


def verify(completion: str, reference=None, options: FormatOptions | None = None) -> Verdict:
    opts = options or FormatOptions()
    check = _KINDS.get(opts.kind)
    if check is None:
        return Verdict(0.0, "error", {"rule": "unknown_kind", "kind": opts.kind, "allowed": sorted(_KINDS)})
    if not isinstance(completion, str) or not completion.strip():
        return Verdict(0.0, "no_answer", {"rule": opts.kind, "error": "empty completion"})
    try:
        ok, detail = check(completion, opts)
    except re.error as e:
        return Verdict(0.0, "error", {"rule": opts.kind, "error": f"bad pattern: {e}"})
    return Verdict(float(ok), "correct" if ok else "wrong", {"rule": opts.kind, **detail})
