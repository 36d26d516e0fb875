"""Deployments against a real `prefect server` on 127.0.0.1: `rlvr serve` registers the scheduled training and the
triggered evaluation; a training run's `rlvr.checkpoint.saved` events make the server run an evaluation of each
checkpoint, which writes its report, marks the best checkpoint and publishes its artifact."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.flow_helpers import (
    CONFIG,
    REPO,
    free_port,
    start_prefect_server,
    start_process,
    stop_process,
    tiny_overrides,
    wait_for,
)

pytestmark = pytest.mark.slow
NAME = "flows-server"


@pytest.fixture(scope="module")
def server(prefect_server):
    return prefect_server


@pytest.fixture(scope="module")
def served(server, model_path, tmp_path_factory):
    """`rlvr serve` running in the background with the tiny config; yields (api_url, run_dir)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url, env = server
    run_dir = tmp_path_factory.mktemp("served") / "run"
    log = run_dir.parent / "serve.log"
    proc = start_process([sys.executable, "-m", "rlvr.flows.cli", "serve", "-c", CONFIG,
                   *tiny_overrides(run_dir, model_path, name=NAME)], env, log)

    def registered():
        with get_client(sync_client=True) as client:
            try:
                client.read_deployment_by_name(f"train/{NAME}")
                client.read_deployment_by_name("evaluate/on-checkpoint")
            except Exception:  # noqa: BLE001 - not there yet
                return False
            return bool(client.read_automations_by_name("evaluate-saved-checkpoint"))

    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            wait_for("the served deployments", registered, 180, proc, log)
            yield url, run_dir, log
    finally:
        stop_process(proc)


def test_deployments_are_registered_with_schedule_and_trigger(served):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        train = client.read_deployment_by_name(f"train/{NAME}")
        automation = client.read_automations_by_name("evaluate-saved-checkpoint")[0]
    assert train.schedules and train.schedules[0].schedule.cron == "0 2 * * *"
    assert train.parameters["final_eval"] is False and f"train.checkpoint.dir={served[1]}" in train.parameters["serve_overrides"]
    assert automation.trigger.expect == {"rlvr.checkpoint.saved"}


