"""`verify.memory_mb` caps the process that runs plug-in verifiers under every runner, not only `pool`: under Dask
(and Ray) each chunk runs in a one-process VerifierPool on the worker, which must get the configured cap too."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rlvr.verifiers.config import VerifierSpec, VerifyConfig
from rlvr.verifiers.task_runner import make_pool, verify_chunk

HOG = [VerifierSpec.model_construct(name="memory_hog_verifier:hog", weight=1.0, options={})]
# 1 GiB is under the default 4 GiB cap and past the 256 MiB one; 16 MiB is under both
JOBS = [("1024", "big", HOG), ("16", "small", HOG)]


@pytest.fixture(autouse=True, scope="module")
def hog_importable():
    here = str(Path(__file__).parent)
    sys.path.insert(0, here)  # pool workers and Dask's spawned workers inherit it
    yield
    sys.path.remove(here)


def _assert_capped_at_256(results):
    (reward, verdicts), (small, _) = results
    v = verdicts["memory_hog_verifier:hog"]
    assert reward == 0.0 and (v.status, v.detail["rule"]) == ("error", "memory_limit"), v
    assert v.detail["memory_mb"] == 256
    assert small == 1.0  # under the cap the same verifier works


def test_a_worker_chunk_gets_the_configured_cap():
    # what a Dask or Ray worker runs for each chunk
    _assert_capped_at_256(verify_chunk(JOBS, timeout_s=30.0, cache=False, memory_mb=256))


@pytest.mark.slow
@pytest.mark.parametrize("runner, package", [("dask", "prefect_dask"), ("ray", "prefect_ray")])
def test_cluster_runners_apply_memory_mb(runner, package):
    pytest.importorskip(package, reason=f"{package} is not installed")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        pool = make_pool(VerifyConfig(runner=runner, workers=1, timeout_s=30.0, memory_mb=256, cache=False))
        try:
            _assert_capped_at_256(pool.map(JOBS))
        finally:
            pool.close()
