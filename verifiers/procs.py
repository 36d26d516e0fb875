"""Verifier worker processes: one framing, one way to start, bound, and end them.

    w = Worker("rlvr.verifiers.math_grade:handle", warm="rlvr.verifiers.math_grade:warm_up", memory_mb=4096)
    w.call(request, timeout_s=1.5)    # -> the handler's answer; raises Timeout / Died (the worker is then killed)

A worker is `python -P -c _BOOT` (import this module, then `serve(...)`) in its own session: it runs the
warm-up (`warm(*warm_args)`: slow imports belong there, outside any request's deadline), says it is ready (with what
the warm-up returned, `Worker.warm_note`), then answers one request at a time. Frames are a 4-byte length and a
pickle, on the worker's stdin/stdout; anything a verifier prints goes to stderr, never into the channel. Deadlines
are enforced from outside: past them the worker and every descendant get SIGKILL (never `signal.alarm`). The worker
dies with its parent (PR_SET_PDEATHSIG), and its address space is capped (`memory_mb`, RLIMIT_AS), so a runaway verifier
gets a MemoryError, not the machine. `VerifierPool` drives many workers with `send` / `poll`; `call` is the
blocking form (math.py's helper when it is called outside a pool).

A worker whose start-up raises (its own import, the handler's, the warm-up: a broken module on the path, a
MemoryError under the cap) sends `(START_FAILED, cause, traceback)` in place of the ready mark and exits 1. The
cause is the exception's one line (`cause_line`); `poll` raises it as `Died` and keeps it in `start_failure`. Left
to Python, the traceback went to the worker's stderr, the user's console, once per start and so once per
replacement; the pool says the cause once and logs the traceback for the run's log file only.
"""

from __future__ import annotations

import importlib
import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterable

import psutil

_LEN = struct.Struct("!I")
STARTUP_TIMEOUT_S = 120.0
START_FAILED = "start_failed"  # the first frame of a worker whose start-up raised, in place of ("ready", note)
IN_WORKER = False  # True inside a worker process: its caller enforces the deadline, so compute here


class Timeout(Exception):
    """The worker did not answer before the deadline (it was killed)."""


class Died(Exception):
    """The worker died, closed its channel, or could not be started."""


def frame(obj) -> bytes:
    data = pickle.dumps(obj)
    return _LEN.pack(len(data)) + data


def unframe(buf: bytes) -> tuple[object, bytes] | None:
    """(object, rest) if `buf` holds a whole frame, else None."""
    if len(buf) < _LEN.size:
        return None
    (n,) = _LEN.unpack(buf[:_LEN.size])
    if len(buf) < _LEN.size + n:
        return None
    return pickle.loads(buf[_LEN.size:_LEN.size + n]), buf[_LEN.size + n:]


def cause_line(e: BaseException) -> str:
    """An exception as one line, as the last line of its traceback reads: `ImportError: cannot import name ...`."""
    words = " ".join(str(e).split())
    return f"{type(e).__name__}: {words}"[:400] if words else type(e).__name__


# The worker's command. Its first import is guarded here, with the standard library only, because that import
# (this module's: psutil, or rlvr itself) is what may fail; the cause is worded as `cause_line` words it.
_BOOT = """\
try:
    from rlvr.verifiers.procs import serve
except BaseException as e:
    import sys
    try:
        import pickle, struct, traceback
        words = " ".join(str(e).split())
        cause = (type(e).__name__ + ": " + words)[:400] if words else type(e).__name__
        data = pickle.dumps(({mark!r}, cause, traceback.format_exc()))
        sys.stdout.buffer.write(struct.pack("!I", len(data)) + data)
        sys.stdout.buffer.flush()
    except BaseException:  # a closed pool, or no memory left for one line: the exit code says it
        pass
    sys.exit(1)
serve({args})
"""


