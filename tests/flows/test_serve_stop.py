"""`rlvr serve` against a real `prefect server`: a run's own `overrides` parameter goes on top of serve's k=v, a
served run holding the device is named by its flow run, and Ctrl-C to serve's process group while a served training
runs ends as `rlvr train` does: the steps since the last checkpoint are saved, one closing line says where, exit 130,
and the flow run is marked Crashed (was: nothing saved, no line, an asyncio ERROR, exit 0, the run `Running` for good).
The tests run in file order on one `rlvr serve` (the last one stops it)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.flow_helpers import CONFIG, start_process, stop_process, tiny_overrides, wait_for

pytestmark = pytest.mark.slow
NAME = "flows-serve-stop"


@pytest.fixture(scope="module")
def serving(prefect_server, model_path, tmp_path_factory):
    """`rlvr serve` of a 400-step training (checkpoints every 100 steps) into `run_dir`; yields (process, log, run_dir,
    serve's k=v)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url, env = prefect_server
    root = tmp_path_factory.mktemp("serve-stop")
    run_dir, log = root / "run", root / "serve.log"
    overrides = [*tiny_overrides(run_dir, model_path, name=NAME), "train.steps=400", "train.checkpoint.every=100"]
    proc = start_process([sys.executable, "-m", "rlvr.flows.cli", "serve", "-c", CONFIG, "--no-schedule",
                          *overrides], env, log)

    def registered():
        with get_client(sync_client=True) as client:
            try:
                return client.read_deployment_by_name(f"train/{NAME}")
            except Exception:  # noqa: BLE001 - not there yet
                return None

    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            wait_for("the served deployments", registered, 240, proc, log)
            yield proc, log, run_dir, overrides
    finally:
        stop_process(proc)


def test_a_runs_own_overrides_go_on_top_of_serves(serving, tmp_path):
    """`--param overrides='["train.steps=1", ...]'` replaced serve's k=v: the run trained the YAML's model into
    another run directory with the YAML's eval limits."""
    from prefect.deployments import run_deployment

    _, log, _, overrides = serving
    elsewhere = tmp_path / "run-a"
    flow_run = run_deployment(f"train/{NAME}", parameters={"overrides": ["train.steps=1",
                                                                         f"train.checkpoint.dir={elsewhere}"]},
                              timeout=300, poll_interval=2)
    assert flow_run.state.is_completed(), f"{flow_run.state.message}\n{log.read_text()[-4000:]}"
    saved = json.loads((elsewhere / "checkpoints" / "step-1" / "config.json").read_text())
    assert saved["name"] == NAME and saved["train"]["steps"] == 1 and saved["eval"]["tasks"][0]["limit"] == 8
    assert saved["model"]["path"] == next(o for o in overrides if o.startswith("model.path=")).split("=", 1)[1]
    assert flow_run.parameters["serve_overrides"] == overrides  # shown apart in the UI and `prefect flow-run inspect`


_long_run = {}  # the 400-step run that the last two tests share: one holds the device, the other stops it


def _long_training(log):
    """(flow run, log offset at its start) of the long served training, started on first use."""
    from prefect.deployments import run_deployment

    if not _long_run:
        _long_run.update(start=log.stat().st_size, flow_run=run_deployment(f"train/{NAME}", timeout=0))
    return _long_run["flow_run"], _long_run["start"]


def _said_since(log, start: int) -> str:
    return log.read_bytes()[start:].decode(errors="replace")


def test_a_served_run_holding_the_device_is_named_by_its_flow_run(serving):
    proc, log, _, _ = serving
    flow_run, start = _long_training(log)
    wait_for("step 3 of the served training", lambda: "step 3/400" in _said_since(log, start), 300, proc, log)
    holder = json.loads((Path(os.environ["RLVR_LOCK_DIR"]) / "cpu.0.lock").read_text())
    assert holder["command"] == f"flow run '{flow_run.name}' of train/{NAME}"  # was: engine.py


def test_ctrl_c_saves_the_served_trainings_steps_says_so_and_exits_130(serving):
    from prefect.client.orchestration import get_client

    proc, log, run_dir, _ = serving
    flow_run, start = _long_training(log)
    wait_for("step 3 of the served training", lambda: "step 3/400" in _said_since(log, start), 300, proc, log)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in serve's terminal does
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        pass
    said = _said_since(log, start)
    assert proc.returncode == 130, said[-4000:]
    saved = sorted((run_dir / "checkpoints").iterdir(), key=lambda p: int(p.name.split("-")[1]))
    step = int(saved[-1].name.split("-")[1])
    assert 3 <= step < 100  # the stop's save: the first checkpoint step is 100
    closing = said.strip().splitlines()[-1]
    assert closing.startswith("rlvr: stopped by SIGINT; serving ended; the flow runs under way ended: "), closing
    assert (f"train/{NAME} run '{flow_run.name}': saved {saved[-1]}; a new run of train/{NAME} resumes from step "
            f"{step}") in closing, closing  # an evaluation of test A's checkpoint may have been under way too
    assert "Traceback" not in said and "asyncio" not in said, said[-4000:]
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run.id).state.is_crashed()  # was: Running for good
