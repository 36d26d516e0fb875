"""Tracking (flows/tracking.py) read back with each library's own reader, checkpoint pins (flows/eval_pins.py)
against the real pruner, and the curve panels."""

import json
import os
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace

import pytest
from rlvr.flows.errors import BadInput
from rlvr.flows.tracking import check_trackers, open_tracker, scalars


def _row(step: int, reward: float) -> dict:
    return {"step": step, "reward_mean": reward, "accuracy": reward / 2, "completion_len_mean": 10.0 + step,
            "zero_variance_frac": 0.0, "note": "text is not a metric", "flag": True}


def _cfg(report_to):
    return SimpleNamespace(name="track-test", train=SimpleNamespace(report_to=report_to),
                           model_dump=lambda mode: {"train": {"steps": 4, "grpo": {"beta": 0.0}}, "name": "track-test"})


def _tensorboard_scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    return [(e.step, round(e.value, 6)) for e in acc.Scalars(tag)]


def _mlflow_history(run_dir: Path, key: str) -> list[tuple[int, float]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir.resolve() / 'mlflow.db'}")
    run_id = (run_dir / "mlflow_run_id").read_text().strip()
    return sorted((m.step, round(m.value, 6)) for m in client.get_metric_history(run_id, key))


def test_metrics_reach_tensorboard_and_mlflow_and_a_resume_logs_each_step_once(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from mlflow.tracking import MlflowClient
    from prefect.exceptions import TerminationSignal

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}")
    status = lambda: client.get_run((tmp_path / "mlflow_run_id").read_text().strip()).info.status
    with pytest.raises(KeyboardInterrupt), ExitStack() as closing:  # as flows/train.py holds it
        tracker = open_tracker(_cfg(["tensorboard", "mlflow"]), tmp_path, start_step=0)
        closing.callback(tracker.close)
        for step in (1, 2, 3):  # the run is stopped after step 3; its last checkpoint is step 2
            tracker.log(_row(step, step / 10))
        raise KeyboardInterrupt
    assert status() == "KILLED"
    resumed = open_tracker(_cfg(["tensorboard", "mlflow"]), tmp_path, start_step=2)
    assert status() == "RUNNING"
    for step in (3, 4):  # step 3 is run again
        resumed.log(_row(step, step / 10))
    resumed.close()
    assert status() == "FINISHED"
    with pytest.raises(RuntimeError), ExitStack() as closing:
        closing.callback(open_tracker(_cfg(["mlflow"]), tmp_path, start_step=4).close)
        raise RuntimeError("the final evaluation fails")
    assert status() == "FAILED"
    with pytest.raises(TerminationSignal), ExitStack() as closing:  # SIGTERM inside a Prefect flow run
        closing.callback(open_tracker(_cfg(["mlflow"]), tmp_path, start_step=4).close)
        raise TerminationSignal(signal.SIGTERM)
    assert status() == "KILLED"

    expected = [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]
    assert _tensorboard_scalars(tmp_path, "train/reward_mean") == expected
    assert _mlflow_history(tmp_path, "reward_mean") == expected
    assert _mlflow_history(tmp_path, "completion_len_mean") == [(1, 11.0), (2, 12.0), (3, 13.0), (4, 14.0)]
    run = client.get_run((tmp_path / "mlflow_run_id").read_text().strip())
    assert run.data.params["train.grpo.beta"] == "0.0" and "note" not in run.data.metrics


def _wandb_runs(run_dir: Path) -> list[list[dict]]:
    """The records of each offline W&B run under the run dir, oldest first, as wandb's own reader of its `.wandb`
    transaction log gives them back (`wandb leet inspect --json`: one JSON object per record)."""
    wandb_cli = str(Path(sys.executable).parent / "wandb")
    runs = []
    for log in sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb")):  # a resumed run's folder: `<name>-1`
        out = subprocess.run([wandb_cli, "leet", "inspect", "--json", str(log)], capture_output=True, text=True,
                             check=True, timeout=60, env={**os.environ, "WANDB_MODE": "offline"}).stdout
        runs.append([json.loads(line) for line in out.splitlines()])
    return runs


def _no_wandb_login(monkeypatch, tmp_path) -> None:
    """No W&B key, login or mode from this machine's user: what a fresh machine sees."""
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_PROJECT", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # no `wandb login` of this machine's user either
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))


