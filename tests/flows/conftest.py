"""Fixtures of the flow tests: a session-wide Prefect (temp home, temp database, analytics off) and the model."""

import os
import tempfile

import pytest

# Before Prefect is imported anywhere: a private home, no telemetry, patience with a busy 2-core machine.
_HOME = tempfile.mkdtemp(prefix="rlvr-flows-prefect-")
os.environ["PREFECT_HOME"] = _HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_TO_API_BATCH_INTERVAL", "0.3")


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
