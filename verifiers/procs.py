"""Verifier worker processes: one framing, one way to start, bound, and end them.

    w = Worker("rlvr.verifiers.math_grade:handle", warm="rlvr.verifiers.math_grade:warm_up", memory_mb=4096)
    w.call(request, timeout_s=1.5)    # -> the handler's answer; raises Timeout / Died (the worker is then killed)

A worker is `python -c "from rlvr.verifiers.procs import serve; serve(...)"` in its own session: it runs the
warm-up (`warm(*warm_args)`: slow imports belong there, outside any request's deadline), says it is ready (with what
the warm-up returned, `Worker.warm_note`), then answers one request at a time. Frames are a 4-byte length and a
pickle, on the worker's stdin/stdout; anything a verifier prints goes to stderr, never into the channel. Deadlines
are enforced from outside: past them the worker and every descendant get SIGKILL (never `signal.alarm`). The worker
dies with its parent (PR_SET_PDEATHSIG), and its address space is capped (`memory_mb`, RLIMIT_AS), so a runaway verifier
gets a MemoryError, not the machine. `VerifierPool` drives many workers with `send` / `poll`; `call` is the
blocking form (math.py's helper when it is called outside a pool).
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


def _load(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


class Worker:
    def __init__(self, handler: str, warm: str | None = None, memory_mb: int | None = 4096,
                 warm_args: tuple = ()) -> None:
        paths = [os.path.abspath(p or os.curdir) for p in sys.path if os.path.isdir(p or os.curdir)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(dict.fromkeys(paths)))
        call = f"serve({handler!r}, {warm!r}, {memory_mb!r}, {tuple(warm_args)!r})"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from rlvr.verifiers.procs import serve; {call}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0, start_new_session=True,
        )
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf, self.ready, self.started = b"", False, time.monotonic()
        self.warm_note = None  # what the warm-up returned, sent with the ready mark
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
    fn = _load(handler)
    note = _load(warm)(*warm_args) if warm else None
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
