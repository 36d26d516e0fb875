"""End-to-end flow runs in Prefect's ephemeral mode (one temporary API for the session): the demo
(evaluate -> train -> evaluate), artifacts, resuming, refusing to overwrite, and a bad config failing the run."""

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.flows.flow_helpers import CONFIG, REPO, tiny_overrides

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(prefect_session, model_path, tmp_path_factory):
    from rlvr.flows.demo import demo_flow

    run_dir = tmp_path_factory.mktemp("demo") / "run"
    overrides = [*tiny_overrides(run_dir, model_path), "train.report_to=[tensorboard, mlflow]"]
    return demo_flow(config_path=CONFIG, overrides=overrides), run_dir, overrides


def _flow_run_logs(flow_run_id) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return "\n".join(log.message for log in logs)


def test_demo_evaluates_trains_and_evaluates_again(demo_run):
    result, run_dir, _ = demo_run
    train = result["train"]
    assert train["step"] == 2 and Path(train["checkpoint"]) == (run_dir / "checkpoints" / "step-2").resolve()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all({"reward_mean", "accuracy", "tokens_per_s", "zero_variance_frac"} <= set(r) for r in rows)

    before = json.loads(Path(result["before"]["saved"]["report"]).read_text())
    after = json.loads((run_dir / "checkpoints" / "step-2" / "eval.json").read_text())
    for report in (before, after):
        suite = report["suites"]["arith-l2-test"]
        assert suite["problems"] == 8 and sum(suite["status_counts"].values()) == 16  # 8 problems x n=2
        assert {"pass@1", "pass@2", "maj@1", "maj@2", "greedy_accuracy"} <= set(suite)
        assert 0.0 <= suite["pass@1"] <= suite["pass@2"] <= 1.0
    assert before["step"] is None and after["step"] == 2
    # every completion with its verdict, beside the report: what a user reads to see why a sample was wrong
    assert after["samples_file"] == "eval.samples.jsonl" and "samples" not in after
    rows = [json.loads(line) for line in (run_dir / "checkpoints" / "step-2" / "eval.samples.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["suite"] for r in rows} == {"arith-l2-test"} and all(r["prompt"] for r in rows)
    for row in rows:
        assert [s["status"] for s in row["samples"]] == row["status"] and len(row["samples"]) == 2
        assert all(isinstance(s["text"], str) and s["finish"] in ("stop", "length") for s in row["samples"])
        assert row["greedy_sample"]["status"] == row["greedy"]

    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run_dir / "best.json").read_text())["checkpoint"] == "checkpoints/step-2"
    assert (run_dir / "best").resolve() == (run_dir / "checkpoints" / "step-2").resolve()
    assert "| arith-l2-test | pass@1 |" in result["summary"] and "curves.png" in result["summary"]


def test_the_run_reports_to_tensorboard_and_mlflow(demo_run):
    """Read back with each library's own reader: one point per step of metrics.jsonl, same values."""
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run_dir, _ = demo_run
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    expected = [(r["step"], round(r["reward_mean"], 5)) for r in rows]
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert [(e.step, round(e.value, 5)) for e in events.Scalars("train/reward_mean")] == expected
    client = MlflowClient(tracking_uri=f"sqlite:///{(run_dir / 'mlflow.db').resolve()}")
    run = client.get_run((run_dir / "mlflow_run_id").read_text().strip())
    history = sorted((m.step, round(m.value, 5)) for m in client.get_metric_history(run.info.run_id, "reward_mean"))
    assert history == expected and run.data.params["name"] == "flows-test"


