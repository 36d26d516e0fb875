"""Session-wide fixtures: the warm-started tiny model, built once per machine and cached.

The cache defaults to `<repo>/.cache/rlvr` (git-ignored) so CI re-runs on the same machine reuse it;
set RLVR_CACHE to share one elsewhere.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("RLVR_CACHE", str(REPO / ".cache" / "rlvr"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def warm_model() -> Path:
    """Path of the SFT-warm-started tiny model (`model.path: tiny`)."""
    from rlvr.trainers.bootstrap import bootstrap_tiny

    return bootstrap_tiny(log=lambda _msg: None)
