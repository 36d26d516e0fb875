"""Holds that die with their holder: one run per device, one writer per run directory.

    with device_hold("cpu", slots=1, timeout=None, log=print):    # waits while another run holds the device
        ...train or evaluate...
    with run_dir_lock("runs/arith-grpo"):                          # fails at once if another run writes there
        ...

Both are OS file locks (`fcntl.flock`). The kernel drops a flock when the last descriptor of the lock
file closes, which happens however its holder dies (exit, Ctrl-C, SIGKILL, an OOM kill), so a killed run
never leaves a slot held; a reboot leaves nothing at all. (The Prefect global concurrency limit used
before kept a SIGKILLed holder's slot until reset by hand.) Processes forked without exec while a hold is
taken (multiprocessing workers) close their inherited copy at once, so a lingering child cannot keep a
dead run's hold; exec'd children never inherit it (Python opens files non-inheritable).

Each lock file also holds a one-line JSON record of its holder (pid, command, since), read by whoever
waits or is refused, so the user sees who holds what; a flow run that Prefect started in a process of its own
(served, or by a worker) is named as such (`holder_name`), not by that process's command line, `engine.py`.
Device locks live in `$RLVR_LOCK_DIR` (default: `<RLVR_CACHE>/locks`), one file per device slot: `cuda-0.0.lock`,
`cpu.0.lock`, `cpu.1.lock`.
Sharing a device between two runs = two slots (`--device-slots 2`, or `RLVR_DEVICE_SLOTS=2`). A torchrun job
(flows/launch.py) holds one slot per GPU rank, and one `cpu` slot per machine for all its CPU ranks.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

RUN_LOCK_FILE = ".rlvr-run.lock"
_HELD_FDS: set[int] = set()


class LockBusy(RuntimeError):
    """A device or run directory is held by another run (the message names the holder)."""


def _close_inherited() -> None:
    """In a forked child: drop the inherited descriptors (never unlock: that would release the parent's hold)."""
    for fd in list(_HELD_FDS):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_FDS.clear()


os.register_at_fork(after_in_child=_close_inherited)


def lock_dir() -> Path:
    if os.environ.get("RLVR_LOCK_DIR"):
        return Path(os.environ["RLVR_LOCK_DIR"])
    cache = os.environ.get("RLVR_CACHE") or Path.home() / ".cache" / "rlvr"
    return Path(cache) / "locks"


def device_key(device: str) -> str:
    """A file-name-safe name per physical device: 'cuda' and 'cuda:0' are the same device."""
    device = device.strip().lower()
    if device == "cuda":
        device = "cuda:0"
    return re.sub(r"[^a-z0-9]+", "-", device).strip("-") or "device"


def default_slots() -> int:
    return max(1, int(os.environ.get("RLVR_DEVICE_SLOTS", "1")))


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding the exclusive flock of `path`, or None if someone else holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    _HELD_FDS.add(fd)
    record = {"pid": os.getpid(), "command": holder_name(), "since": datetime.now(UTC).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    return fd


def holder_name() -> str:
    """This process as a lock record names it: its command line, or, in a process that Prefect started for one
    flow run (`rlvr serve`'s runner, a worker: its command line is Prefect's `engine.py`), that flow run:
    "flow run 'burgundy-turkey' of train/arith-grpo"."""
    if os.environ.get("PREFECT__FLOW_RUN_ID"):  # set by Prefect's runner and workers for the process they start
        from prefect.context import FlowRunContext

        context = FlowRunContext.get()
        if context is not None and context.flow_run is not None:
            deployment = os.environ.get("PREFECT__DEPLOYMENT_NAME")
            flow = context.flow.name if context.flow is not None else "?"
            of = f"{flow}/{deployment}" if deployment else f"flow {flow}"
            return f"flow run '{context.flow_run.name}' of {of}"
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300]


def _release(fd: int) -> None:
    _HELD_FDS.discard(fd)
    try:
        os.ftruncate(fd, 0)  # no stale record for the next reader
    finally:
        os.close(fd)  # closing the last descriptor drops the flock


def holder(path: Path) -> str:
    """'pid 123 (rlvr train -c x.yaml) since 2026-12-04T14:02:11+00:00', or 'an unknown process'."""
    try:
        record = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict):
        return "an unknown process"
    return f"pid {record.get('pid')} ({record.get('command')}) since {record.get('since')}"


@contextmanager
def device_hold(device: str = "cpu", slots: int | None = None, timeout: float | None = None, log=print,
                poll_s: float = 0.5, remind_s: float = 60.0) -> Iterator[Path]:
    """Hold one of `slots` slots of `device` for the block; wait (up to `timeout` seconds, None = no limit)
    while all are held, naming their holders when the wait starts and every `remind_s` seconds."""
    slots = slots or default_slots()
    key = device_key(device)
    files = [lock_dir() / f"{key}.{i}.lock" for i in range(slots)]
    started = time.monotonic()
    last_said = None
    while True:
        for index, path in enumerate(files):
            fd = _try_lock(path)
            if fd is not None:
                if last_said is not None:
                    log(f"device {device} is free after {time.monotonic() - started:.0f} s of waiting")
                log(f"holding device {device} (slot {index + 1} of {slots}, {path})")
                try:
                    yield path
                finally:
                    _release(fd)
                return
        waited = time.monotonic() - started
        holders = "; ".join(holder(p) for p in files)
        if timeout is not None and waited >= timeout:
            raise LockBusy(f"device {device} still held after waiting {timeout:g} s, by {holders}")
        if last_said is None or time.monotonic() - last_said >= remind_s:
            log(f"waiting for device {device}: held by {holders}")
            last_said = time.monotonic()
        time.sleep(poll_s)


@contextmanager
def run_dir_lock(run_dir: str | Path) -> Iterator[Path]:
    """Be the only writer of `run_dir` for the block; LockBusy at once if another run holds it."""
    path = Path(run_dir) / RUN_LOCK_FILE
    fd = _try_lock(path)
    if fd is None:
        raise LockBusy(f"run directory {run_dir} is in use by {holder(path)}; wait for it to finish or choose "
                       "another train.checkpoint.dir")
    try:
        yield path
    finally:
        _release(fd)
