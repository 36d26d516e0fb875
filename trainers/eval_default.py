"""The final evaluation a run gets when its config names no `eval.tasks`: the training task's own held-out split.

| training task | default eval suite |
|---|---|
| arith, code (synthetic) | the same task, level and seed, split test (disjoint from train by construction) |
| gsm8k, mbpp | split test of the same source (a hub id or folder; a file: the `test` file beside it) |
| math500, humaneval | none: they are test sets only, so a run on them trains on its test set |
| qa | the `test` file beside the source file, or in the source folder |

Each suite keeps the training task's settings (columns, template, few-shot, verifier, ...) and scores at most
`DEFAULT_LIMIT` problems: a quick held-out check at the end of every run; name the whole split in `eval.tasks` for a
report. Where there is nothing held out (a run on a test split, a qa file with no test file beside it, a qa hub
dataset, which is not looked up from here) the run has no final evaluation, and `why_none` says so with how to
name one. Before, the default was arith's test split whatever the run trained on, and it chose the best checkpoint.
"""

from __future__ import annotations

import re
from pathlib import Path

from rlvr.data.config import TaskConfig
from rlvr.data.files import split_files

DEFAULT_LIMIT = 100
_NAMED_TEST = re.compile(r"^test([._-]|$)", re.IGNORECASE)


def held_out_suite(task: TaskConfig) -> tuple[TaskConfig | None, str]:
    """The eval suite of the training `task`'s held-out test split, and ""; or None and why there is none."""
    if task.split == "test":
        return None, f"task {task.name} trains on its test split"
    if task.name in ("math500", "humaneval"):
        return None, f"task {task.name} is a test set only"
    source = task.source
    if task.name == "qa" or (task.name == "gsm8k" and _local(source)):  # the test file beside the training data
        if not _local(source):
            return None, f"the held-out split of hub dataset {source} is not looked up (task qa)"
        source, why = _test_files_beside(Path(source).expanduser())
        if source is None:
            return None, why
    # else arith, code, mbpp, gsm8k from the hub: the task itself draws its test split from the same source
    suite = task.model_copy(update={"split": "test", "source": source, "limit": DEFAULT_LIMIT, "suite": None})
    return suite, ""


def why_none(task: TaskConfig, reason: str) -> str:
    """The line a run without a default final evaluation says: why, and how to name one."""
    example = "{name: qa, source: /path/to/test.jsonl}" if task.name == "qa" else "{name: gsm8k, split: test}"
    return f"no final evaluation by default: {reason}; name a held-out set in eval.tasks, e.g. eval.tasks=[{example}]"


def _local(source: str | None) -> bool:
    return source is not None and Path(source).expanduser().exists()


def _test_files_beside(source: Path) -> tuple[str | None, str]:
    """Where a local source keeps its test split: for a file, the `test` file(s) in its folder (that folder only);
    for a folder, its own `test` files (found as the loader finds them). None, and why, when it has none."""
    folder = source if source.is_dir() else source.parent
    try:
        found = split_files(folder, "test", recursive=source.is_dir())
    except ValueError:  # NoSplitFile, or test files in several folders or formats
        return None, f"{folder} holds no test file (test.jsonl, test.parquet, test-00000-of-00001.parquet, ...)"
    if not all(_NAMED_TEST.match(p.name) for p in found):  # the folder's lone data file, standing for any split
        return None, f"{folder} holds no test file apart from the training data"
    if source.resolve() in {p.resolve() for p in found}:
        return None, f"task qa trains on the test file {source}"
    return str(source if source.is_dir() or len(found) > 1 else found[0]), ""