def test_the_server_scheduler_turns_the_training_schedule_into_runs(served):
    """The nightly cron is not only registered: the server's scheduler service makes scheduled runs of it (it
    failed on every loop under SQLAlchemy 2.1, `Can't evaluate bulk DML statement`, so the cron never fired)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    _, _, log = served
    with get_client(sync_client=True) as client:
        train = client.read_deployment_by_name(f"train/{NAME}")
        runs_filter = DeploymentFilter(id=DeploymentFilterId(any_=[train.id]))

        def scheduled():
            runs = [r for r in client.read_flow_runs(deployment_filter=runs_filter) if r.state.is_scheduled()]
            return runs or None

        runs = wait_for("scheduled runs of the training deployment", scheduled, 120, log=log)
    assert all(r.expected_start_time.hour == 2 and r.expected_start_time.minute == 0 for r in runs), runs


def test_a_training_run_triggers_an_evaluation_of_each_checkpoint(served):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        DeploymentFilter,
        DeploymentFilterId,
    )
    from prefect.deployments import run_deployment

    _, run_dir, log = served
    flow_run = run_deployment(f"train/{NAME}", timeout=400, poll_interval=2)
    assert flow_run.state.is_completed(), f"{flow_run.state.message}\n{log.read_text()[-4000:]}"
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-1", "step-2"]

    with get_client(sync_client=True) as client:
        evaluate = client.read_deployment_by_name("evaluate/on-checkpoint")
        runs_filter = DeploymentFilter(id=DeploymentFilterId(any_=[evaluate.id]))

        mine = str((run_dir / "checkpoints").resolve())

        def evaluations_done():  # the events' runs, and a catch-up run where an event came late (a busy server)
            # this run directory's only: the session's server also holds the evaluations of test_serve_stop's runs
            runs = [r for r in client.read_flow_runs(deployment_filter=runs_filter)
                    if str(Path(r.parameters["checkpoint"]).parent) == mine]
            named = {Path(r.parameters["checkpoint"]).name for r in runs}
            return runs if named == {"step-1", "step-2"} and all(r.state.is_final() for r in runs) else None

        runs = wait_for("the triggered evaluations", evaluations_done, 400, log=log)
        states = "\n".join(f"{r.name} {r.parameters['checkpoint']}: {r.state.type.value} {r.state.message}"
                           for r in runs)
        if not all(r.state.is_completed() for r in runs):  # pytest.fail: an assert's message would be cut to 8 lines
            pytest.fail(f"{states}\n{log.read_text()[-6000:]}")
    served_log = log.read_text()
    for step in ("step-1", "step-2"):  # evaluated once each, whatever the number of runs
        assert served_log.count(f"eval report written to {run_dir.resolve() / 'checkpoints' / step}/eval.json") == 1
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[f"{NAME}-eval", f"{NAME}-metrics", f"{NAME}-samples"])))
    assert {a.key for a in artifacts} == {f"{NAME}-eval", f"{NAME}-metrics", f"{NAME}-samples"}
    for step in ("step-1", "step-2"):
        assert (run_dir / "checkpoints" / step / "eval.json").is_file()
    assert (run_dir / "best").resolve().parent == (run_dir / "checkpoints").resolve()
    assert (run_dir / "curves.png").is_file()
    from rlvr.flows.eval_pins import pending

    assert pending(run_dir) == []  # every checkpoint evaluated is unpinned


def test_a_served_run_that_fails_says_why_in_lines_and_keeps_its_traceback_on_the_server(served):
    """A bad override given to the served training: the serve console gets one line per Prefect error record (it
    got ~100 lines with three tracebacks); the traceback is still in the run's logs on the server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.deployments import run_deployment

    _, _, log = served
    start = log.stat().st_size
    flow_run = run_deployment(f"train/{NAME}", parameters={"overrides": ["train.stepz=3"]}, timeout=240,
                              poll_interval=2)
    assert flow_run.state.is_failed(), flow_run.state
    said = lambda: log.read_bytes()[start:].decode(errors="replace")  # noqa: E731
    wait_for("the runner's line on the failed run", lambda: "Process exited with status code: 1" in said(), 60,
             log=log)
    assert "train.stepz: unknown field" in said() and "Traceback" not in said(), said()
    with get_client(sync_client=True) as client:
        logs = lambda: client.read_logs(  # noqa: E731
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id])))
        wait_for("the run's traceback in its server logs", lambda: any("Traceback" in e.message for e in logs()), 60,
                 log=log)


