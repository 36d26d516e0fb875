"""Many verifications in parallel, each with a hard deadline enforced from outside the worker.

    with VerifierPool(workers=2, timeout_s=10.0) as pool:
        results = pool.map([(completion, reference, specs), ...])   # -> [(reward, {name: Verdict}), ...]
        results = pool.map([(completion, reference, specs, problem.context()), ...])  # with the row's context

One task per (job, verifier spec), run by worker processes (`procs.Worker`, handler `work` below). A task's deadline
is `timeout_s`, or the verifier's own `timeout_s` option when that is shorter (math: 1.5 s), and it is passed down as
that option (the code sandbox sets its wall clock inside it, so it ends first); past it the task gets a `timeout`
Verdict and its worker is killed with its whole process tree (sandboxes included) and replaced; a worker that dies
gets its task an `error` Verdict and is replaced too, so `map` never hangs. Each worker's address space is capped at
`memory_mb` (a verifier that allocates past it gets an `error` Verdict, rule `memory_limit`). Workers import the
plug-in verifiers (`pkg.mod:fn`) as they start, before they take a task, so an import's time never counts against a
completion's deadline (`plugin_imports`); a worker not ready within `startup_timeout_s` is replaced, and after
`MAX_FAILED_STARTS` in a row the batch's tasks get `worker_cannot_start` errors saying why. A start-up that raised (a
module the worker imports is broken) is said once, as the exception's line (`procs.START_FAILED`); its traceback is
logged once, marked for the run's log file only (an `rlvr` command's console leaves it off). Results are cached by
(verifier name, version, options, completion, reference); identical tasks in one batch run once. Of a job's fourth
item, the row's context (`Problem.context()`), a task carries only what its verifier reads (a verl- or TRL-style
plug-in: `registry.context_read`), which is then part of its cache key.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import resource
import select
import time
from typing import Any

from rlvr.verifiers import procs
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.plugin_imports import plugin_names, warm_note_lines, warm_up
from rlvr.verifiers.registry import build_options, cache_key, combine, context_read, run_one, validate
from rlvr.verifiers.sandbox import say_unisolated
from rlvr.verifiers.verdict import Verdict

Job = tuple  # (completion, reference, specs) or (completion, reference, specs, context): see `parts`
MAX_FAILED_STARTS = 3  # workers in a row that die before they are ready: the pool gives up on the batch
IMPORT = "import"  # the id of a request to import plug-ins named after the worker started (a digest is 64 hex digits)
FILE_ONLY = {"rlvr_file_only": True}  # flows/console's mark of a record for the run's log file, not the console
log = logging.getLogger(__name__)


def parts(job: Job) -> tuple[str, Any, list[VerifierSpec], dict | None]:
    """(completion, reference, specs, context) of a job; context None when the job has none."""
    return job[0], job[1], job[2], job[3] if len(job) > 3 else None


def work(task: tuple) -> tuple[str, Verdict]:
    """What a worker does with one task: (task_id, name, options, completion, reference, context) ->
    (task_id, Verdict); (IMPORT, names) -> (IMPORT, what `warm_up` found)."""
    if task[0] == IMPORT:
        return IMPORT, warm_up(False, task[1])
    task_id, name, options, completion, reference, context = task
    try:
        verdict = run_one(name, options, completion, reference, context)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - a config error (validated in the parent already) or a bug
        verdict = Verdict(0.0, "error", {"rule": "worker_error", "error": f"{type(e).__name__}: {e}"[:1000]})
    if verdict.status == "error" and str(verdict.detail.get("error", "")).startswith("MemoryError"):
        cap = resource.getrlimit(resource.RLIMIT_AS)[0]
        verdict = Verdict(0.0, "error", {**verdict.detail, "rule": "memory_limit",
                                         "memory_mb": cap // 2**20 if cap > 0 else None})
    return task_id, verdict


class VerifierPool:
    def __init__(self, workers: int = 2, timeout_s: float = 10.0, cache: bool = True, cache_size: int = 100_000,
                 prestart_math: bool = True, memory_mb: int | None = 4096, *, plugins=(),
                 startup_timeout_s: float = procs.STARTUP_TIMEOUT_S):
        """`plugins`: verifier names the workers import as they start; one that `map` sees first is imported by
        each worker before its next task, under the same `startup_timeout_s` bound, never under a task's deadline."""
        self.n, self.timeout_s, self.cache_on, self.cache_size = workers, timeout_s, cache, cache_size
        self.prestart_math, self.memory_mb, self.startup_timeout_s = prestart_math, memory_mb, startup_timeout_s
        self.plugins = plugin_names(plugins)
        self.said: set = set()  # keys of what the pool has said already: each once per pool
        self.notes: list[str] = []  # those lines, for a caller that shows them (the CLI; a run has them in its log)
        self.cache: collections.OrderedDict[str, Verdict] = collections.OrderedDict()
        self.stats = collections.Counter()  # tasks, cache_hits, timeouts, worker_deaths
        self.workers = [self._start() for _ in range(workers)]

    def _start(self) -> procs.Worker:
        w = procs.Worker("rlvr.verifiers.pool:work", "rlvr.verifiers.plugin_imports:warm_up",
                         memory_mb=self.memory_mb, warm_args=(self.prestart_math, self.plugins))
        w.imported = self.plugins  # `_run` sends it an IMPORT request for any plug-in named later
        return w

    def __enter__(self) -> "VerifierPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for w in self.workers:
            w.kill()
        self.workers = []

    def _replace(self, w: procs.Worker) -> None:
        w.kill()
        self.workers[self.workers.index(w)] = self._start()

    def _deadline(self, name: str, options: dict) -> float:
        own = getattr(build_options(name, options), "timeout_s", None)
        # a non-positive `timeout_s` never gets here: `build_options` refuses it (it was silently replaced)
        return min(self.timeout_s, own) if isinstance(own, (int, float)) else self.timeout_s

    def _told_deadline(self, name: str, options: dict) -> dict:
        """`options` with `timeout_s` set to the task's deadline when the verifier has that option, so that its own
        limits (the code sandbox's wall clock) end strictly inside the deadline this pool enforces."""
        if not hasattr(build_options(name, options), "timeout_s"):
            return options
        return {**options, "timeout_s": self._deadline(name, options)}

    def map(self, jobs: list[Job]) -> list[tuple[float, dict[str, Verdict]]]:
        if not self.workers:
            raise RuntimeError("VerifierPool is closed")
        per_spec: dict[tuple, tuple[dict, float]] = {}  # (name, options) -> (options sent, deadline): once per map

        def told(spec: VerifierSpec) -> tuple[dict, float]:
            key = (spec.name, json.dumps(spec.options, sort_keys=True, default=repr))
            if key not in per_spec:
                validate([spec])
                per_spec[key] = (self._told_deadline(spec.name, spec.options), self._deadline(spec.name, spec.options))
            return per_spec[key]

        jobs = [parts(job) for job in jobs]
        for _, _, specs, _ in jobs:  # fail early on an unknown verifier or option, before any work is sent
            for spec in specs:
                told(spec)
        names = {spec.name for _, _, specs, _ in jobs for spec in specs}
        self.plugins = plugin_names({*self.plugins, *names})
        keys: dict[str, tuple] = {}  # digest -> task; identical tasks run once
        limits: dict[str, float] = {}
        hits: dict[str, Verdict] = {}
        slots: list[list[str]] = []
        for completion, reference, specs, context in jobs:
            row = []
            for spec in specs:
                seen = context_read(spec.name, context)  # None for most: their tasks and keys stay as they were
                digest = hashlib.sha256(cache_key(spec, completion, reference, seen).encode()).hexdigest()
                row.append(digest)
                if self.cache_on and digest in self.cache:
                    hits[digest] = self.cache[digest]
                elif digest not in keys:
                    options, limits[digest] = told(spec)
                    keys[digest] = (digest, spec.name, options, completion, reference, seen)
            slots.append(row)
        self.stats["tasks"] += sum(len(r) for r in slots)
        self.stats["cache_hits"] += sum(len(r) for r in slots) - len(keys)
        done = {**hits, **self._run(list(keys.values()), limits)}
        say_unisolated(done.values())  # here, not in the workers: this process writes the run's log
        return [combine(specs, [done[d] for d in row]) for (_, _, specs, _), row in zip(jobs, slots)]

    def _run(self, tasks: list[tuple], limits: dict[str, float]) -> dict[str, Verdict]:
        pending, done = collections.deque(tasks), {}
        limits = {**limits, IMPORT: self.startup_timeout_s}
        while pending or any(w.task for w in self.workers):
            for w in list(self.workers):
                if w.ready and w.task is None and pending:
                    missing = tuple(p for p in self.plugins if p not in getattr(w, "imported", self.plugins))
                    task = (IMPORT, missing) if missing else pending.popleft()
                    if w.send(task):
                        w.task = task
                    else:
                        self._died(done, w, task)
            now = time.monotonic()
            waits = [w.started + limits[w.task[0]] - now if w.task else w.started + self.startup_timeout_s - now
                     for w in self.workers if w.task or not w.ready]
            ready, _, _ = select.select([w.fd for w in self.workers], [], [], max(0.0, min(waits, default=0.05)))
            for w in list(self.workers):
                if w.fd in ready:
                    try:
                        got = w.poll()
                    except procs.Died:
                        if w.ready:
                            self._died(done, w, w.task)
                        else:
                            self._failed_start(done, pending, w, self._start_failed(w))
                        continue
                    if w.ready:
                        self.stats["failed_starts"] = 0
                    if got is not None and w.task:
                        self._answer(done, w, got)
                    for key, line in warm_note_lines(w.warm_note):  # its start-up's or a later import's findings
                        self._say(key, line)
                    w.warm_note = None
                elif w.task and w.task[0] == IMPORT and time.monotonic() - w.started >= limits[IMPORT]:
                    self._failed_start(done, pending, w, self._not_ready())
                elif w.task and time.monotonic() - w.started >= limits[w.task[0]]:
                    self.stats["timeouts"] += 1
                    self._finish(done, w.task, Verdict(0.0, "timeout", {"rule": "deadline",
                                                                          "timeout_s": limits[w.task[0]]}))
                    self._replace(w)
                elif not w.ready and time.monotonic() - w.started >= self.startup_timeout_s:
                    self._failed_start(done, pending, w, self._not_ready())
        return done

    def _not_ready(self) -> str:
        """Why a worker was given up on: the same words for a start-up and for a later import (said once)."""
        imports = f" (start and import the plug-in verifiers {list(self.plugins)})" if self.plugins else ""
        return f"a verification worker did not get ready{imports} within {self.startup_timeout_s:g} s"

    @staticmethod
    def _start_failed(w: procs.Worker) -> str:
        """Why a worker died before it was ready: the exception its start-up raised, or else how it ended."""
        if w.start_failure:
            return f"a verification worker could not start: {w.start_failure}"
        return f"a verification worker died while starting: {w.exit_reason()[1]}"

    def _answer(self, done: dict, w: procs.Worker, got: tuple) -> None:
        if got[0] == IMPORT:
            w.imported, w.warm_note = (*w.imported, *w.task[1]), got[1]
        else:
            self._finish(done, None, got[1], got[0])
        w.task = None

    def _failed_start(self, done: dict, pending: collections.deque, w: procs.Worker, why: str) -> None:
        """A worker that died or timed out before it was ready: replaced, and said once; after MAX_FAILED_STARTS in a
        row the pending tasks get `worker_cannot_start` errors with the reason, instead of respawning forever."""
        self.stats["worker_deaths"] += 1
        self.stats["failed_starts"] += 1
        if why not in self.said and w.start_traceback:  # who debugs the cause finds where it was raised
            log.warning("%s; its traceback:\n%s", why, w.start_traceback.rstrip(), extra=FILE_ONLY)
        self._say(why, f"{why}; it is replaced")
        self._replace(w)
        if self.stats["failed_starts"] >= MAX_FAILED_STARTS and pending:
            for task in pending:
                self._finish(done, task, Verdict(0.0, "error", {"rule": "worker_cannot_start", "error": why}))
            pending.clear()

    def _say(self, key, line: str) -> None:
        """Log `line` once per pool (per `key`): a slow or failing plug-in import, a worker that cannot start."""
        if key not in self.said:
            self.said.add(key)
            self.notes.append(line)
            log.warning(line)

    def _died(self, done: dict, w: procs.Worker, task: tuple | None) -> None:
        self.stats["worker_deaths"] += 1
        if task is not None and task[0] != IMPORT:  # the exit code tells os._exit from the OOM killer (SIGKILL)
            code, why = w.exit_reason()
            self._finish(done, task, Verdict(0.0, "error", {"rule": "worker_died", "exit_code": code, "error": why}))
        self._replace(w)

    def _finish(self, done: dict, task: tuple | None, verdict: Verdict, digest: str | None = None) -> None:
        digest = digest or task[0]
        done[digest] = verdict
        if self.cache_on and verdict.status not in ("error", "timeout"):  # those may pass on a retry
            self.cache[digest] = verdict
            self.cache.move_to_end(digest)
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