def _load(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


class Worker:
    def __init__(self, handler: str, warm: str | None = None, memory_mb: int | None = 4096,
                 warm_args: tuple = ()) -> None:
        paths = [os.path.abspath(p or os.curdir) for p in sys.path if os.path.isdir(p or os.curdir)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(dict.fromkeys(paths)))
        args = f"{handler!r}, {warm!r}, {memory_mb!r}, {tuple(warm_args)!r}"
        # -P: `python -c` would put the working directory first on the path, where a user's `random.py` or
        # `csv.py` shadows what every worker imports (the `rlvr` command's own path has no such entry)
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-c", _BOOT.format(mark=START_FAILED, args=args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0, start_new_session=True,
        )
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf, self.ready, self.started = b"", False, time.monotonic()
        self.warm_note = None  # what the warm-up returned, sent with the ready mark
        self.start_failure = self.start_traceback = None  # a start-up that raised: its cause line, its traceback
        self.task = None  # what the pool sent and awaits

    def send(self, obj) -> bool:
        try:
            self.proc.stdin.write(frame(obj))
        except (BrokenPipeError, OSError):
            return False
        self.started = time.monotonic()
        return True

    def poll(self):
        """Read what is there: a finished answer, None if incomplete (or only the ready mark); raises Died."""
        try:
            chunk = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return None
        if not chunk:
            raise Died("worker closed its channel")
        self.buf += chunk
        got = unframe(self.buf)
        if got is None:
            return None
        obj, self.buf = got
        if not self.ready and isinstance(obj, tuple) and obj[:1] == ("ready",):
            self.ready, self.warm_note = True, obj[1]
            return self.poll() if self.buf else None
        if not self.ready and isinstance(obj, tuple) and obj[:1] == (START_FAILED,):
            self.start_failure, self.start_traceback = obj[1], obj[2]
            raise Died(obj[1])
        return obj

    def _wait(self, deadline: float, for_ready: bool = False):
        while not (for_ready and self.ready):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise Timeout()
            got = self.poll()
            if got is not None:
                if for_ready:
                    raise Died(f"unexpected first frame {type(got).__name__}")
                return got

    def call(self, obj, timeout_s: float):
        """Send one request and wait at most `timeout_s` for its answer (startup not counted)."""
        if not self.ready:
            self._wait(time.monotonic() + STARTUP_TIMEOUT_S, for_ready=True)
        if not self.send(obj):
            raise Died("worker's channel is closed")
        return self._wait(time.monotonic() + timeout_s)

    def exit_reason(self, wait_s: float = 1.0) -> tuple[int | None, str]:
        """(exit code, words) of a worker whose channel closed: it is exiting, so wait for it a moment. A negative
        code is the signal that killed it (the kernel's OOM killer sends SIGKILL)."""
        try:
            code = self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return None, f"the worker closed its channel but had not exited after {wait_s:g} s"
        if code < 0:
            try:
                return code, f"the worker was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return code, f"the worker was killed by signal {-code}"
        return code, f"the worker exited with code {code} (os._exit, or a crash outside Python's exceptions)"

    def kill(self) -> None:
        """Kill the worker and every descendant (sandbox supervisors, namespace PID 1s)."""
        try:
            procs = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            procs = []
        kill_quietly([self.proc.pid, *(p.pid for p in procs)], group=self.proc.pid)
        self.proc.wait()
        close_quietly(self.proc.stdin, self.proc.stdout)


def serve(handler: str, warm: str | None = None, memory_mb: int | None = None, warm_args: tuple = ()) -> None:
    """The worker's loop: warm up, say ready, then answer each request with `handler(request)` until stdin closes."""
    import ctypes

    global IN_WORKER
    IN_WORKER = True
    if memory_mb:  # set before any import: every allocation of this process and its children counts
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the parent
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr  # nothing a verifier prints may corrupt the channel
    try:
        fn = _load(handler)
        note = _load(warm)(*warm_args) if warm else None
    except BaseException as e:  # noqa: BLE001 - whatever stops the start-up is told to the pool, not printed
        _tell_start_failed(out, e, memory_mb)
        sys.exit(1)
    inp = sys.stdin.buffer
    try:
        out.write(frame(("ready", note)))
        while True:
            head = inp.read(_LEN.size)
            if len(head) < _LEN.size:
                return
            request = pickle.loads(inp.read(_LEN.unpack(head)[0]))
            out.write(frame(fn(request)))
    except BrokenPipeError:  # the pool closed before this worker said ready (a refused run): no one to tell
        return


def _out_of_memory(e: BaseException) -> bool:
    """Whether a start-up failure is the address-space cap: a MemoryError, ENOMEM, or the dynamic loader failing to
    map an extension module's segments (an ImportError `failed to map segment from shared object`)."""
    import errno

    text = str(e).lower()
    return (isinstance(e, MemoryError) or getattr(e, "errno", None) == errno.ENOMEM
            or (isinstance(e, ImportError) and ("failed to map segment" in text or "cannot allocate memory" in text)))


def _tell_start_failed(out, e: BaseException, memory_mb: int | None) -> None:
    """Send the pool why the start-up failed; quietly nothing if even that fails (the pool then says how it ended)."""
    try:
        import traceback

        cause = cause_line(e)
        if memory_mb and _out_of_memory(e):
            cause += f" (the worker's address space is capped at {memory_mb} MiB: verify.memory_mb)"
        try:
            data = frame((START_FAILED, cause, traceback.format_exc()))
        except MemoryError:  # at the cap the traceback's text may not fit; the cause alone is short
            data = frame((START_FAILED, cause, ""))
        out.write(data)
    except BaseException:  # noqa: BLE001, S110 - a closed pool, or no memory left for one line: the exit code says
        pass


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
