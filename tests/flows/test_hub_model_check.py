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


KNOWN = "rlvr-tests/known-model"


@pytest.fixture
def counting_hub(tmp_path, monkeypatch):
    """A hub endpoint on this machine that knows one model (KNOWN), says 'not found' for any other, and counts the
    metadata calls per repo id; an empty hub cache."""
    import json
    import threading
    from collections import Counter
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls = Counter()

    class Hub(BaseHTTPRequestHandler):
        def do_GET(self):
            repo = self.path.split("?")[0].removeprefix("/api/models/")
            calls[repo] += 1
            found = repo == KNOWN
            body = json.dumps({"id": repo} if found else {"error": "Repository not found"}).encode()
            self.send_response(200 if found else 404)
            if not found:  # what the hub sends, and huggingface_hub turns into RepositoryNotFoundError
                self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_api.api, "endpoint", f"http://127.0.0.1:{server.server_port}")
    yield calls
    server.shutdown()


def _finished_run(run_dir):
    """A run directory whose newest checkpoint is at train.steps=1 and looks whole: a rerun trains nothing and loads
    no model, so the hub is asked only by the model check."""
    import torch
    from safetensors.torch import save_file

    ckpt = run_dir / "checkpoints" / "step-1"
    (ckpt / "model").mkdir(parents=True)
    torch.save({"step": 1}, ckpt / "trainer_state.pt")
    save_file({"w": torch.zeros(1)}, str(ckpt / "model" / "model.safetensors"))


def test_rlvr_train_asks_the_hub_about_its_model_once(counting_hub, prefect_session, tmp_path, capsys):
    """Was: the command checked model.path before Prefect started, then its flow checked it again: two hub calls."""
    from rlvr.flows import cli
    from tests.flows.flow_helpers import CONFIG, tiny_overrides

    run = tmp_path / "run"
    _finished_run(run)
    assert cli.main(["train", "--no-eval", "-c", CONFIG, *tiny_overrides(run, KNOWN), "train.steps=1"]) == 0, \
        capsys.readouterr().err
    assert f"trained {run.resolve()} to step 1" in capsys.readouterr().out
    assert counting_hub == {KNOWN: 1}


def test_a_training_flow_run_without_the_command_checks_its_model_itself(counting_hub, prefect_session, tmp_path):
    """A served (deployment) or scripted run has no command in front of it: its flow asks the hub, once, and a model
    the hub does not have ends the run in one line before anything trains."""
    from rlvr.flows.train import train_flow
    from tests.flows.flow_helpers import CONFIG, tiny_overrides

    run = tmp_path / "run"
    _finished_run(run)
    assert train_flow(config_path=CONFIG, overrides=[*tiny_overrides(run, KNOWN), "train.steps=1"], final_eval=False)
    assert counting_hub == {KNOWN: 1}
    state = train_flow(config_path=CONFIG, overrides=[*tiny_overrides(tmp_path / "other", MISSING), "train.steps=1"],
                       final_eval=False, return_state=True)
    assert state.is_failed() and f"model.path {MISSING}: no such model on the hub" in state.message, state.message
    assert counting_hub == {KNOWN: 1, MISSING: 1} and not (tmp_path / "other" / "checkpoints").exists()
