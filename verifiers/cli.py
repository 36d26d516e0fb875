"""`rlvr verify FILE.jsonl`: score a file of completions and print a summary by status.

Each line: {"completion": str, "reference": ..., "verifier": "math" (optional; or "task": "gsm8k"/"humaneval"/...)}.
A verifier written for verl also gets the line's "data_source" and "extra_info" (None and {} when it has none); one
written for TRL gets the line's "prompt" as `prompts` and its other keys (all but completion, verifier, task and
options) as the dataset columns it names, "reference" included.
Bad lines (not JSON, missing fields, unknown verifier or option) are reported, one line each with its line number
and the reason, and skipped.
Exit status: 0 if every line was scored, 1 if some lines were bad or every verdict is `error` (the verifier never
worked: a plug-in that always raises; the table still prints, then one line with the first reason), 2 if the file
cannot be read or has no line to score (empty, or every line bad: a run that scored nothing is not a success).
Lines are read by `rlvr.data.files.read_json_lines`, the reader of the dataset files (one home for line numbers
and for what counts as a bad line); this entry point is the only part of `verifiers/` that imports `data/`.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import sys

from pydantic import ValidationError
from rlvr.data.files import BadLine, read_json_lines
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.pool import VerifierPool
from rlvr.verifiers.registry import validate
from rlvr.verifiers.verdict import STATUSES

TASK_VERIFIER = {"gsm8k": "math", "math500": "math", "math": "math", "arith": "math", "humaneval": "code",
                 "mbpp": "code", "code": "code"}
_ROW_KEY = {"name": "verifier"}  # a VerifierSpec field -> the key of the row it came from


def _spec(row: dict) -> VerifierSpec:
    name = row.get("verifier") or TASK_VERIFIER.get(str(row.get("task", "")).lower())
    if not name:
        raise ValueError("no 'verifier' and no known 'task' (one of %s)" % sorted(TASK_VERIFIER))
    spec = VerifierSpec(name=name, options=row.get("options") or {})
    validate([spec])
    return spec


NOT_COLUMNS = ("completion", "verifier", "task", "options", "prompt")  # what a line holds that is not a row's column


def _context(row: dict) -> dict | None:
    """The row context a line gives a verl-style (data_source, extra_info) or TRL-style (prompt, columns) verifier."""
    context = {k: row[k] for k in ("data_source", "extra_info", "prompt") if k in row}
    columns = {k: v for k, v in row.items() if k not in NOT_COLUMNS}
    return {**context, "columns": columns} if columns else context or None


def _why(e: ValueError) -> str:
    """One line saying why a row was skipped. A pydantic ValidationError's first line is only "1 validation error
    for VerifierSpec": the reason (unknown verifier, import failure, unknown option) is in its items' `msg`."""
    if isinstance(e, ValidationError):
        parts = []
        for item in e.errors(include_url=False, include_input=False):
            msg = item["msg"].removeprefix("Value error, ")  # pydantic's wrapper around a validator's ValueError
            loc = ".".join(_ROW_KEY.get(str(x), str(x)) for x in item["loc"])
            parts.append(f"{loc}: {msg}" if loc else msg)
        text = "; ".join(parts)
    else:
        text = str(e)
    return " ".join(text.split())[:400]


def _load(path: str) -> tuple[list[tuple[int, tuple]], list[tuple[int, str]]]:
    """(line, job) for each good line and (line, why) for each bad one; lines are read as the datasets are."""
    jobs, bad = [], []
    for n, row in read_json_lines(path):
        try:
            if isinstance(row, BadLine):
                raise ValueError(row.reason)
            if not isinstance(row, dict) or not isinstance(row.get("completion"), str) or "reference" not in row:
                raise ValueError("needs a 'completion' string and a 'reference'")
            context = _context(row)
            jobs.append((n, (row["completion"], row["reference"], [_spec(row)], context or None)))
        except ValueError as e:  # pydantic's ValidationError is a ValueError
            bad.append((n, _why(e)))
    return jobs, bad


