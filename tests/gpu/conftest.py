"""GPU tests: marked `gpu`, skipped where torch sees no CUDA device. `bench.*` must import in the verifier's
worker processes too (the coin reward lives there): the repo goes on PYTHONPATH."""

import os

import pytest

from tests.gpu.gpu_helpers import REPO


@pytest.fixture(autouse=True)
def _repo_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


@pytest.fixture(scope="session")
def random_model(tmp_path_factory):
    """A random-init tiny Qwen2 with the offline tokenizer (no SFT bootstrap needed)."""
    from rlvr.trainers.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("gpu") / "tiny", seed=0)
