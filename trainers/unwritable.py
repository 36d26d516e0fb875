"""Why a write failed, in words, when the place takes no writes: a read-only file system, no permission, a full disk.

    cannot_write(exc, folder) -> "the disk is full (3.2 MB free)" | "a read-only file system" | ... | None

Used by the checkpoint writer (trainers/checkpoint.lost_to_unwritable_run_dir: which steps a run lost), the run
directory's write probe (flows/writable.py) and the evaluation report's (flows/eval_files.py). No torch here: an
`rlvr` command checks its run directory before it loads anything heavy, so its refusal comes in a second or two.
"""

from __future__ import annotations

import errno
import re
import shutil
import sys
from pathlib import Path

# Why a place takes no write, by errno; the fix differs: permissions for the first, space for the second.
REFUSED = {errno.EROFS: "a read-only file system", errno.EACCES: "permission denied",
           errno.EPERM: "operation not permitted"}
FULL = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up"}
LOW_SPACE_MB = 64  # below this, a write error without an errno is taken for a full disk


def cannot_write(exc: BaseException, folder: str | Path | None = None) -> str | None:
    """Why a write failed, in words, when the reason is that the place cannot be written to; else None. Given the
    `folder` written into, a full disk says how much is free, and an error without an errno counts as a full disk
    when less than LOW_SPACE_MB is free: torch's zip writer says only `unexpected pos ...` when it runs out of space."""
    code = errno_of(exc)
    if code in REFUSED or folder is None:
        return REFUSED.get(code) or FULL.get(code)
    if code in FULL:
        return f"{FULL[code]} ({free_mb(Path(folder)):.1f} MB free)"
    if code is None and (free := free_mb(Path(folder))) < LOW_SPACE_MB:
        return f"the disk is full ({free:.1f} MB free; {type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
    return None


def errno_of(exc: BaseException) -> int | None:
    """An OSError's errno, or the one a SafetensorError's text ends in (Rust's `... (os error 28)`). A
    SafetensorError exists only once safetensors is loaded, so it is looked up then (no import here)."""
    if isinstance(exc, OSError):
        return exc.errno
    safetensors = sys.modules.get("safetensors")
    if safetensors is None or not isinstance(exc, safetensors.SafetensorError):
        return None
    found = re.search(r"\(os error (\d+)\)", str(exc))
    return int(found.group(1)) if found else None


def nearest_existing(folder: Path) -> Path:
    """`folder`, or its nearest parent that exists (where a write making `folder` would land)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def free_mb(folder: Path) -> float:
    """Free space on the disk of `folder` (of its nearest existing parent, for a directory not made yet)."""
    return shutil.disk_usage(nearest_existing(folder)).free / 2**20
