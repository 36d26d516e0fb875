"""Session-wide fixtures: the warm-started tiny model, built once per machine and cached.

The cache defaults to `<repo>/.cache/rlvr` (git-ignored) so CI re-runs on the same machine reuse it;
set RLVR_CACHE to share one elsewhere.
"""

import os
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("RLVR_CACHE", str(REPO / ".cache" / "rlvr"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# `make test` runs two pytest-xdist workers on two cores. Each torch (OpenMP) pool would otherwise start a thread
# per core and spin while it waits, so the two workers' pools fight over the same cores (measured on
# tests/trainers: 216 s with the default threads, 180 s with one each, 252 s serial). Set before torch is imported;
# the processes the tests start inherit it.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))
# The stop tests send SIGINT as Ctrl-C in a terminal does, to a command started as a terminal starts it. A suite
# started in the background (`make test &`, a CI runner's shell) has SIGINT ignored, and every process it starts
# would inherit that: `rlvr verify` (which keeps the default handler) then scored on through the test's Ctrl-C.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def warm_model() -> Path:
    """Path of the SFT-warm-started tiny model (`model.path: tiny`)."""
    from rlvr.trainers.bootstrap import bootstrap_tiny

    return bootstrap_tiny(log=lambda _msg: None)
