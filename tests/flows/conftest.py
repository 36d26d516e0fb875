"""Fixtures of the flow tests: a session-wide Prefect (temp home, temp database, analytics off), a real
`prefect server` for the tests that start `rlvr` commands, and the model."""

import os
import tempfile

import pytest

from tests.flows.flow_helpers import free_port, start_prefect_server, stop_process

# Before Prefect is imported anywhere: a private home, no telemetry, patience with a busy 2-core machine.
_HOME = tempfile.mkdtemp(prefix="rlvr-flows-prefect-")
os.environ["PREFECT_HOME"] = _HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_TO_API_BATCH_INTERVAL", "0.3")
# Device holds and run logs of this session (and of the `rlvr` commands it starts) stay out of the shared cache.
os.environ["RLVR_LOCK_DIR"] = tempfile.mkdtemp(prefix="rlvr-flows-locks-")
os.environ["RLVR_LOG_DIR"] = tempfile.mkdtemp(prefix="rlvr-flows-logs-")


@pytest.fixture(scope="session")
def prefect_session():
    """Flows in this session run against one temporary Prefect API (an ephemeral server on a temp database)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def model_path(warm_model) -> str:
    """The warm-started tiny model as a `model.path` value."""
    return str(warm_model)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """A `prefect server start` on a free local port with its own home and database; yields (api_url, env)."""
    home = tmp_path_factory.mktemp("prefect-server")
    proc, url, env = start_prefect_server(home, free_port())
    try:
        yield url, env
    finally:
        stop_process(proc)
