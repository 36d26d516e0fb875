"""Run untrusted Python in a fresh, limited subprocess and call its functions from the trusted parent.

    with Sandbox(program, setup="", limits=Limits()) as box:
        box.call("add", (1, 2))   # -> 3, or raises CandidateError / SandboxTimeout / SandboxDied

What is covered (when running as root on Linux with namespaces, as here; see `sandbox_child.py`):
- a fresh interpreter (`python -I -S`) per program, environment scrubbed, stdin on /dev/null; stdout and stderr
  are one pipe read (and dropped) here: past `output_kb` the session fails with SandboxOutputLimit;
- wall-clock deadline for the whole session (enforced here, by SIGKILL), RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE,
  RLIMIT_NPROC (enforced because the child runs as its own unprivileged uid), no core files, 256 fds;
- no child processes unless `processes=True`: a seccomp filter refuses fork/vfork/clone-without-CLONE_THREAD
  (EAGAIN), so a program that forks gets the same refusal on every run (NPROC alone races with process exits);
- threads: `threads` starts per session (64), counted in the child, the next one refused with Python's own
  "can't start new thread"; a count of starts, not of threads alive at once, so the verdict does not depend on
  how fast earlier threads ended. RLIMIT_NPROC (`threads` + 1 tasks) stays as the OS backstop for a program that
  reaches past the count; one malloc arena, so that each thread costs only its stack of address space;
- no network: a new network namespace with no interface up;
- writes only to a private, size-limited tmpfs that is its cwd; `hide` paths (home, data folders) masked;
- PID namespace: killing its PID 1 kills every descendant, even ones that called setsid or cleared PDEATHSIG;
- the program never reports pass/fail: it only answers calls, with values of builtin types (`sandbox_wire`),
  so exiting 0, printing PASSED, patching builtins, or returning an object with a forged `__eq__` cannot pass a test.
What is not covered:
- without root or namespaces (`isolate="off"`, a container without CAP_SYS_ADMIN, another OS): with the default
  `isolate="best_effort"` the fallback runs, and the first such program of a process logs a warning naming why and
  what is lost (`UNISOLATED_LOSSES`; `off`, chosen on purpose, runs it without a warning); under a verifier pool
  the process that asked for the verdicts logs it, once, into the run's log (`say_unisolated`; the pool workers'
  stderr is not that log); `isolate="required"`
  refuses instead (SandboxUnisolated, nothing runs). The fallback keeps the rlimits, the seccomp filter and a temp
  cwd on the host (made by the child, removed by `close`; left behind if this process is killed), but the `hide`
  paths stay readable, the network guard is only a Python-level socket patch, and without root NPROC counts the
  caller's whole uid and the caller's files stay writable; on an architecture other than x86_64/aarch64 there is no
  seccomp filter (processes are then bounded by NPROC only);
- with `processes=True`, NPROC is `nproc` processes and threads alive at once, so timing decides near it again;
- the thread count is a Python-level wrapper of `_thread`'s start functions: a program that digs out the unwrapped
  function (or calls pthread_create through ctypes) meets only the NPROC backstop, which counts threads alive;
  a program whose own number of starts depends on timing (a ThreadPoolExecutor starts a worker only when none is
  idle) can still land on either side of the cap; thread stacks (8 MiB each) count toward `memory_mb` while alive;
- world-readable files outside `hide` stay readable; CPU time of the judge's own test code (trusted) is the caller's;
- kernel exploits, side channels, and objects that are not plain data: a dataclass instance or enum member comes
  back by value (`sandbox_wire.Record`), any other object as an opaque handle that equals only itself.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Literal

from rlvr.verifiers import sandbox_wire as wire
from rlvr.verifiers import procs
from rlvr.verifiers.procs import kill_quietly

log = logging.getLogger(__name__)
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_child.py")
SCRUBBED_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "PYTHONHASHSEED": "0"}
Isolation = Literal["required", "best_effort", "off"]
ISOLATION_MODES: tuple[str, ...] = ("required", "best_effort", "off")
UNISOLATED_LOSSES = (
    "the `hide` paths (/work, /root, /home, data folders: data sets and reference solutions) are readable, writes "
    "land in the host's /tmp, the network is refused by a Python-level socket patch only (ctypes gets past it), "
    "processes (with processes=True) share the host's PID namespace, and without root the program runs as the "
    "caller's uid (its files writable, RLIMIT_NPROC shared)")


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0  # whole session: load + every call
    cpu_s: int = 10
    memory_mb: int = 1024  # RLIMIT_AS
    threads: int = 64  # thread starts per session, counted (see sandbox_child._count_thread_starts)
    nproc: int = 16  # with processes=True: RLIMIT_NPROC, processes and threads alive at once (else threads + 1)
    fsize_mb: int = 16
    output_kb: int = 1024  # stdout + stderr together; past it the session ends with SandboxOutputLimit
    processes: bool = False  # allow fork/exec/subprocess (then NPROC decides, with timing: see sandbox_child)
    tmpfs_mb: int = 64
    isolate: Isolation = "best_effort"  # namespaces + fresh uid (root): required | best_effort (else fallback) | off
    hide: tuple[str, ...] = ("/root", "/home", "/work", "/mnt", "/srv", "/data")
    python: str = ""  # interpreter for the child; "" = sys.executable


class SandboxError(Exception):
    """Base of what a session can end with besides a value."""


class SandboxTimeout(SandboxError):
    """The wall-clock deadline passed (the process tree is killed) or the CPU limit was hit."""


class SandboxDied(SandboxError):
    """The program process ended or closed the channel; `signal` is the signal that killed it, if any."""

    def __init__(self, message: str, signal_number: int | None = None):
        super().__init__(message)
        self.signal = signal_number


class SandboxOutputLimit(SandboxError):
    """The program wrote more than `Limits.output_kb` to stdout and stderr (the process tree is killed)."""


class SandboxUnisolated(SandboxError):
    """`isolate="required"` and the namespaces could not be made: the program was not run."""


class CandidateError(SandboxError):
    """The program raised (or its value could not be sent); `name` is the exception type's name."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name