def test_training_and_evaluation_artifacts_are_published(demo_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    keys = ["flows-test-metrics", "flows-test-curve", "flows-test-samples", "flows-test-eval", "flows-test-demo"]
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    by_key = {a.key: a for a in sorted(found, key=lambda a: a.created)}  # the latest version of each key
    assert set(keys) <= set(by_key)
    assert "| 2 |" in by_key["flows-test-metrics"].data
    assert "data:image/png;base64," in by_key["flows-test-curve"].data
    samples = json.loads(by_key["flows-test-samples"].data)
    assert samples and {"problem", "completion", "status", "pred", "gold"} <= set(samples[0])
    assert "arith-l2-test" in by_key["flows-test-eval"].data
    assert "| arith-l2-test | pass@1 |" in by_key["flows-test-demo"].data


def test_evaluating_an_earlier_checkpoint_writes_its_report_and_keeps_a_single_best(demo_run):
    from rlvr.flows.evaluate import evaluate_flow

    _, run_dir, _ = demo_run
    step1 = run_dir / "checkpoints" / "step-1"
    report = evaluate_flow(str(step1))  # the config comes from the checkpoint's config.json
    assert report["step"] == 1 and (step1 / "eval.json").is_file()
    best = json.loads((run_dir / "best.json").read_text())
    step2_score = json.loads((run_dir / "checkpoints" / "step-2" / "eval.json").read_text())["score"]
    expected = "checkpoints/step-1" if report["score"] > step2_score else "checkpoints/step-2"
    assert best["checkpoint"] == expected and report["saved"]["best"] == (expected == "checkpoints/step-1")


def test_a_checkpoint_copied_out_of_its_run_is_evaluated_and_marks_no_best(demo_run, tmp_path):
    """Renamed (`final/`), or kept as `models/step-7/` without its trainer state (deleted to save disk): both are
    evaluated and reported beside themselves; neither has a run whose best it could be."""
    from rlvr.flows.evaluate import evaluate_flow

    _, run_dir, _ = demo_run
    final, kept = tmp_path / "final", tmp_path / "models" / "step-7"
    for copy in (final, kept):
        shutil.copytree(run_dir / "checkpoints" / "step-2", copy, ignore=shutil.ignore_patterns("eval*"))
    (kept / "trainer_state.pt").unlink()
    best_before = (run_dir / "best.json").read_text()
    for copy, step in ((final, None), (kept, 7)):
        report = evaluate_flow(str(copy), overrides=["eval.greedy=false"])  # other settings: eval-<digest>.json
        assert report["step"] == step and report["saved"]["best"] is False
        assert json.loads(Path(report["saved"]["report"]).read_text())["score"] == report["score"]
        assert Path(report["saved"]["report"]).parent == copy.resolve()
    assert not [p.name for p in tmp_path.rglob("best*")]
    assert (run_dir / "best.json").read_text() == best_before


def test_a_rerun_of_a_finished_run_starts_nothing_and_returns_its_evaluation(demo_run):
    from rlvr.flows.train import train_flow

    _, run_dir, overrides = demo_run
    report = run_dir / "checkpoints" / "step-2" / "eval.json"
    saved = report.read_text()
    state = train_flow(config_path=CONFIG, overrides=overrides, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert result["step"] == 2 and result["eval"]["score"] == json.loads(saved)["score"]
    assert result["eval"]["saved"] == {"report": str(report.resolve()), "best": False} and report.read_text() == saved
    logs = _flow_run_logs(state.state_details.flow_run_id)
    assert "nothing to train: flows-test is already at step 2 of 2" in logs
    assert f"its evaluation with this eval config is in {report.resolve()}" in logs
    assert "training all weights" not in logs and "eval arith-l2-test" not in logs  # no trainer, no sampling


def test_the_served_evaluation_skips_a_checkpoint_evaluated_since_it_was_saved(demo_run):
    """Two runs of the served deployment for one checkpoint (its event's and a catch-up's): the second finds the
    report written after the checkpoint on the same basis and leaves it; a changed eval config or a checkpoint
    saved again is evaluated."""
    from rlvr.flows.evaluate import evaluate_flow

    _, run_dir, _ = demo_run
    step2 = run_dir / "checkpoints" / "step-2"
    report = step2 / "eval.json"
    saved = report.read_text()
    state = evaluate_flow(str(step2), skip_evaluated=True, return_state=True)
    assert state.is_completed() and report.read_text() == saved
    assert state.result()["score"] == json.loads(saved)["score"]
    logs = _flow_run_logs(state.state_details.flow_run_id)
    assert "step-2 was evaluated with this eval config after it was saved" in logs and "eval arith-l2-test" not in logs

    other = evaluate_flow(str(step2), overrides=["eval.params.max_tokens=8"], skip_evaluated=True)
    assert other["sampling"]["max_tokens"] == 8 and Path(other["saved"]["report"]).name != "eval.json"
    assert report.read_text() == saved  # the run's own report stays; one with other settings goes beside it
    later = report.stat().st_mtime + 1
    os.utime(step2 / "trainer_state.pt", (later, later))  # saved again after its report
    again = evaluate_flow(str(step2), skip_evaluated=True, return_state=True)
    assert "eval arith-l2-test" in _flow_run_logs(again.state_details.flow_run_id)


def test_a_rerun_resumes_from_the_latest_checkpoint(demo_run):
    from rlvr.flows.train import train_flow

    _, run_dir, overrides = demo_run
    state = train_flow(config_path=CONFIG, overrides=[*overrides, "train.steps=3"], final_eval=False, return_state=True)
    assert state.is_completed(), state.message
    assert state.result()["step"] == 3 and (run_dir / "checkpoints" / "step-3").is_dir()
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    logs = _flow_run_logs(state.state_details.flow_run_id)
    assert "resuming from step 2" in logs and "step 3/3 loss " in logs and " reward " in logs


def test_no_resume_on_a_run_with_checkpoints_fails_instead_of_overwriting(demo_run):
    from rlvr.flows.train import train_flow

    _, run_dir, overrides = demo_run
    state = train_flow(config_path=CONFIG, overrides=overrides, resume=False, return_state=True)
    assert state.is_failed() and "already holds checkpoints" in state.message
    assert (run_dir / "checkpoints" / "step-3").is_dir()


def test_a_bad_config_fails_the_flow_run_with_the_validation_message(prefect_session):
    from prefect.client.orchestration import get_client

    from rlvr.flows.train import train_flow

    state = train_flow(config={"train": {"steps": 0, "stepz": 1}}, return_state=True)
    assert state.is_failed()
    assert "train.steps: Input should be greater than or equal to 1" in state.message
    assert "train.stepz: unknown field" in state.message
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.state.is_failed() and "train.steps" in flow_run.state.message


def test_io_tasks_retry_transient_os_errors_only(prefect_session):
    from prefect import flow, task

    from rlvr.flows.bootstrap import retry_on_io

    calls = {"io": 0, "bug": 0}

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=retry_on_io)
    def flaky(kind: str):
        calls[kind] += 1
        if kind == "io" and calls["io"] == 1:
            raise ConnectionError("hub unreachable")
        if kind == "bug":
            raise ValueError("a bug")
        return "ok"

    @flow
    def both():
        return flaky("io"), flaky("bug", return_state=True)

    ok, bug = both()
    assert ok == "ok" and calls["io"] == 2  # retried once
    assert bug.is_failed() and calls["bug"] == 1  # never retried


def test_the_evaluation_flow_runs_on_the_dataset_tasks_from_local_files(prefect_session, model_path, tmp_path):
    """GSM8K, MATH-500, HumanEval and MBPP (small fixture files) through the evaluation flow with the tiny model:
    the scores are near zero; what is shown is that every suite is loaded, sampled, verified and reported."""
    from rlvr.flows.evaluate import evaluate_flow

    fixtures = REPO / "tests" / "data" / "fixtures"
    suites = {
        "gsm8k": fixtures / "gsm8k" / "test.jsonl", "math500": fixtures / "math500" / "test.jsonl",
        "humaneval": fixtures / "humaneval" / "HumanEval.jsonl", "mbpp": fixtures / "mbpp" / "mbpp.jsonl",
    }
    tasks = ", ".join(f"{{name: {name}, split: test, source: '{path}', limit: 3}}" for name, path in suites.items())
    overrides = [*tiny_overrides(tmp_path / "run", model_path), f"eval.tasks=[{tasks}]"]
    report = evaluate_flow(model_path, config_path=CONFIG, overrides=overrides)
    assert set(report["suites"]) == {"gsm8k-test", "math500-test", "humaneval-test", "mbpp-test"}
    for name, suite in report["suites"].items():
        assert suite["problems"] >= 1 and sum(suite["status_counts"].values()) == suite["problems"] * 2, name
        assert 0.0 <= suite["pass@1"] <= 1.0
    assert report["suites"]["humaneval-test"]["maj@2"] is None  # code: no extracted answer to vote on
    assert Path(report["saved"]["report"]).is_file()


def _eval_file_with_a_bad_row(tmp_path) -> Path:
    rows = (REPO / "tests" / "data" / "fixtures" / "gsm8k" / "test.jsonl").read_text()
    path = tmp_path / "gsm8k-eval.jsonl"
    path.write_text(rows + '{"question": "a row without its answer"}\n')
    return path


@pytest.fixture
def loader_records():
    """The data loader's records (on its own logger: Prefect's logging setup may replace the root's handlers,
    caplog's among them)."""
    import logging

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    keep, logger = Keep(), logging.getLogger("rlvr.data.loading")
    logger.addHandler(keep)
    yield keep.messages
    logger.removeHandler(keep)


def _bad_row_warnings(messages) -> list[str]:
    return [m for m in messages if "skipped 1 bad row" in m]


def test_a_bad_eval_row_is_reported_once_by_the_training_flow(prefect_session, model_path, tmp_path, loader_records):
    """The flow reads the eval data before the device (to fail early) and evaluates with those same problems: one
    warning for the bad row, not one per read."""
    from rlvr.flows.train import train_flow

    source = _eval_file_with_a_bad_row(tmp_path)
    overrides = [*tiny_overrides(tmp_path / "run", model_path), "train.steps=1",
                 f"eval.tasks=[{{name: gsm8k, split: test, source: '{source}'}}]"]
    result = train_flow(config_path=CONFIG, overrides=overrides, final_eval=True)
    assert result["eval"]["suites"]["gsm8k-test"]["problems"] == 3
    assert len(_bad_row_warnings(loader_records)) == 1, _bad_row_warnings(loader_records)


def test_the_evaluation_flow_reports_a_bad_row_once(prefect_session, model_path, tmp_path, loader_records):
    from rlvr.flows.evaluate import evaluate_flow

    source = _eval_file_with_a_bad_row(tmp_path)
    overrides = [*tiny_overrides(tmp_path / "run", model_path), f"eval.tasks=[{{name: gsm8k, split: test, source: '{source}'}}]"]
    report = evaluate_flow(model_path, config_path=CONFIG, overrides=overrides)
    assert report["suites"]["gsm8k-test"]["problems"] == 3
    assert len(_bad_row_warnings(loader_records)) == 1, _bad_row_warnings(loader_records)


def test_a_run_without_final_evaluation_does_not_read_the_eval_data(prefect_session, model_path, tmp_path):
    """`rlvr train --no-eval`: an eval file that is missing (e.g. on another machine) does not stop the training."""
    from rlvr.flows.train import train_flow

    overrides = [*tiny_overrides(tmp_path / "run", model_path), "train.steps=1",
                 f"eval.tasks=[{{name: gsm8k, split: test, source: '{tmp_path / 'absent.jsonl'}'}}]"]
    result = train_flow(config_path=CONFIG, overrides=overrides, final_eval=False)
    assert result["step"] == 1 and result["eval"] is None


def test_a_lora_checkpoint_is_evaluated_on_its_own_base_and_rank_whatever_the_config(prefect_session, model_path,
                                                                                    tmp_path):
    """`rlvr eval <lora ckpt> -c other.yaml`: the other config has no model.lora (this crashed on `.r` of None) and
    may name another base (the adapter went onto it silently); the checkpoint's own base and rank are used."""
    from rlvr.flows.eval_target import eval_config, resolve_target
    from rlvr.flows.evaluate import evaluate_flow
    from rlvr.flows.train import train_flow

    run_dir = tmp_path / "lora-run"
    trained = [*tiny_overrides(run_dir, model_path), "train.steps=1", "model.lora={r: 4, alpha: 8}"]
    train_flow(config_path=CONFIG, overrides=trained, final_eval=False)
    checkpoint = str(run_dir / "checkpoints" / "step-1")
    other = [*tiny_overrides(tmp_path / "other", model_path), "model.path=some-org/another-base"]
    cfg = eval_config(resolve_target(checkpoint), CONFIG, other)
    assert cfg.model.path == model_path and cfg.model.lora.r == 4
    report = evaluate_flow(checkpoint, config_path=CONFIG, overrides=other)
    assert report["suites"]["arith-l2-test"]["problems"] == 8
