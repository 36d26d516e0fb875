"""Stopping a run: Ctrl-C or SIGTERM, to the process group or to the main process, ends it within seconds.

    install_stop_handlers()      # in the CLI, before any flow runs
    ...
    except KeyboardInterrupt as exc:   # Ctrl-C, or SIGTERM turned into Stopped
        end_stopped_run(exc, log_path)  # report the stop, end the log, stop the children, exit (no exit hooks)

SIGTERM raises `Stopped("SIGTERM")` in the main thread, as Ctrl-C raises KeyboardInterrupt, so the run
unwinds through its `finally` blocks; on the way the training flows checkpoint the last completed step
(`save_at_stop`; the watchdog waits for that, up to `RLVR_STOP_SAVE_S`, default 120 s), then the trainer closes its sampler engine and verifier workers, the device
and run-directory holds are released. Unwinding can hang: after a Ctrl-C to the process group the embedded
Prefect server is already dead and Prefect retries its API calls for minutes. So the first signal also starts
a watchdog that stops every child process (the embedded Prefect server, the vLLM engine, the verifier workers
and their sandboxes) and exits, 2 s after the flow body has unwound (`note_unwound`) or after
`RLVR_STOP_GRACE_S` seconds (default 15) if it has not; a second signal does it at once. The holds need no
cleanup: they are OS locks that die with the process (flows/locks.py).

`rlvr serve` runs each flow run in a process of its own (Prefect's runner starts `python -m prefect.engine`),
so its stop is in two parts: the serving process waits for its flow runs instead of raising into Prefect's
event loop (`stop_calls`), and each flow-run process ignores SIGINT and stops on serve's SIGTERM, Prefect's own
stop of a flow run (`stop_as_served_run`), ignoring a second one once it saves; docs/scaleout.md ("Serving from one
machine").
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from rlvr.flows.errors import SIGNAL_EXIT, Stopped, end_run_log, report_failure

_state = {"stopping": None, "announce": True, "hold_until": 0.0, "resume_note": "", "log_path": None,
          "deferred": False, "on_stop": None, "served_record": None}
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
    if _state["resume_note"]:
        exc.resume_note = _state["resume_note"]
    code = report_failure(exc, log_path, **report)
    end_run_log(log_path)
    exit_now(code)


def _force_exit(signal_name: str) -> None:
    stop_children(wait_s=2.0)
    if _state["announce"]:  # the closing line end_stopped_run would have printed
        resume = _state["resume_note"] or "the run can be resumed with the same command"
        log_path = _state["log_path"]
        where = f" (full log: {log_path})" if log_path is not None and Path(log_path).exists() else ""
        sys.stderr.write(f"rlvr: stopped by {signal_name}; {resume}{where}\n")
        sys.stderr.flush()
    os._exit(SIGNAL_EXIT.get(signal_name, 130))


def _on_signal(signum, _frame) -> None:
    name = signal.Signals(signum).name
    if _state["stopping"] is not None:  # a second signal: do not wait for the unwinding
        _force_exit(name)
    _state["stopping"] = name
    grace = float(os.environ.get("RLVR_STOP_GRACE_S", "15"))
    threading.Thread(target=_watchdog, args=(name, grace), daemon=True, name="rlvr-stop-watchdog").start()
    if _state["on_stop"] is not None:
        threading.Thread(target=_state["on_stop"], args=(name,), daemon=True, name="rlvr-stop").start()
    elif not _state["deferred"]:
        raise Stopped(name)


def _watchdog(signal_name: str, grace: float) -> None:
    """Exit `grace` seconds after the signal (later while `exit_held`), or 2 s after the flow has unwound (its
    holds released, its trainer closed): what is left then is Prefect reporting the crash, to a server that may
    be dead."""
    deadline = time.monotonic() + grace
    while not _unwound.wait(0.1):
        if time.monotonic() >= max(deadline, _state["hold_until"]):
            _force_exit(signal_name)
    time.sleep(2.0)
    _force_exit(signal_name)


@contextmanager
def exit_held(max_s: float):
    """The watchdog does not end the process inside this block (for at most `max_s` seconds): a checkpoint is
    being written. A second signal still ends it at once (the checkpoint is written atomically: nothing half)."""
    _state["hold_until"] = time.monotonic() + max_s
    try:
        yield
    finally:
        _state["hold_until"] = 0.0


def save_at_stop(stop: BaseException, trainer) -> str:
    """Checkpoint the trainer's last completed step (`Trainer.save_stopped`) and put where the run resumes into
    the stop's closing line (`stop.resume_note`, read by flows/errors.report_failure); returns that note. `stop`
    may be another end of the run that keeps the finished steps (a lost peer rank, flows/launch.py)."""
    from rlvr.trainers.checkpoint import CheckpointError

    if _state["served_record"] is not None:  # no second SIGTERM cuts the save (nor the crash report after it)
        signal.signal(signal.SIGTERM, _ignore_signal)  # Prefect's engine sets its default back before it exits
    with exit_held(float(os.environ.get("RLVR_STOP_SAVE_S", "120"))):
        try:
            note = trainer.save_stopped()
        except CheckpointError as exc:  # its own sentence already names the steps lost and where the run resumes
            note = str(exc)
        except Exception as exc:  # noqa: BLE001 - the stop still ends in its own line, naming what failed
            note = (f"the checkpoint at the stop failed ({type(exc).__name__}: {exc}); the same command resumes "
                    "from the newest checkpoint")
        _state["resume_note"] = stop.resume_note = note
    _record_served_stop()
    return note


def note_resume(note: str) -> None:
    """What a stop from now on says instead of "the run can be resumed with the same command" (e.g. that training
    had finished before it, flows/launch.py)."""
    _state["resume_note"] = note


@contextmanager
def stop_says(note: str):
    """Inside this block a stop's closing line says `note` (as `note_resume`); a block left otherwise (done, or
    failed) puts the note before it back. A stop keeps `note`: the closing line is written once the run has unwound.
    Why: a stop in the final evaluation said "the run can be resumed with the same command", as if the training
    had not finished, when its checkpoint was saved and only the evaluation was cut (flows/evaluate.py)."""
    before = _state["resume_note"]
    _state["resume_note"] = note
    try:
        yield
    finally:
        if _state["stopping"] is None:  # no signal came: a later stop is not this block's
            _state["resume_note"] = before


def defer_stops() -> None:
    """From now on a stop signal does not raise into this process, which is ending on its own (a failure being
    reported, the save after a lost peer rank): torchrun's agent sends SIGTERM to every rank as soon as one has
    ended, and a `Stopped` raised into that work cut the save short or put its traceback where the closing line
    goes. The signal still starts the watchdog (it ends the process after the grace, later while `exit_held`),
    and a second one ends it at once."""
    _state["deferred"] = True


def raise_deferred_stop() -> None:
    """Raise the `Stopped` of a signal that came while stops were deferred (`defer_stops`), now that the work it
    waited for is done; nothing when none came."""
    if _state["stopping"] is not None:
        raise Stopped(_state["stopping"])


def note_unwound() -> None:
    """Called by a flow whose body a stop signal has left: nothing of the run is left to clean up."""
    _unwound.set()


def name_log(log_path: Path | None) -> None:
    """The run's log file (flows/errors.start_run_log), for the closing line of a stop."""
    _state["log_path"] = log_path