def test_a_job_started_by_rlvr_launch_announces_its_checkpoints_and_they_are_evaluated(served, model_path, tmp_path):
    """docs/scaleout.md's team setup: the training is an `rlvr launch` job (no flow run); rank 0 sends each
    checkpoint's event to the configured server, whose trigger runs the served evaluation deployment on it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    url, _, log = served
    run_dir = tmp_path / "launched"
    env = {**os.environ, "PREFECT_API_URL": url, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    job = subprocess.run([sys.executable, "-m", "rlvr.flows.cli", "launch", "--nproc_per_node", "2", "-c", CONFIG,
                          *tiny_overrides(run_dir, model_path, name=NAME), "train.steps=1"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    step1 = str((run_dir / "checkpoints" / "step-1").resolve())
    with get_client(sync_client=True) as client:
        evaluate = client.read_deployment_by_name("evaluate/on-checkpoint")
        runs_filter = DeploymentFilter(id=DeploymentFilterId(any_=[evaluate.id]))

        def evaluated():
            runs = [r for r in client.read_flow_runs(deployment_filter=runs_filter) if r.parameters.get("checkpoint") == step1]
            return runs if runs and all(r.state.is_final() for r in runs) else None

        runs = wait_for("the evaluation of the launched job's checkpoint", evaluated, 400, log=log)
    assert all(r.state.is_completed() for r in runs) and (run_dir / "checkpoints" / "step-1" / "eval.json").is_file()


def test_serve_catches_up_on_pinned_checkpoints_as_it_starts_and_after_a_server_outage(served, model_path, tmp_path):
    """A checkpoint whose event was lost (pinned, no eval.json) is evaluated when `rlvr serve` starts; then, while
    serve runs, its Prefect server goes down, and a checkpoint saved meanwhile is evaluated by the running serve once
    the server is back on the same database."""
    import shutil

    from rlvr.flows.eval_pins import pending, pin

    run_dir = tmp_path / "run"
    shutil.copytree(served[1], run_dir, symlinks=True)
    step1 = run_dir / "checkpoints" / "step-1"
    (step1 / "eval.json").unlink()
    pin(step1)  # as if its event had been sent while no server was up
    home = tmp_path / "prefect"
    home.mkdir()
    port = free_port()
    server, url, env = start_prefect_server(home, port)
    log = tmp_path / "serve.log"
    proc = start_process([sys.executable, "-m", "rlvr.flows.cli", "serve", "-c", CONFIG, "--catch-up-every", "2",
                          *tiny_overrides(run_dir, model_path, name=f"{NAME}-outage")], env, log)
    step2 = run_dir / "checkpoints" / "step-2"
    def registered():
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: url}), get_client(sync_client=True) as client:
            try:
                return client.read_deployment_by_name("evaluate/on-checkpoint")
            except Exception:  # noqa: BLE001 - not there yet
                return None

    try:
        wait_for("serve to register its deployments", registered, 240, proc, log)
        wait_for("the catch-up evaluation of step-1", lambda: (step1 / "eval.json").is_file() and not pending(run_dir),
                 400, proc, log)
        stop_process(server)
        (step2 / "eval.json").unlink()
        pin(step2)  # saved while the server is down: its event is lost
        wait_for("serve to notice the outage", lambda: "unreachable" in log.read_text(), 120, proc, log)
        server, _, _ = start_prefect_server(home, port, log_name="server-again.log")
        wait_for("the evaluation of step-2 after the outage",
                 lambda: (step2 / "eval.json").is_file() and not pending(run_dir), 400, proc, log)
    finally:
        stop_process(proc)
        stop_process(server)
    text = log.read_text()
    assert "the Prefect API is back" in text and f"evaluating {step2.resolve()}" in text
    assert json.loads((step1 / "eval.json").read_text())["step"] == 1
    assert json.loads((step2 / "eval.json").read_text())["step"] == 2


def test_prefect_yaml_deploys_to_the_server(served, tmp_path):
    """`prefect deploy --all` from the repository root registers prefect.yaml's two deployments (run last: it
    re-points `evaluate/on-checkpoint` at the process work pool)."""
    from prefect.client.orchestration import get_client

    url = served[0]
    env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(tmp_path), "PWD": str(REPO)}
    prefect = str(Path(sys.executable).parent / "prefect")
    for cmd in ([prefect, "work-pool", "create", "rlvr-local", "--type", "process"],
                [prefect, "--no-prompt", "deploy", "--all"]):
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with get_client(sync_client=True) as client:
        train = client.read_deployment_by_name("train/arith-grpo")
        evaluate = client.read_deployment_by_name("evaluate/on-checkpoint")
        automations = client.read_automations_by_name("evaluate-saved-checkpoint")
    assert train.work_pool_name == evaluate.work_pool_name == "rlvr-local"
    assert train.schedules[0].schedule.cron == "0 2 * * *" and train.parameters["final_eval"] is False
    assert train.pull_steps[0]["prefect.deployments.steps.set_working_directory"]["directory"] == str(REPO)
    assert any(a.actions[0].parameters == {"checkpoint": "{{ event.payload.path }}"} for a in automations)
