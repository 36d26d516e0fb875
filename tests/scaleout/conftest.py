"""Fixtures shared by the multi-process training tests (DDP and FSDP2 on gloo)."""

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A random-init tiny model (seed 0): the ranks and the one-process reference load the same weights."""
    from rlvr.trainers.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny", seed=0)
