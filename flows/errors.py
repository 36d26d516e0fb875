"""How a failed `rlvr` command ends: one `rlvr: <what and where>` line, an exit code, and a log file.

    log_path = start_run_log("train")        # every log record of the run, with tracebacks, goes here
    try: ...
    except BaseException as exc: return report_failure(exc, log_path)

Exit codes: 2 for input the user can fix (config, data, model path, checkpoint, a run directory that would
be overwritten, a batch too large for the device's memory), 1 for everything else (a bug, a crash of a
library, a device held past `--device-timeout`), 130/143 when stopped by SIGINT/SIGTERM. The console shows
each error record as one line without its traceback (Prefect logs every failed task and flow with one); the
full records go to the log file, under `$RLVR_LOG_DIR` (default `<RLVR_CACHE>/logs`), whose path the last line
names.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from rlvr.flows.console import console_text, for_the_console, quiet_libraries, showing_everything
from rlvr.trainers.run_config import ConfigError


class BadInput(ValueError):
    """Input the user can fix (a dataset, a model path, a checkpoint); the message says what and where."""


class PeerLost(RuntimeError):
    """A collective failed because another rank's process is gone (killed, crashed): this rank of a multi-process
    job ends because of it (flows/launch.py). Its line gives the cause in a few words, not gloo's text (its source
    path, "This is typically caused by a remote worker crashing ... GLHF!"), and what was kept."""

    def __init__(self, cause: str, kept: str = ""):
        super().__init__(f"another rank of the job ended ({cause})" + (f"; {kept}" if kept else ""))


INPUT_ERRORS = (
    ConfigError, BadInput, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
)
# Input errors defined beside torch code (OutOfMemory: the fix is a smaller batch or length in the config). An
# exception of one of these classes can only exist once its module is loaded, so they are looked up then: a command
# that ends on its config or data does not import torch (~1.5 s of the ~5 s before its line) only to say so.
TORCH_SIDE_INPUT_ERRORS = (("rlvr.trainers.checkpoint", "CheckpointError"),
                           ("rlvr.trainers.out_of_memory", "OutOfMemory"))


def is_input_error(exc: BaseException) -> bool:
    """Whether `exc` is input the user can fix (exit 2)."""
    if isinstance(exc, INPUT_ERRORS):
        return True
    for module, name in TORCH_SIDE_INPUT_ERRORS:
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(exc, getattr(loaded, name)):
            return True
    return False


SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}


class Stopped(KeyboardInterrupt):
    """The run was asked to stop by a signal (SIGTERM is turned into this, like Ctrl-C's KeyboardInterrupt)."""

    def __init__(self, signal_name: str = "SIGINT"):
        super().__init__(signal_name)
        self.signal_name = signal_name


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, KeyboardInterrupt):
        return SIGNAL_EXIT.get(getattr(exc, "signal_name", "SIGINT"), 130)
    return 2 if is_input_error(exc) else 1


def one_line(exc: BaseException) -> str:
    """The exception's message on one line: 'invalid x.yaml:\\n  a\\n  b' -> 'invalid x.yaml: a; b'."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = lines[0] + (" " + "; ".join(lines[1:]) if len(lines) > 1 else "")
    if exit_code(exc) == 1 and not type(exc).__module__.startswith("rlvr."):  # a library's: say which error
        text = f"{type(exc).__name__}: {text}"
    return shorten(text, 600)


def shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: its start (what failed, where) and its end (rlvr's messages end in
    what to do: 'set task.columns.answer ...'), with ' ... ' for what is left out of the middle."""
    if len(text) <= limit:
        return text
    tail = limit // 2
    return text[: limit - tail - 5].rstrip() + " ... " + text[-tail:].lstrip()


def log_dir() -> Path:
    if os.environ.get("RLVR_LOG_DIR"):
        return Path(os.environ["RLVR_LOG_DIR"])
    cache = os.environ.get("RLVR_CACHE") or Path.home() / ".cache" / "rlvr"
    return Path(cache) / "logs"