class Sandbox:
    """One program in one sandboxed process; a context manager so the process tree is always killed."""

    def __init__(self, program: str, setup: str = "", limits: Limits = Limits(), *, setup_last: bool = False):
        """`setup` runs before `program`, or after it with `setup_last` (setup that uses the program's names)."""
        self.program, self.setup, self.limits, self.setup_last = program, setup, limits, setup_last
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None  # host pid of the program process (PID 1 of its namespace)
        self.isolated = False
        self.unisolated_because: str | None = None  # why the fallback ran, as the child found it
        self._buf = b""
        self._workdir: str | None = None  # the fallback's cwd on the host (the isolated program has its own tmpfs)
        self._out: int | None = None  # read end of the program's stdout + stderr
        self.output_bytes = 0
        self.failure: SandboxError | None = None  # first timeout/death seen: a judge that swallowed it still fails
        self.calls = 0
        self.reads = 0  # values and attributes of the program the judge read (tests may check data, not calls)

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        self.deadline = time.monotonic() + self.limits.wall_s
        req_r, self._req = os.pipe()
        self._res, res_w = os.pipe()
        self._out, out_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [self.limits.python or sys.executable, "-I", "-S", CHILD, wire.__file__, str(req_r), str(res_w)],
                stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w,
                pass_fds=(req_r, res_w), env=SCRUBBED_ENV, cwd="/", start_new_session=True,
            )
        finally:
            os.close(req_r)
            os.close(res_w)
            os.close(out_w)
        for fd in (self._req, self._res, self._out):
            os.set_blocking(fd, False)
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        lim = self.limits
        header = {
            "program": self.program, "setup": self.setup, "setup_last": self.setup_last, "isolate": lim.isolate,
            "processes": lim.processes, "hide": [p for p in lim.hide if p], "tmpfs_mb": lim.tmpfs_mb,
            "limits": {"cpu_s": lim.cpu_s, "memory_mb": lim.memory_mb, "fsize_mb": lim.fsize_mb, "nproc": lim.nproc,
                       "threads": lim.threads},
        }
        self._write(json.dumps(header, separators=(",", ":")))
        kind, *rest = self._read()
        if kind == "refused":
            raise SandboxUnisolated(f"isolate='required' but the sandbox cannot isolate: {rest[0]}")
        if kind != "pid":
            raise SandboxDied(f"unexpected first message {kind!r}")
        self.pid, self._workdir, self.unisolated_because = int(rest[0]), rest[1], rest[2]
        self.isolated = self.unisolated_because is None
        # before the program runs, so the log says so even if this one never returns; not for `off`: the user chose it.
        # A pool worker leaves it to its parent (`say_unisolated`): its stderr is not the run's log.
        if not self.isolated and lim.isolate != "off" and not procs.IN_WORKER:
            _warn_unisolated(self.unisolated_because)
        kind, *rest = self._read()
        if kind == "load_error":
            raise CandidateError(rest[0], rest[1])
        if kind != "loaded":
            raise SandboxDied(f"unexpected message {kind!r}")

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Kill the whole tree: PID 1 of the namespace (takes every descendant with it), then the supervisor."""
        if self.proc is not None:
            kill_quietly((self.pid, self.proc.pid), group=self.proc.pid)
            self.proc.wait()
            self.proc = None
        for fd in ("_req", "_res", "_out"):
            if getattr(self, fd, None) is not None:
                os.close(getattr(self, fd))
                setattr(self, fd, None)
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -- calls -----------------------------------------------------------------------------------------------------
    def names(self, names: list[str]) -> set[str]:
        """Which of `names` the program defines as callables."""
        self._write(json.dumps(["names", list(names)]))
        return set(self._reply())

    def values(self, names: list[str]) -> dict[str, Any]:
        """The program's non-callable globals among `names`: builtin values, or `RemoteRef` handles to objects
        that stay in the sandbox (and can only be passed back to its functions)."""
        self._write(json.dumps(["values", list(names)]))
        found = self._reply()
        self.reads += len(found)
        return found

    def attr(self, name: str, attribute: str) -> Any:
        """`getattr(name, attribute)` in the program (e.g. a member of its Enum class), as a value or a handle."""
        self.reads += 1
        self._write(json.dumps(["attr", name, attribute]))
        return self._reply()

    def call(self, name: str, args: tuple = (), kwargs: dict | None = None) -> Any:
        """Call `name(*args, **kwargs)` in the program; returns a builtin value or raises a SandboxError."""
        try:
            payload = ["call", name, wire.encode(tuple(args)), wire.encode(dict(kwargs or {}))]
        except wire.WireError as e:
            raise CandidateError("UnsupportedArgument", str(e)) from None
        self.calls += 1
        self._write(json.dumps(payload, separators=(",", ":")))
        return self._reply()

    def _reply(self) -> Any:
        kind, *rest = self._read()
        if kind == "ok":
            return rest[0]
        if kind == "raise":
            raise CandidateError(str(rest[0]), str(rest[1]))
        raise self._fail(SandboxDied(f"unexpected message {kind!r}"))

    # -- channel ---------------------------------------------------------------------------------------------------
    def _fail(self, err: SandboxError) -> SandboxError:
        self.failure = self.failure or err
        return err

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self._fail(SandboxTimeout(f"wall-clock limit {self.limits.wall_s}s"))
        return left

    def _write(self, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass") + b"\n"
        while data:
            r, w, _ = select.select(self._output(), [self._req], [], self._remaining())
            self._drain(r)
            if w:
                try:
                    data = data[os.write(self._req, data):]
                except BrokenPipeError:
                    raise self._died() from None

    def _read(self) -> list:
        while b"\n" not in self._buf:
            if len(self._buf) > wire.MAX_LINE_BYTES:
                raise CandidateError("OverflowError", "message too large")
            r, _, _ = select.select([self._res, *self._output()], [], [], self._remaining())
            self._drain(r)
            if self._res in r:
                chunk = os.read(self._res, 1 << 20)
                if not chunk:
                    raise self._died()
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            msg = wire.decode(line)
        except wire.WireError as e:
            raise CandidateError("WireError", str(e)) from None
        if not isinstance(msg, list) or not msg or not isinstance(msg[0], str):
            raise CandidateError("WireError", "malformed message")
        return msg

    def _output(self) -> list[int]:
        return [] if self._out is None else [self._out]

    def _drain(self, ready: list[int]) -> None:
        """Count (and drop) what the program wrote to stdout/stderr; past `output_kb` the session fails."""
        if self._out is None or self._out not in ready:
            return
        try:
            chunk = os.read(self._out, 1 << 20)
        except BlockingIOError:
            return
        if not chunk:  # every writer closed it
            os.close(self._out)
            self._out = None
            return
        self.output_bytes += len(chunk)
        if self.output_bytes > self.limits.output_kb * 1024:
            raise self._fail(SandboxOutputLimit(f"output limit {self.limits.output_kb} KiB (stdout + stderr)"))

    def _died(self) -> SandboxError:
        """The channel closed: find out how the program process ended."""
        try:
            code = self.proc.wait(timeout=max(0.05, min(1.0, self.deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            return self._fail(SandboxDied("channel closed by the program"))
        sig = code - 128 if code > 128 else (-code if code < 0 else None)
        if sig == signal.SIGXCPU:
            return self._fail(SandboxTimeout(f"CPU limit {self.limits.cpu_s}s"))
        return self._fail(SandboxDied(f"program ended (exit status {code})", sig))


def say_unisolated(verdicts) -> None:
    """In the process that asked for `verdicts` (the run's, which logs to the run's log): the warning for programs
    that ran without isolation although it was not turned off, once per process and reason."""
    for verdict in verdicts:
        detail = verdict.detail
        if detail.get("isolated") is False and detail.get("isolate") != "off" and detail.get("unisolated_because"):
            _warn_unisolated(detail["unisolated_because"])


@functools.lru_cache(maxsize=None)
def _warn_unisolated(why: str) -> None:
    """Once per process and reason: a program ran without the namespaces, so the verdicts are weaker."""
    log.warning("code sandbox: programs run WITHOUT isolation (%s); so %s. Verdicts say \"isolated\": false; set the "
                "code verifier option isolate: required to refuse such runs (status error) instead.",
                why, UNISOLATED_LOSSES)