def _print_summary(jobs: list, results: list, bad: list, out) -> None:
    """A table of statuses per verifier, then the lines scored, the mean reward and the bad lines."""
    counts, total = collections.Counter(), 0.0
    for reward, verdicts in results:
        total += reward
        for key, v in verdicts.items():
            counts[(key, v.status)] += 1
    names = sorted({k for k, _ in counts})
    width = max([12] + [len(name) + 2 for name in names])  # a plug-in's import path can be long
    print(f"{'verifier':<{width}}" + "".join(f"{s:>10}" for s in STATUSES) + f"{'total':>8}", file=out)
    for name in names:
        row = [counts[(name, s)] for s in STATUSES]
        print(f"{name:<{width}}" + "".join(f"{c:>10}" for c in row) + f"{sum(row):>8}", file=out)
    print(f"scored {len(jobs)} lines, mean reward {total / len(jobs):.4f}, bad lines {len(bad)}", file=out)


def _every_verdict_an_error(jobs: list, results: list) -> str | None:
    """One line naming the first reason when every verdict is `error`, else None. A mean reward of 0.0000 then says
    nothing about the completions: the verifier never worked. Only `error`: a file of looping programs that all
    time out is a real result, and partial errors are counted in the table."""
    verdicts = [(n, key, v) for (n, _), (_, per_key) in zip(jobs, results) for key, v in per_key.items()]
    if not verdicts or any(v.status != "error" for _, _, v in verdicts):
        return None
    n, key, first = verdicts[0]
    reason = ": ".join(str(first.detail[k]) for k in ("rule", "error") if first.detail.get(k)) or "no reason given"
    reason = " ".join(reason.split())[:400]
    return f"every verdict is an error ({len(verdicts)} verdicts); the first, line {n}, verifier {key!r}: {reason}"


def _seconds(text: str) -> float:
    """`--timeout`: a finite number of seconds above 0, checked as `verify.timeout_s` is in a config. 0 or less timed
    out every line, nan made every verdict an error, inf is no deadline; now one argparse error (exit 2)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds above 0, got {text!r}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="rlvr verify", description=__doc__.splitlines()[0],
                                 epilog="exit status: 0 every line scored, 1 some lines bad (reported and skipped) "
                                        "or every verdict is an error (the first reason is printed), 2 the file "
                                        "cannot be read or has no line to score")
    ap.add_argument("file", help="JSONL with completion, reference and optional verifier/task per line")
    ap.add_argument("--workers", type=int, default=2, help="verification processes (default 2)")
    ap.add_argument("--timeout", type=_seconds, default=10.0,
                    help="hard per-call timeout in seconds (default 10); the code verifier's sandbox stops its program "
                         "0.5 s sooner, so that a verdict of its own ends the call")
    ap.add_argument("--out", help="write one JSON result per scored line here")
    args = ap.parse_args(argv)
    out = sys.stdout
    try:
        jobs, bad = _load(args.file)
    except OSError as e:
        print(f"rlvr: cannot read {args.file}: {e.strerror or e}", file=sys.stderr)
        return 2
    for n, msg in bad:
        print(f"line {n}: skipped: {msg}", file=sys.stderr)
    if not jobs:
        why = f"all {len(bad)} lines are bad" if bad else "it is empty (or holds blank lines only)"
        print(f"rlvr: nothing to score in {args.file}: {why}", file=sys.stderr)
        return 2
    plugins = [spec.name for _, job in jobs for spec in job[2]]  # imported as the workers start
    with VerifierPool(workers=args.workers, timeout_s=args.timeout, plugins=plugins) as pool:
        results = pool.map([job for _, job in jobs])
        for note in pool.notes:  # a plug-in slow or failing to import in the workers, workers that cannot start
            print(f"rlvr: {note}", file=sys.stderr)
    _print_summary(jobs, results, bad, out)
    broken = _every_verdict_an_error(jobs, results)
    if broken:
        print(f"rlvr: {broken}", file=sys.stderr)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            for (n, _), (reward, verdicts) in zip(jobs, results):
                f.write(json.dumps({"line": n, "reward": reward, "verdicts": {
                    k: {"reward": v.reward, "status": v.status, "detail": v.detail} for k, v in verdicts.items()}},
                    default=str) + "\n")
    return 1 if bad or broken else 0


if __name__ == "__main__":
    sys.exit(main())