def _one_line_format(fmt, quiet: bool = False):
    """Wrap a console handler's `format`: error records become one line, without traceback or stack; with `quiet`,
    a notice of flows/console.FIRST_LINE_ONLY prints its first line only."""

    def format_record(record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            record = copy.copy(record)  # the file handler still gets the traceback
            record.exc_info = record.exc_text = record.stack_info = None
        text = fmt(record)
        if record.levelno >= logging.ERROR and text:
            return shorten(text.splitlines()[0], 400)
        return console_text(record, text) if quiet else text

    return format_record


# Prefect's records of a run that a signal stopped (prefect/states.py) or that failed (its task's and flow's failed
# states, the flow's "Encountered exception"): rlvr's closing line says it once, with where the run resumes or the
# full log; these stay in the log file.
_STOP_CRASH = ("Execution was aborted by an interrupt signal.", "Execution was aborted by a termination signal.")
_FAILED_STATE = ("Finished in state Failed(", "Encountered exception during execution:")


def _not_said_by_the_closing_line(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not (any(text in message for text in _STOP_CRASH) or
                (record.name.startswith("prefect.") and message.startswith(_FAILED_STATE)))


def quiet_console() -> None:
    """Give every console handler (root's and the non-propagating loggers') one-line error records printed as
    written (rich would turn `name:word:` into an emoji), and leave out Prefect's records of a stopped or failed
    run ("Crash detected! ...", "Finished in state Crashed/Failed(...)", "Encountered exception during
    execution: ..."): the command's closing line says it once. Unless the user asked for everything
    (flows/console.showing_everything): vLLM's records and Python's warnings go through logging, and the console
    leaves out what flows/console.for_the_console keeps for the log file (third-party notices, Prefect's task
    bookkeeping, the run config in full)."""
    quiet = not showing_everything()
    if quiet:
        quiet_libraries()
    for handler in _console_handlers():
        if not getattr(handler, "_rlvr_quiet", False):
            handler.format = _one_line_format(handler.format, quiet)
            handler.addFilter(_not_said_by_the_closing_line)
            if quiet:
                handler.addFilter(for_the_console)
            _no_emoji(handler)
            handler._rlvr_quiet = True


def one_line_prefect_console() -> None:
    """For a flow run that no rlvr command started (`rlvr serve` and Prefect workers run each in a process of its
    own): Prefect's console prints error records as one line each, and `a:boom:` as text, as `quiet_console` does
    for a command. Its three records of a failed run each carried the whole traceback (~100 lines for one bad
    override); the tracebacks stay in the run's logs on the Prefect server (its API log handler is not a console
    handler). Prefect's console
    handler alone: other stream handlers (a test's log capture) keep theirs. It also leaves out what
    flows/console.for_the_console keeps off a command's console (unless the user asked for everything); the
    process's logging is otherwise left as it is (a script or a notebook may run the flow)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    quiet = not showing_everything()
    for handler in _console_handlers():
        if isinstance(handler, PrefectConsoleHandler) and not getattr(handler, "_rlvr_quiet", False):
            handler.format = _one_line_format(handler.format, quiet)
            if quiet:
                handler.addFilter(for_the_console)
            _no_emoji(handler)
            handler._rlvr_quiet = True


def _no_emoji(handler: logging.Handler) -> None:
    """Prefect's rich console prints `a:boom:` as text, not an emoji (a plug-in's or task's name can hold it)."""
    if hasattr(getattr(handler, "console", None), "_emoji"):
        handler.console._emoji = False  # rich has no public setter; print(emoji=None) reads this


def _console_handlers() -> list[logging.Handler]:
    """The handlers that print: stream handlers, less files and in-memory captures (a StringIO, such as pytest's
    caplog, which a command run in-process would otherwise leave silenced)."""
    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]
    return [h for lg in loggers for h in lg.handlers if isinstance(h, logging.StreamHandler)
            and not isinstance(h, logging.FileHandler) and not isinstance(h.stream, io.StringIO)]


def start_run_log(command: str) -> Path:
    """Send every log record that reaches the root logger (with tracebacks) to a new file; returns its path."""
    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = folder / f"rlvr-{command}-{stamp}-{os.getpid()}.log"
    handler = logging.FileHandler(path, delay=True)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s - %(message)s"))
    logging.getLogger().addHandler(handler)  # what reaches the root: Prefect's INFO, others' WARNING
    return path


def end_run_log(path: Path | None) -> None:
    """Detach the file handler of `start_run_log(...)` (a command run in-process, e.g. from a test)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and path is not None and handler.baseFilename == str(path):
            root.removeHandler(handler)
            handler.close()


def _drain_prefect(timeout: float) -> None:
    """Flush Prefect's event and log workers now, so that their warnings come before the closing line."""
    if "prefect.events.worker" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        try:
            worker.drain_all(timeout=timeout)
        except Exception:  # noqa: BLE001, S110 - a dead API server: nothing more to deliver
            pass


def report_failure(exc: BaseException, log_path: Path | None, prog: str = "rlvr", drain_s: float = 5.0,
                   console: bool = True) -> int:
    """Write the traceback to the log file and print the one closing line (unless not `console`: a rank of a
    multi-process job whose failure another rank reports); returns the exit code."""
    where = ""
    if log_path is not None:
        with open(log_path, "a") as fh:
            fh.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {prog} failed:\n")
            traceback.print_exception(exc, file=fh)
        where = f" (full log: {log_path})"
        _drain_prefect(drain_s)
        for handler in _console_handlers():  # the closing line stays last; what Prefect logs on exit goes to the file
            handler.setLevel(logging.CRITICAL + 1)
    if isinstance(exc, KeyboardInterrupt):
        resume = getattr(exc, "resume_note", None) or "the run can be resumed with the same command"
        message = f"stopped by {getattr(exc, 'signal_name', 'SIGINT')}; {resume}"
    else:
        message = one_line(exc)
    sys.stdout.flush()
    if console:
        print(f"{prog}: {message}{where}", file=sys.stderr, flush=True)
    return exit_code(exc)