def test_metrics_reach_wandb_offline_and_a_resume_logs_each_step_once(tmp_path, monkeypatch, capfd):
    """No W&B login and no WANDB_MODE: an offline run under `<run_dir>/wandb`, finished (failed) when the run
    stops, resumed as the same W&B run; read back with wandb's reader, one history row per step."""
    import psutil
    from rlvr.trainers.run_config import load_config

    from tests.flows.flow_helpers import CONFIG

    _no_wandb_login(monkeypatch, tmp_path)
    run_dir = tmp_path / "run"
    cfg = load_config(CONFIG, ["name=track-test", "train.report_to=[wandb]", f"train.checkpoint.dir={run_dir}"])
    with pytest.raises(RuntimeError, match="fails"), ExitStack() as closing:  # as flows/train.py holds it
        tracker = open_tracker(cfg, run_dir, start_step=0)
        closing.callback(tracker.close)
        for step in (1, 2, 3):
            tracker.log(_row(step, step / 10))
        raise RuntimeError("the run fails after step 3")  # its last checkpoint is step 2
    resumed = open_tracker(cfg, run_dir, start_step=2)
    for step in (3, 4):  # step 3 is run again
        resumed.log(_row(step, step / 10))
    resumed.close()

    said = capfd.readouterr()
    assert said.err == "" and said.out.count("\n") == 2, said  # one line per run of ours, nothing from wandb
    assert f"upload it with `wandb sync {run_dir / 'wandb'}`" in said.out
    assert not [p for p in psutil.Process().children(recursive=True) if "wandb" in p.name()]  # service stopped
    runs = _wandb_runs(run_dir)
    run_id = json.loads((run_dir / "wandb_run.json").read_text())["id"]
    assert [next(r["run"]["run_id"] for r in records if r["type"] == "run") for records in runs] == [run_id] * 2
    assert [next(r["exit"]["exit_code"] for r in records if r["type"] == "exit") for records in runs] == [1, 0]
    history = [r["history"] for records in runs for r in records if r["type"] == "history"]
    assert [h["step"]["num"] for h in history] == [1, 2, 3, 4]  # one row per step: the redone step 3 once
    for h in history:  # each row: every numeric metric of the logged row, under train/, and nothing else
        step = h["step"]["num"]
        metrics = {k.removeprefix("train/"): v for k, v in h["item"].items() if not k.startswith("_")}
        assert h["item"]["_step"] == step and metrics == pytest.approx(scalars(_row(step, step / 10)))
    config = next(r["run"]["config"]["update"] for r in runs[0] if r["type"] == "run")
    assert config["name"] == "track-test" and config["train"]["report_to"] == ["wandb"]
    assert config["train"]["grpo"]["beta"] == cfg.train.grpo.beta and config["model"]["path"] == cfg.model.path


def test_a_damaged_wandb_run_file_starts_a_new_wandb_run_instead_of_failing_the_resume(tmp_path, monkeypatch, capfd):
    from rlvr.trainers.run_config import load_config

    from tests.flows.flow_helpers import CONFIG

    _no_wandb_login(monkeypatch, tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "wandb_run.json").write_text('{"id": "abc", "logged_up')  # cut off by a kill
    cfg = load_config(CONFIG, ["name=track-test", "train.report_to=[wandb]", f"train.checkpoint.dir={run_dir}"])
    tracker = open_tracker(cfg, run_dir, start_step=2)
    tracker.log(_row(3, 0.3))
    tracker.close()
    said = capfd.readouterr().out
    assert f"{run_dir / 'wandb_run.json'} is unreadable" in said and "this run logs to a new W&B run" in said
    state = json.loads((run_dir / "wandb_run.json").read_text())
    assert state["id"] != "abc" and state["logged_up_to"] == 3


def test_trackers_opened_before_one_that_fails_to_open_are_ended(tmp_path, monkeypatch):
    """W&B opens last and fails most (WANDB_MODE wrong, a key but no network): the MLflow run opened before it
    must not stay RUNNING forever."""
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _no_wandb_login(monkeypatch, tmp_path)
    monkeypatch.setenv("WANDB_MODE", "sideways")
    with pytest.raises(Exception, match="sideways"):
        open_tracker(_cfg(["mlflow", "wandb"]), tmp_path, start_step=0)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}")
    assert client.get_run((tmp_path / "mlflow_run_id").read_text().strip()).info.status == "FAILED"


