"""Whether a folder takes a new file, asked before the work that writes there (a run's checkpoints, an evaluation's
report), so that a folder that refuses it is one line naming the setting, not work lost at the end.

    if refusal := write_refusal(folder, make=True):   # the OSError met, or None
        raise BadInput(f"train.checkpoint.dir {run_dir}: cannot be written ({in_words(refusal)})")
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rlvr.trainers.unwritable import cannot_write


def write_refusal(folder: Path, make: bool = False) -> OSError | None:
    """The OSError met making a file in `folder` (after making `folder` and its missing parents, with `make`); None
    when it takes one (removed again). The write itself is the test: root passes a permission test (os.access) on a
    read-only mount or a `chattr +i` directory. An empty file needs no space: a full disk is found only by the
    writes themselves (`trainers.checkpoint.lost_to_unwritable_run_dir` says what a run lost to one)."""
    try:
        if make:
            folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".rlvr-write-check-"):
            pass
    except OSError as exc:
        return exc
    return None


def in_words(refusal: OSError) -> str:
    """Why the write was refused, in a few words: why the place takes no writes (`cannot_write`: a read-only file
    system, operation not permitted), else the OS's own text, lower-cased ("not a directory")."""
    return cannot_write(refusal) or (refusal.strerror or str(refusal)).lower()
