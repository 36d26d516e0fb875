"""Verification on a Prefect task runner: `verify.runner: dask` on a LocalCluster of 2 workers on 127.0.0.1 gives
the verdicts the local process pool gives, and each worker still enforces the hard per-call timeout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from rlvr.verifiers.config import VerifierSpec, VerifyConfig
from rlvr.verifiers.pool import VerifierPool
from rlvr.verifiers.task_runner import TaskRunnerPool, make_pool

HERE = str(Path(__file__).parent)
MATH = [VerifierSpec(name="math")]
SLEEPY = [VerifierSpec.model_construct(name="scaleout_rewards:sleepy", weight=1.0, options={})]  # importable below

JOBS = [
    (r"so the answer is \boxed{5}", "5", MATH),  # correct
    (r"\boxed{7}", "5", MATH),  # wrong
    ("I do not know", "5", MATH),  # no answer (or a fallback miss)
    (r"#### 12", "12", MATH),  # GSM8K style
    ("0", "x", SLEEPY),  # returns at once
    ("60", "y", SLEEPY),  # overruns timeout_s: killed from outside, `timeout`
]


@pytest.fixture(scope="module")
def on_path():
    sys.path.insert(0, HERE)  # Dask's spawned workers and the pools' workers inherit it
    yield
    sys.path.remove(HERE)


@pytest.fixture(scope="module")
def dask_pool(on_path):
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        pool = make_pool(VerifyConfig(runner="dask", workers=2, timeout_s=3.0, chunk_size=2))
        try:
            yield pool
        finally:
            pool.close()


def _summary(results):
    return [(reward, {name: v.status for name, v in verdicts.items()}) for reward, verdicts in results]


@pytest.mark.slow
def test_dask_runner_gives_the_local_pools_verdicts_with_hard_timeouts(dask_pool):
    assert isinstance(dask_pool, TaskRunnerPool)
    started = time.monotonic()
    got = dask_pool.map(JOBS)
    assert time.monotonic() - started < 50  # the 60 s sleeper was killed at 3 s, not waited for
    cluster = dask_pool.runner._cluster  # made on first use
    assert len(cluster.scheduler_info["workers"]) == 2
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    hosts = {w["host"] for w in cluster.scheduler_info["workers"].values()}
    assert hosts == {"127.0.0.1"}
    with VerifierPool(workers=1, timeout_s=3.0) as pool:
        expected = pool.map(JOBS)
    assert _summary(got) == _summary(expected)
    statuses = [next(iter(v.values())).status for _, v in got]
    assert statuses[0] == "correct" and statuses[1] == "wrong" and statuses[-1] == "timeout"
    assert got[-1][1]["scaleout_rewards:sleepy"].detail["rule"] == "deadline"


@pytest.mark.slow
def test_dask_runner_fails_early_on_an_unknown_verifier(dask_pool):
    bad = [VerifierSpec.model_construct(name="no_such_verifier", weight=1.0, options={})]
    with pytest.raises(ValueError, match="unknown verifier"):
        dask_pool.map([("x", "y", bad)])


def test_pool_runner_is_the_local_process_pool():
    pool = make_pool(VerifyConfig(workers=1))
    try:
        assert isinstance(pool, VerifierPool) and pool.n == 1
    finally:
        pool.close()


def test_ray_runner_without_prefect_ray_says_what_to_install():
    pytest.importorskip("prefect")
    try:
        import prefect_ray  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="pip install prefect-ray"):
            make_pool(VerifyConfig(runner="ray"))
    else:
        pytest.skip("prefect-ray is installed: a real Ray test belongs on a machine with a Ray cluster")


def test_runner_field_is_validated():
    with pytest.raises(ValueError, match="runner"):
        VerifyConfig(runner="spark")
