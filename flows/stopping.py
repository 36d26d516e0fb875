"""Stopping a run: Ctrl-C or SIGTERM, to the process group or to the main process, ends it within seconds.

    install_stop_handlers()      # in the CLI, before any flow runs
    ...
    except KeyboardInterrupt as exc:   # Ctrl-C, or SIGTERM turned into Stopped
        end_stopped_run(exc, log_path)  # report the stop, end the log, stop the children, exit (no exit hooks)

SIGTERM raises `Stopped("SIGTERM")` in the main thread, as Ctrl-C raises KeyboardInterrupt, so the run
unwinds through its `finally` blocks: the trainer closes its sampler engine and verifier workers, the device
and run-directory holds are released. Unwinding can hang: after a Ctrl-C to the process group the embedded
Prefect server is already dead and Prefect retries its API calls for minutes. So the first signal also starts
a watchdog that stops every child process (the embedded Prefect server, the vLLM engine, the verifier workers
and their sandboxes) and exits, 2 s after the flow body has unwound (`note_unwound`) or after
`RLVR_STOP_GRACE_S` seconds (default 15) if it has not; a second signal does it at once. The holds need no
cleanup: they are OS locks that die with the process (flows/locks.py).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

from rlvr.flows.errors import SIGNAL_EXIT, Stopped, end_run_log, report_failure

_state = {"stopping": None, "announce": True}
_unwound = threading.Event()


def stop_children(wait_s: float = 3.0) -> int:
    """Terminate every descendant of this process, then kill those still alive after `wait_s`; how many."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(children, timeout=wait_s)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            pass
    return len(children)


def exit_now(code: int) -> None:
    """End a stopped run: stop every child, then exit without Python's exit hooks. Prefect's hooks would drain
    its log and event queues into an API server that is gone by then (the same Ctrl-C, or stop_children),
    retrying for minutes; the run has already unwound, released its holds and printed its closing line."""
    stop_children()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def end_stopped_run(exc: KeyboardInterrupt, log_path: Path | None, **report) -> NoReturn:
    """The end of a run that a signal stopped, once its body has unwound: the closing line and traceback
    (`report_failure`, given `report`'s keywords), the log file closed, then `exit_now` with the signal's code."""
    code = report_failure(exc, log_path, **report)
    end_run_log(log_path)
    exit_now(code)


def _force_exit(signal_name: str) -> None:
    stop_children(wait_s=2.0)
    if _state["announce"]:
        sys.stderr.write(f"rlvr: stopped by {signal_name}; the run can be resumed with the same command\n")
        sys.stderr.flush()
    os._exit(SIGNAL_EXIT.get(signal_name, 130))


def _on_signal(signum, _frame) -> None:
    name = signal.Signals(signum).name
    if _state["stopping"] is not None:  # a second signal: do not wait for the unwinding
        _force_exit(name)
    _state["stopping"] = name
    grace = float(os.environ.get("RLVR_STOP_GRACE_S", "15"))
    threading.Thread(target=_watchdog, args=(name, grace), daemon=True, name="rlvr-stop-watchdog").start()
    raise Stopped(name)


def _watchdog(signal_name: str, grace: float) -> None:
    """Exit `grace` seconds after the signal, or 2 s after the flow has unwound (its holds released, its trainer
    closed): what is left then is Prefect reporting the crash, to a server that may be dead."""
    if _unwound.wait(grace):
        time.sleep(2.0)
    _force_exit(signal_name)


def note_unwound() -> None:
    """Called by a flow whose body a stop signal has left: nothing of the run is left to clean up."""
    _unwound.set()


def install_stop_handlers(announce: bool = True):
    """SIGINT and SIGTERM -> `Stopped` in the main thread, plus the watchdog (call from the main thread).
    `announce=False`: the watchdog exits without its closing line (a rank of a multi-process job other than
    rank 0, which says it for the job). Returns a function that puts the previous handlers back."""
    _state["announce"] = announce
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def stopping() -> str | None:
    """The name of the signal that is stopping this process, or None."""
    return _state["stopping"]
