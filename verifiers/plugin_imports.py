"""Plug-in verifiers (`pkg.mod:fn`, or a file `path/file.py:fn`) imported by each pool worker as it starts, and what
the pool says about it.

    warm_up(True, ("my_rewards:score",))   # in the worker, before it says ready -> {"my_rewards:score": {...}}
    warm_note_lines(worker.warm_note)      # in the pool's process: [(key, line)], one per verifier and problem

Why: a plug-in was imported by the worker's first task, inside that task's deadline. A module that took 8 s to
import (a model, a tokenizer, a big table) with `verify.timeout_s: 5` made every completion `timeout`: each killed
worker was replaced, and its replacement imported again inside the next deadline. Now the import is part of the
worker's start-up (bounded by the pool's start-up timeout, not a completion's deadline); a slow one or one that
fails only in the worker is said once, in one line.
"""

from __future__ import annotations

import time

from rlvr.verifiers.registry import VERIFIERS, resolve

SLOW_IMPORT_S = 2.0  # a replaced worker (after a timeout or a crash) takes no task for this long: worth a line


def plugin_names(names) -> tuple[str, ...]:
    """The plug-in verifiers among `names` (import paths, files), sorted; the built-ins come with the pool's module."""
    return tuple(sorted({n for n in names if n not in VERIFIERS}))


def warm_up(math: bool, plugins: tuple[str, ...]) -> dict[str, dict]:
    """In a starting worker: warm the math grader if asked, import each plug-in; {name: {seconds, error}}."""
    if math:
        from rlvr.verifiers.math_grade import warm_up as warm_math

        warm_math()
    report = {}
    for name in plugins:
        started, error = time.monotonic(), None
        try:
            resolve(name)
        except ValueError as e:  # resolve names the verifier and the import's error (SystemExit included)
            error = " ".join(str(e).split())[:400]
        report[name] = {"seconds": round(time.monotonic() - started, 2), "error": error}
    return report


def warm_note_lines(note: dict | None) -> list[tuple[tuple, str]]:
    """What a worker's warm-up found worth saying: (key, line) per verifier that failed or was slow to import; the
    pool says each key once."""
    lines = []
    for name, got in (note or {}).items():
        if got.get("error"):
            key, line = (name, "error"), (
                f"verifier {name!r} cannot be imported in the verification workers (this process could): "
                f"{got['error']}; its verdicts are errors")
        elif got.get("seconds", 0) > SLOW_IMPORT_S:
            key, line = (name, "slow"), (
                f"verifier {name!r} took {got['seconds']:.1f} s to import in a verification worker; that is done as "
                f"the worker starts, outside any completion's deadline, but a worker replaced after a timeout or a "
                f"crash takes no task for that long")
        else:
            continue
        lines.append((key, line))
    return lines
