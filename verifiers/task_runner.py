"""Verification of a batch on a Prefect task runner, chosen by `verify.runner`: pool | dask | ray.

    pool = make_pool(cfg.verify)          # VerifierPool for "pool", else a TaskRunnerPool
    results = pool.map(jobs)              # [(reward, {name: Verdict}), ...], same as VerifierPool.map
    pool.close()

Both are pools of verification workers (this machine's processes, or a cluster's), which is what callers store
them as (`trainer.pool`).

- `pool` (default): this machine's `VerifierPool` (worker processes, hard per-call timeout, verdict cache).
- `dask`: `prefect_dask.DaskTaskRunner` on the scheduler at `runner_address`, or, with none given, on a
  `distributed.LocalCluster` of `workers` single-threaded worker processes bound to 127.0.0.1, dashboard off.
- `ray`: `prefect_ray.RayTaskRunner` (`pip install prefect-ray`; not installed or tested here).

The batch is cut into chunks of `chunk_size` jobs; each chunk is one Prefect task run (`verify_chunk`, visible in
the UI) submitted to the runner. On the worker, the chunk is verified by a ONE-process `VerifierPool` kept per
worker thread, so every verifier call still has its hard timeout enforced by killing a process (never
`signal.alarm`) and runs under the `memory_mb` address-space cap, as in the local pool; a worker thread runs one
verification at a time: the cluster's parallelism is its thread count. Verifiers named by import path must be
importable on the workers. A chunk whose task fails twice (a lost worker, not a verifier: those become
`error`/`timeout` Verdicts) raises into the caller.
"""

from __future__ import annotations

import atexit
import functools
import threading
from typing import Any

from rlvr.verifiers.config import VerifyConfig
from rlvr.verifiers.pool import Job, VerifierPool, parts
from rlvr.verifiers.registry import takes_context, validate
from rlvr.verifiers.sandbox import say_unisolated
from rlvr.verifiers.verdict import Verdict

_HERE = threading.local()  # this worker thread's VerifierPool
_ALL_POOLS: list[VerifierPool] = []


def _pool_here(timeout_s: float, cache: bool, memory_mb: int | None, plugins=()) -> VerifierPool:
    pool = getattr(_HERE, "pool", None)
    if pool is None or (pool.timeout_s, pool.cache_on, pool.memory_mb) != (timeout_s, cache, memory_mb):
        if pool is not None:
            pool.close()
        pool = _HERE.pool = VerifierPool(workers=1, timeout_s=timeout_s, cache=cache, memory_mb=memory_mb,
                                         plugins=plugins)  # imported as its worker starts, not in a deadline
        _ALL_POOLS.append(pool)
    return pool


@atexit.register
def _close_pools() -> None:
    for pool in _ALL_POOLS:
        pool.close()


def verify_chunk(jobs: list[Job], timeout_s: float, cache: bool, memory_mb: int | None,
                 ) -> list[tuple[float, dict[str, Verdict]]]:
    """Verify `jobs` on this worker with a one-process pool (hard per-call timeout, `memory_mb` address-space cap)."""
    return _pool_here(timeout_s, cache, memory_mb, [s.name for job in jobs for s in parts(job)[2]]).map(jobs)


@functools.cache
def verify_chunk_task():
    """`verify_chunk` as a Prefect task (built on first use: `runner: pool` never imports Prefect)."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    return task(verify_chunk, name="verify_chunk", cache_policy=NO_CACHE, persist_result=False, retries=1)


class TaskRunnerPool:
    """`VerifierPool`'s interface (`map`, `close`) over a started Prefect task runner."""

    def __init__(self, runner, *, timeout_s: float, memory_mb: int | None, cache: bool = True, chunk_size: int = 16):
        self.timeout_s, self.cache, self.chunk_size, self.memory_mb = timeout_s, cache, chunk_size, memory_mb
        self.runner = runner
        self.runner.__enter__()

    def __enter__(self) -> "TaskRunnerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def map(self, jobs: list[Job]) -> list[tuple[float, dict[str, Verdict]]]:
        jobs = [parts(job) for job in jobs]
        for _, _, specs, _ in jobs:
            validate(specs)  # a config error fails here, before anything is sent to the cluster
        # a row's context is shipped to the cluster only with a job that has a verifier reading it
        jobs = [(c, r, specs, ctx if any(takes_context(s.name) for s in specs) else None) for c, r, specs, ctx in jobs]
        chunks = [jobs[i : i + self.chunk_size] for i in range(0, len(jobs), self.chunk_size)]
        params = {"timeout_s": self.timeout_s, "cache": self.cache, "memory_mb": self.memory_mb}
        futures = [self.runner.submit(verify_chunk_task(), {"jobs": c, **params}) for c in chunks]
        out: list[tuple[float, dict[str, Verdict]]] = []
        for chunk, future in zip(chunks, futures):
            # worst case: every call of the chunk times out, one after another, on a one-process pool
            bound = 60.0 + 2 * self.timeout_s * sum(len(specs) for _, _, specs, _ in chunk)
            out += future.result(timeout=bound, raise_on_failure=True)
        say_unisolated(v for _, verdicts in out for v in verdicts.values())  # the cluster's workers log elsewhere
        return out

    def close(self) -> None:
        if self.runner is not None:
            self.runner.__exit__(None, None, None)
            self.runner = None


def _dask_runner(cfg: VerifyConfig):
    from prefect_dask import DaskTaskRunner

    if cfg.runner_address:
        return DaskTaskRunner(address=cfg.runner_address)
    cluster: dict[str, Any] = dict(
        n_workers=cfg.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
    )
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster)


def _ray_runner(cfg: VerifyConfig):
    try:
        from prefect_ray import RayTaskRunner
    except ImportError:
        raise ValueError("verify.runner=ray needs the prefect-ray package: pip install prefect-ray") from None
    return RayTaskRunner(address=cfg.runner_address)


RUNNERS = {"dask": _dask_runner, "ray": _ray_runner}


def make_pool(cfg: VerifyConfig) -> VerifierPool | TaskRunnerPool:
    """The pool `cfg.runner` names: this machine's VerifierPool, or a TaskRunnerPool on Dask / Ray."""
    if cfg.runner == "pool":  # the plug-ins are named now, so the workers import them as they first start
        return VerifierPool(workers=cfg.workers, timeout_s=cfg.timeout_s, cache=cfg.cache, memory_mb=cfg.memory_mb,
                            plugins=[s.name for s in cfg.verifiers or ()])
    return TaskRunnerPool(RUNNERS[cfg.runner](cfg), timeout_s=cfg.timeout_s, cache=cfg.cache, chunk_size=cfg.chunk_size,
                          memory_mb=cfg.memory_mb)
