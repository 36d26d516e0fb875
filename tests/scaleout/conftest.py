"""Fixtures shared by the multi-process training tests (DDP and FSDP2 on gloo)."""

import os
import tempfile
from pathlib import Path

import pytest

# Device holds and run logs of the launches these tests start stay out of the shared cache (and its holders).
os.environ["RLVR_LOCK_DIR"] = tempfile.mkdtemp(prefix="rlvr-scaleout-locks-")
os.environ["RLVR_LOG_DIR"] = tempfile.mkdtemp(prefix="rlvr-scaleout-logs-")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A random-init tiny model (seed 0): the ranks and the one-process reference load the same weights."""
    from rlvr.trainers.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny", seed=0)
