"""An evaluation report on disk: written atomically with its samples beside it, what a report about to be replaced
held, and whether the folder it goes to takes it at all (asked before the evaluation, not after its work).

    check_report_writable(path)              # BadInput before the device is taken
    write_report(report, path)               # <name>.json, and <name>.samples.jsonl when it carries samples
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rlvr.flows.errors import BadInput
from rlvr.flows.writable import in_words, write_refusal
from rlvr.trainers.unwritable import nearest_existing


def samples_path(report_path: str | Path) -> Path:
    """Where a report's per-problem samples go: `eval.json` -> `eval.samples.jsonl`."""
    report_path = Path(report_path)
    return report_path.with_name(report_path.name.removesuffix(".json") + ".samples.jsonl")


def replaced_report(path: str | Path) -> str | None:
    """What an evaluation about to be written at `path` replaces, in words (None when there is no report): a second
    `rlvr eval` of a checkpoint with the same settings overwrote the first one's report without a word."""
    try:
        old = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return (f"replacing the earlier report {path} (written {old.get('created', '?')}, score {old.get('score')}, "
            f"n={old.get('n')}, suites {', '.join(old.get('suites', {})) or '?'})")


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    """Write the JSON report atomically (temp file + rename). Its per-problem samples, if it carries them, go to
    `<name>.samples.jsonl` beside it (one line per problem: prompt, reference, each completion with its status,
    answer, verdict rule and finish reason), which the report names as `samples_file`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    report = dict(report)
    if samples := report.pop("samples", None):
        lines = samples_path(path)
        tmp = lines.with_name(f".{lines.name}.tmp")
        tmp.write_text("".join(json.dumps(row, default=str) + "\n" for row in samples))
        os.replace(tmp, lines)
        report["samples_file"] = lines.name
    else:  # an earlier evaluation's samples would sit beside a report they do not belong to
        samples_path(path).unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str))
    os.replace(tmp, path)
    return path.resolve()


def check_report_writable(path: Path) -> None:
    """BadInput when the report cannot be written where it goes (a read-only checkpoint folder, say), found before
    the evaluation runs rather than after it, when its work would be lost."""
    folder = nearest_existing(path.parent)  # written with its missing folders: the first existing one must take them
    if refusal := write_refusal(folder):
        raise BadInput(f"the report cannot be written to {path} ({in_words(refusal)} in {folder}): evaluate a copy "
                       "of the checkpoint in a writable place") from refusal
