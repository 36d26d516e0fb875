"""Ending child processes for good: SIGKILL by pid and by process group, ignoring ones already gone."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable


def kill_quietly(pids: Iterable[int | None], group: int | None = None) -> None:
    """SIGKILL each pid, then the process group `group`; a process that is gone or not ours is skipped."""
    for pid in pids:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    if group:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def close_quietly(*files) -> None:
    for f in files:
        try:
            f.close()
        except OSError:
            pass