def stop_calls(callback) -> None:
    """From now on the first stop signal calls `callback(signal_name)` on a thread of its own instead of raising
    `Stopped` into the main thread. For `rlvr serve` (flows/deployments.py), whose main thread runs Prefect's event
    loop: a KeyboardInterrupt raised into it tore the loop down, which terminated the flow-run processes while they
    saved, printed an asyncio ERROR and ended in exit 0. The watchdog still starts (`exit_held` keeps it off while
    the callback waits for the flow runs), and a second signal still ends the process at once. None: raise again."""
    _state["on_stop"] = callback


def stop_as_served_run(record: Path, about: dict) -> None:
    """In a flow-run process that `rlvr serve` started (call from its main thread): SIGINT is ignored from now on.
    A Ctrl-C reaches serve's whole process group, and serve passes the stop on to each flow run as one SIGTERM,
    Prefect's own stop of a flow run (its `TerminationSignal`; the engine marks the run Crashed, then the process
    ends by that SIGTERM); a KeyboardInterrupt beside it cut the checkpoint saved at the stop, and Python printed
    its traceback. What the stop leaves is written as JSON to `record`, with `about` (the flow, the run), for
    serve's closing line (`save_at_stop` adds its note)."""
    _state["served_record"] = (record, dict(about))
    _write_record()
    signal.signal(signal.SIGINT, _ignore_signal)


def _ignore_signal(_signum, _frame) -> None:
    """A Python handler, not SIG_IGN: processes exec'd later do not inherit it."""


def _record_served_stop() -> None:
    """In a served flow run (`stop_as_served_run`), write what the stop leaves to its record; nothing elsewhere."""
    if _state["served_record"] is not None:
        _write_record(note=_state["resume_note"])


def _write_record(**stop) -> None:
    import json

    path, about = _state["served_record"]
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**about, **stop}))
        tmp.replace(path)  # serve reads it whole or not at all
    except OSError:
        pass  # serve's closing line then says less about this run; the run itself is not failed for it


def install_stop_handlers(announce: bool = True, log_path: Path | None = None):
    """SIGINT and SIGTERM -> `Stopped` in the main thread, plus the watchdog (call from the main thread).
    `announce=False`: the watchdog exits without its closing line (a rank of a multi-process job other than
    rank 0, which says it for the job); `log_path`: the run's log file, which that line names (or `name_log`).
    Returns a function that puts the previous handlers back."""
    _state.update(announce=announce, deferred=False, resume_note="", on_stop=None)
    name_log(log_path)
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def stopping() -> str | None:
    """The name of the signal that is stopping this process, or None."""
    return _state["stopping"]
