"""A hub id as model.path is checked before the device, in one metadata call: a model that does not exist, or a hub
that cannot be reached with nothing cached, is one BadInput line (exit 2) instead of a minute of download retries
ending in exit 1; a model in the local Hugging Face cache passes without the network."""

import pytest
from huggingface_hub import constants, hf_api

from rlvr.flows.bootstrap import check_model_path
from rlvr.flows.errors import BadInput

MISSING = "rlvr-tests/no-such-model-7f3a"


def _cache_config(cache, repo_id):
    """The hub cache's layout for one file: models--org--name/{refs/main, snapshots/<commit>/config.json}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("0" * 40) / "config.json").write_text('{"model_type": "qwen2"}')


@pytest.fixture
def unreachable_hub(tmp_path, monkeypatch):
    """An empty hub cache, and a hub endpoint where nothing listens (the same with or without a network)."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hf_api.api, "endpoint", "http://127.0.0.1:9")
    return tmp_path


def test_a_hub_id_that_cannot_be_reached_nor_found_in_the_cache_is_one_bad_input_line(unreachable_hub):
    with pytest.raises(BadInput) as caught:
        check_model_path(MISSING)
    said = str(caught.value)
    assert said.startswith(f"model.path {MISSING}: not a local directory, not in the local Hugging Face cache, and the "
                           "hub cannot be reached (ConnectError") and "\n" not in said, said


def test_a_cached_hub_model_passes_and_offline_mode_names_a_missing_one(unreachable_hub, monkeypatch):
    _cache_config(unreachable_hub, MISSING)
    check_model_path(MISSING)  # the hub is unreachable here, but the cache holds it: transformers can load it
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    check_model_path(MISSING)
    with pytest.raises(BadInput, match="not in the local Hugging Face cache, and HF_HUB_OFFLINE is set"):
        check_model_path("rlvr-tests/another-missing-model")


def test_a_string_that_is_no_hub_id_says_so():
    with pytest.raises(BadInput, match="neither a local directory nor a valid hub id"):
        check_model_path("my model!!")


@pytest.mark.parametrize("command", [["eval", MISSING], ["train", f"model.path={MISSING}"]])
def test_the_cli_checks_the_model_before_prefect_starts(command, tmp_path):
    """`rlvr eval <hub id>` took 28-33 s to say the id cannot be used: Prefect's temporary server started first."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    rlvr = str(Path(sys.executable).with_name("rlvr"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path), "RLVR_HOME": str(tmp_path)}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([rlvr, *command, "-c", str(Path(__file__).resolve().parents[2] / "configs" / "arith_grpo.yaml")],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    shown = done.stdout + done.stderr
    assert done.returncode == 2 and f"model.path {MISSING}: not in the local Hugging Face cache" in shown, shown
    assert "Starting temporary server" not in shown and "Flow run" not in shown, shown


def test_tiny_needs_no_check(unreachable_hub):
    check_model_path("tiny")  # built on first use; neither a directory nor a hub id
