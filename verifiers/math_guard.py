"""Bound the symbolic step of the math verifier from outside: sympy runs in a helper process with a deadline.

`compare(request, timeout_s)` sends one comparison to a long-lived helper (started on first use, per calling
process) and waits at most `timeout_s`; past it the helper is killed (SIGKILL, not `signal.alarm`) and a new one is
started at once, so the next call finds it warm. Safe from any thread (calls are serialised by a lock) and after
fork (a forked child starts its own helper). The helper dies with its parent (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time

from rlvr.verifiers.procs import close_quietly

STARTUP_TIMEOUT_S = 120.0
_LEN = struct.Struct("!I")


class GuardTimeout(Exception):
    """The helper did not answer before the deadline (it was killed)."""


class GuardFailed(Exception):
    """The helper died or could not be started."""


def _read_exact(fd: int, n: int, deadline: float) -> bytes:
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise GuardTimeout()
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise GuardFailed("helper closed its pipe")
        buf += chunk
    return buf


class _Helper:
    def __init__(self) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from rlvr.verifiers.math_guard import serve; serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, bufsize=0,
        )
        self.ready = False

    def call(self, payload: dict, timeout_s: float) -> dict:
        out, inp = self.proc.stdout.fileno(), self.proc.stdin
        if not self.ready:
            _read_exact(out, 1, time.monotonic() + STARTUP_TIMEOUT_S)  # startup is not the request's time
            self.ready = True
        data = pickle.dumps(payload)
        try:
            inp.write(_LEN.pack(len(data)) + data)
        except (BrokenPipeError, OSError) as e:
            raise GuardFailed(str(e)) from None
        deadline = time.monotonic() + timeout_s
        (n,) = _LEN.unpack(_read_exact(out, _LEN.size, deadline))
        return pickle.loads(_read_exact(out, n, deadline))

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        self.proc.wait()
        close_quietly(self.proc.stdin, self.proc.stdout)


_lock = threading.Lock()
_state: dict = {"helper": None, "pid": None}


def compare(payload: dict, timeout_s: float) -> dict:
    """Run `math_worker.handle(payload)` in the helper within `timeout_s`; raises GuardTimeout / GuardFailed."""
    with _lock:
        if _state["pid"] != os.getpid():  # first use, or we are a forked child: never share the parent's helper
            _state["helper"], _state["pid"] = _Helper(), os.getpid()
        helper = _state["helper"]
        try:
            return helper.call(payload, timeout_s)
        except (GuardTimeout, GuardFailed):
            helper.kill()
            _state["helper"] = _Helper()  # warm up the next one now
            raise


def prestart() -> None:
    """Start this process's helper now (its sympy import overlaps other work) instead of on first use."""
    with _lock:
        if _state["pid"] != os.getpid():
            _state["helper"], _state["pid"] = _Helper(), os.getpid()


def shutdown() -> None:
    """Stop this process's helper (tests, clean exits)."""
    with _lock:
        if _state["helper"] is not None and _state["pid"] == os.getpid():
            _state["helper"].kill()
        _state["helper"], _state["pid"] = None, None


def serve() -> None:
    """The helper's loop: read a request, answer it, forever (until stdin closes)."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the parent
    from rlvr.verifiers.math_worker import handle, warm_up

    warm_up()
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    sys.stdout = sys.stderr  # nothing sympy prints may corrupt the channel
    inp = sys.stdin.buffer
    out.write(b"R")
    while True:
        head = inp.read(_LEN.size)
        if len(head) < _LEN.size:
            return
        payload = pickle.loads(inp.read(_LEN.unpack(head)[0]))
        data = pickle.dumps(handle(payload))
        out.write(_LEN.pack(len(data)) + data)
