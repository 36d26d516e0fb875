"""Stopping a run: Ctrl-C or SIGTERM, to the process group or to the main process, ends it within seconds.

    install_stop_handlers()      # in the CLI, before any flow runs
    ...
    stop_children()              # on the way out of a stopped run

SIGTERM raises `Stopped("SIGTERM")` in the main thread, as Ctrl-C raises KeyboardInterrupt, so the run
unwinds through its `finally` blocks: the trainer closes its sampler engine and verifier workers, the device
and run-directory holds are released. Unwinding can hang: after a Ctrl-C to the process group the embedded
Prefect server is already dead and Prefect retries its API calls for minutes. So the first signal also starts
a watchdog that, after `RLVR_STOP_GRACE_S` seconds (default 15), stops every child process (the embedded
Prefect server, the vLLM engine, the verifier workers and their sandboxes) and exits; a second signal does it
at once. The holds need no cleanup: they are OS locks that die with the process (flows/locks.py).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from rlvr.flows.errors import SIGNAL_EXIT, Stopped

_state = {"stopping": None}


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


def _force_exit(signal_name: str) -> None:
    stop_children(wait_s=2.0)
    sys.stderr.write(f"rlvr: stopped by {signal_name}; the run can be resumed with the same command\n")
    sys.stderr.flush()
    os._exit(SIGNAL_EXIT.get(signal_name, 130))


def _on_signal(signum, _frame) -> None:
    name = signal.Signals(signum).name
    if _state["stopping"] is not None:  # a second signal: do not wait for the unwinding
        _force_exit(name)
    _state["stopping"] = name
    grace = float(os.environ.get("RLVR_STOP_GRACE_S", "15"))
    watchdog = threading.Timer(grace, _force_exit, args=(name,))
    watchdog.daemon = True
    watchdog.start()
    raise Stopped(name)


def install_stop_handlers():
    """SIGINT and SIGTERM -> `Stopped` in the main thread, plus the watchdog (call from the main thread).
    Returns a function that puts the previous handlers back."""
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def stopping() -> str | None:
    """The name of the signal that is stopping this process, or None."""
    return _state["stopping"]