@pytest.mark.parametrize("name", ["tensorboard", "mlflow", "wandb"])
def test_a_tracker_that_is_not_installed_is_one_clear_error(name, monkeypatch):
    monkeypatch.setitem(sys.modules, name, None)  # what an environment without the package looks like to import
    with pytest.raises(BadInput, match=rf"train.report_to lists {name}, which is not installed: pip install 'rlvr\[track\]'"):
        check_trackers([name])
    check_trackers([])  # nothing asked, nothing needed


def test_a_run_name_wandb_refuses_as_a_project_is_one_clear_error_before_the_run(monkeypatch):
    """W&B names the project after the run unless WANDB_PROJECT is set; wandb refuses `/` and friends in it, but
    only inside wandb.init, after the model has loaded: checked with the flow's other inputs instead."""
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    with pytest.raises(BadInput) as refused:
        check_trackers(["wandb"], "team/arith-grpo")
    assert str(refused.value).startswith("train.report_to lists wandb: Invalid project name 'team/arith-grpo': ")
    assert str(refused.value).endswith("(set WANDB_PROJECT, or choose another name)")
    check_trackers(["tensorboard"], "team/arith-grpo")  # only W&B minds
    monkeypatch.setenv("WANDB_PROJECT", "arith")
    check_trackers(["wandb"], "team/arith-grpo")


def test_a_pinned_checkpoint_outlives_keep_until_unpinned(tmp_path):
    from rlvr.flows.eval_pins import pending, pin, unpin
    from rlvr.trainers.checkpoint import list_checkpoints, save_checkpoint

    def save(step):
        return save_checkpoint(tmp_path, step, lambda d: d.mkdir(parents=True), {}, {}, keep=1)

    first = save(1)
    pin(first)  # its evaluation waits for the device
    save(2)
    save(3)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-1", "step-3"] and pending(tmp_path) == [first]
    assert unpin(first) and not unpin(first)
    save(4)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-4"] and pending(tmp_path) == []


def test_the_curve_has_panels_with_smoothed_lines_and_evaluation_points(tmp_path):
    from rlvr.flows.artifacts import curve_series, plot_curves

    rows = [_row(s, (s % 3) / 3) for s in range(1, 13)]
    series = curve_series(rows, evals=[(4, 0.25), (8, 0.5)])
    assert [panel["title"] for panel in series] == ["reward", "accuracy", "completion length (tokens)"]
    reward = series[0]
    assert reward["raw"][0] == [r["step"] for r in rows] and len(reward["smooth"][1]) == len(rows)
    assert max(reward["smooth"][1]) < max(reward["raw"][1])  # smoothing flattens the 0 / 0.33 / 0.67 saw-tooth
    assert series[1]["evals"] == ([4, 8], [0.25, 0.5]) and series[0]["evals"] is None
    assert plot_curves(rows, tmp_path / "c.png", evals=[(4, 0.25)]).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_metrics_reach_an_mlflow_tracking_server(tmp_path, monkeypatch):
    """`MLFLOW_TRACKING_URI=http://...`: a real `mlflow server` (its own SQLite store) receives every step once,
    across a resume, and gives them back to MlflowClient over HTTP."""
    from mlflow.tracking import MlflowClient

    from tests.flows.flow_helpers import answers, free_port, start_process, stop_process, wait_for

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    mlflow_cli = str(Path(sys.executable).parent / "mlflow")
    log = tmp_path / "mlflow-server.log"
    server = start_process([mlflow_cli, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                            "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                            "--default-artifact-root", str(tmp_path / "artifacts")], dict(os.environ), log)
    try:
        wait_for("mlflow server", lambda: answers(f"{uri}/health"), 180, server, log)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        tracker = open_tracker(_cfg(["mlflow"]), run_dir, start_step=0)
        for step in (1, 2, 3):
            tracker.log(_row(step, step / 10))
        tracker.close()
        resumed = open_tracker(_cfg(["mlflow"]), run_dir, start_step=2)
        for step in (3, 4):
            resumed.log(_row(step, step / 10))
        resumed.close()

        client = MlflowClient(tracking_uri=uri)
        run_id = (run_dir / "mlflow_run_id").read_text().strip()
        history = sorted((m.step, round(m.value, 6)) for m in client.get_metric_history(run_id, "reward_mean"))
        run = client.get_run(run_id)
        experiment = client.get_experiment(run.info.experiment_id)
    finally:
        stop_process(server)
    assert history == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]
    assert run.data.params["train.grpo.beta"] == "0.0" and run.info.status == "FINISHED"
    assert experiment.name == "track-test"
    assert not (run_dir / "mlflow.db").exists()  # nothing went to the local fallback store
