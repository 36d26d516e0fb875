"""Many verifications in parallel, each with a hard timeout enforced from outside the worker.

    with VerifierPool(workers=2, timeout_s=10.0) as pool:
        results = pool.map([(completion, reference, specs), ...])   # -> [(reward, {name: Verdict}), ...]

One task per (job, verifier spec), run by worker processes (`pool_worker.py`). A task that passes `timeout_s`
gets a `timeout` Verdict and its worker is killed with its whole process tree (sandboxes, sympy helper included)
and replaced; a worker that dies gets its task an `error` Verdict and is replaced too, so `map` never hangs.
Results are cached by (verifier name, version, options, completion, reference); identical tasks in one batch run once.
"""

from __future__ import annotations

import collections
import hashlib
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from typing import Any

import psutil

from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.procs import close_quietly, kill_quietly
from rlvr.verifiers.registry import cache_key, combine, validate
from rlvr.verifiers.verdict import Verdict

_LEN = struct.Struct("!I")
Job = tuple[str, Any, list[VerifierSpec]]


class _Worker:
    def __init__(self, prestart_math: bool) -> None:
        paths = [os.path.abspath(p or os.curdir) for p in sys.path if os.path.isdir(p or os.curdir)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(dict.fromkeys(paths)),
                   RLVR_POOL_PRESTART_MATH="1" if prestart_math else "0")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from rlvr.verifiers.pool_worker import main; main()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0, start_new_session=True,
        )
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""
        self.task: tuple | None = None
        self.started = 0.0

    def send(self, task: tuple) -> bool:
        data = pickle.dumps(task)
        try:
            self.proc.stdin.write(_LEN.pack(len(data)) + data)
        except (BrokenPipeError, OSError):
            return False
        self.task, self.started = task, time.monotonic()
        return True

    def receive(self) -> tuple | None | bool:
        """A finished (task_id, Verdict), None if incomplete, False if the worker is gone."""
        try:
            chunk = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return None
        if not chunk:
            return False
        self.buf += chunk
        if len(self.buf) < _LEN.size:
            return None
        (n,) = _LEN.unpack(self.buf[:_LEN.size])
        if len(self.buf) < _LEN.size + n:
            return None
        data, self.buf = self.buf[_LEN.size:_LEN.size + n], self.buf[_LEN.size + n:]
        self.task = None
        return pickle.loads(data)

    def kill(self) -> None:
        """Kill the worker and every descendant (sandbox supervisors, namespace PID 1s, the sympy helper)."""
        try:
            procs = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            procs = []
        kill_quietly([self.proc.pid, *(p.pid for p in procs)], group=self.proc.pid)
        self.proc.wait()
        close_quietly(self.proc.stdin, self.proc.stdout)


class VerifierPool:
    def __init__(self, workers: int = 2, timeout_s: float = 10.0, cache: bool = True, cache_size: int = 100_000,
                 prestart_math: bool = True):
        self.n, self.timeout_s, self.cache_on, self.cache_size = workers, timeout_s, cache, cache_size
        self.prestart_math = prestart_math
        self.cache: collections.OrderedDict[str, Verdict] = collections.OrderedDict()
        self.stats = collections.Counter()  # tasks, cache_hits, timeouts, worker_deaths
        self.workers = [_Worker(prestart_math) for _ in range(workers)]

    def __enter__(self) -> "VerifierPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for w in self.workers:
            w.kill()
        self.workers = []

    def _replace(self, w: _Worker) -> None:
        w.kill()
        self.workers[self.workers.index(w)] = _Worker(self.prestart_math)

    def map(self, jobs: list[Job]) -> list[tuple[float, dict[str, Verdict]]]:
        if not self.workers:
            raise RuntimeError("VerifierPool is closed")
        for _, _, specs in jobs:
            validate(specs)
        keys: dict[str, tuple] = {}  # digest -> task; identical tasks run once
        hits: dict[str, Verdict] = {}
        slots: list[list[str]] = []
        for completion, reference, specs in jobs:
            row = []
            for spec in specs:
                digest = hashlib.sha256(cache_key(spec, completion, reference).encode()).hexdigest()
                row.append(digest)
                if self.cache_on and digest in self.cache:
                    hits[digest] = self.cache[digest]
                elif digest not in keys:
                    keys[digest] = (digest, spec.name, spec.options, completion, reference)
            slots.append(row)
        self.stats["tasks"] += sum(len(r) for r in slots)
        self.stats["cache_hits"] += sum(len(r) for r in slots) - len(keys)
        done = {**hits, **self._run(list(keys.values()))}
        return [combine(specs, [done[d] for d in row]) for (_, _, specs), row in zip(jobs, slots)]

    def _run(self, tasks: list[tuple]) -> dict[str, Verdict]:
        pending, done = collections.deque(tasks), {}
        while pending or any(w.task for w in self.workers):
            for w in list(self.workers):
                if w.task is None and pending:
                    task = pending.popleft()
                    if not w.send(task):
                        self._finish(done, task, Verdict(0.0, "error", {"rule": "worker_died"}))
                        self.stats["worker_deaths"] += 1
                        self._replace(w)
            busy = [w for w in self.workers if w.task]
            if not busy:
                continue
            now = time.monotonic()
            wait = max(0.0, min(w.started + self.timeout_s - now for w in busy))
            ready, _, _ = select.select([w.fd for w in busy], [], [], wait)
            for w in busy:
                if w.fd in ready:
                    got = w.receive()
                    if got is False:
                        self.stats["worker_deaths"] += 1
                        self._finish(done, w.task, Verdict(0.0, "error", {"rule": "worker_died"}))
                        self._replace(w)
                    elif got is not None:
                        self._finish(done, None, got[1], got[0])
                elif time.monotonic() - w.started >= self.timeout_s:
                    self.stats["timeouts"] += 1
                    self._finish(done, w.task, Verdict(0.0, "timeout", {"rule": "pool_timeout",
                                                                          "timeout_s": self.timeout_s}))
                    self._replace(w)
        return done

    def _finish(self, done: dict, task: tuple | None, verdict: Verdict, digest: str | None = None) -> None:
        digest = digest or task[0]
        done[digest] = verdict
        if self.cache_on and verdict.status not in ("error", "timeout"):  # those may pass on a retry
            self.cache[digest] = verdict
            self.cache.move_to_end(digest)
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
