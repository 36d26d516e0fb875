"""Damaged run state and failing verifiers, on the real tiny model: a resume falls back to the newest checkpoint
that loads and says which one it skipped and why; a metrics line cut off by a kill is dropped, not fatal; a step
whose every verdict is error/timeout says so on its console line, with the first one's reason; a verifier failing on
some verdicts is said once per run."""

import shutil
import sys

import pytest
import torch
from safetensors.torch import load_file

from rlvr.trainers.checkpoint import MODEL_DIR, STATE_FILE, CheckpointError
from rlvr.trainers.loop import Trainer
from tests.trainers.tiny_runs import run_steps, tiny_run_config


def _cfg(run_dir, **verify):
    return tiny_run_config(run_dir, verify=verify)


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory, warm_model):
    """A run dir after 2 steps (checkpoints step-1 and step-2) and metrics rows 1, 2."""
    return run_steps(_cfg(tmp_path_factory.mktemp("faults") / "run"), 2)


def _resume(run):
    lines = []
    trainer = Trainer(_cfg(run), resume=True, log=lines.append)
    return trainer, lines


def _copy(src, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(src, run)
    return run


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda ckpt: _truncate(ckpt / MODEL_DIR / "model.safetensors"), "its weights do not load"),
        (lambda ckpt: _truncate(ckpt / STATE_FILE), f"{STATE_FILE} is unreadable"),
        (lambda ckpt: (ckpt / STATE_FILE).unlink(), f"{STATE_FILE} is missing"),
    ],
    ids=["truncated-weights", "truncated-state", "deleted-state"],
)
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one_and_says_so(two_checkpoints, tmp_path, damage, reason):
    run = _copy(two_checkpoints, tmp_path)
    damage(run / "checkpoints" / "step-2")
    trainer, lines = _resume(run)
    try:
        assert trainer.step == 1
        skipped = [line for line in lines if line.startswith("skipped checkpoint")]
        assert len(skipped) == 1 and "step-2" in skipped[0] and reason in skipped[0], lines
        assert any("resumed from" in line and "step-1" in line for line in lines), lines
        saved = load_file(run / "checkpoints" / "step-1" / MODEL_DIR / "model.safetensors")
        state = trainer.policy.model.state_dict()
        for name, tensor in saved.items():  # the policy holds step-1's weights
            torch.testing.assert_close(state[name], tensor, atol=0, rtol=0)
        assert [row["step"] for row in trainer.metrics.read()] == [1]  # step 2's row goes with its checkpoint
        trainer.train(steps=1)
        assert [row["step"] for row in trainer.metrics.read()] == [1, 2]
    finally:
        trainer.close()


def test_no_loadable_checkpoint_is_an_error_not_a_fresh_start(two_checkpoints, tmp_path):
    run = _copy(two_checkpoints, tmp_path)
    for step in (1, 2):
        _truncate(run / "checkpoints" / f"step-{step}" / STATE_FILE)
    with pytest.raises(CheckpointError, match="no checkpoint in .* loads") as err:
        _resume(run)
    from rlvr.flows.errors import exit_code

    assert exit_code(err.value) == 2  # `rlvr train` ends with the one line and exit 2: the user's data to fix


def test_a_metrics_line_cut_off_by_a_kill_is_dropped_on_resume(two_checkpoints, tmp_path):
    run = _copy(two_checkpoints, tmp_path)
    metrics = run / "metrics.jsonl"
    with open(metrics, "a") as fh:
        fh.write('{"step": 3, "reward_mean": 0.')  # a kill mid-write: no closing brace, no newline
    trainer, lines = _resume(run)
    try:
        assert trainer.step == 2
        assert any("cut-off last line" in line for line in lines), lines
        trainer.train(steps=1)
        assert [row["step"] for row in trainer.metrics.read()] == [1, 2, 3]
        assert metrics.read_text().endswith("}\n")
    finally:
        trainer.close()


def test_a_damaged_metrics_row_in_the_middle_does_not_block_the_resume(two_checkpoints, tmp_path):
    run = _copy(two_checkpoints, tmp_path)
    metrics = run / "metrics.jsonl"
    rows = metrics.read_text().splitlines()
    metrics.write_text("\n".join([rows[0], '{"step": 1, "rew\x00\x00', rows[1]]) + "\n")  # damage on line 2 of 3
    trainer, lines = _resume(run)
    try:
        assert trainer.step == 2
        assert [line for line in lines if "not a JSON metrics row" in line] == [
            f"warning: {metrics}:2: skipped a line that is not a JSON metrics row (damaged?): "
            + repr('{"step": 1, "rew\x00\x00')], lines
        assert [row["step"] for row in trainer.metrics.read()] == [1, 2]
    finally:
        trainer.close()


def test_a_save_after_falling_back_keeps_the_new_checkpoint_not_the_damaged_later_ones(tmp_path, warm_model):
    run = run_steps(_cfg(tmp_path / "run"), 3)  # step-1, step-2, step-3
    for step in (2, 3):
        _truncate(run / "checkpoints" / f"step-{step}" / STATE_FILE)
    trainer = Trainer(tiny_run_config(run, checkpoint={"dir": str(run), "every": 1, "keep": 1}), resume=True,
                      log=lambda _m: None)
    try:
        assert trainer.step == 1
        trainer.train(steps=1)  # saves step-2 over the damaged one; keep=1 keeps it, the newest good checkpoint
    finally:
        trainer.close()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-2", "step-3"]
    trainer, lines = _resume(run)
    try:
        assert trainer.step == 2, lines  # step-3 skipped as damaged, the new step-2 loads
    finally:
        trainer.close()


RAISES = "def score(completion, reference, options=None):\n    raise RuntimeError('scorer bug')\n"


def _train_with_plugin(tmp_path, monkeypatch, module: str, source: str, verifiers: list[dict], steps: int):
    """Train `steps` steps with the plug-in verifier module `module` (written from `source`) among `verifiers`;
    the trainer's log lines and metrics rows."""
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    lines = []
    trainer = Trainer(_cfg(tmp_path / "run", verifiers=verifiers), resume=False, log=lines.append)
    try:
        trainer.train(steps=steps)
        return lines, trainer.metrics.read()
    finally:
        trainer.close()
        sys.modules.pop(module, None)


def test_a_step_whose_every_verdict_failed_warns_with_the_counts(tmp_path, monkeypatch, warm_model):
    lines, _ = _train_with_plugin(tmp_path, monkeypatch, "broken_rewards", RAISES, [{"name": "broken_rewards:score"}], 1)
    step_line = next(line for line in lines if line.startswith("step 1/"))
    assert "WARNING: every verdict is error/timeout (error 4, timeout 0; first: RuntimeError: scorer bug)" in step_line, lines


def test_a_second_verifier_whose_every_verdict_failed_is_named_on_the_step_line(tmp_path, monkeypatch, warm_model):
    """math is right or wrong; a raising plug-in beside it at weight 0.5 only lowers the reward: named, not silent."""
    verifiers = [{"name": "math", "weight": 1.0}, {"name": "broken_second:score", "weight": 0.5}]
    lines, rows = _train_with_plugin(tmp_path, monkeypatch, "broken_second", RAISES, verifiers, 1)
    step_line = next(line for line in lines if line.startswith("step 1/"))
    assert ("WARNING: verifier 'broken_second:score': every verdict is error/timeout (error 4, timeout 0; first: "
            "RuntimeError: scorer bug): it adds nothing to the reward") in step_line, lines
    assert "WARNING: every verdict" not in step_line  # math, the primary, is judging fine
    assert rows[-1]["status/broken_second:score/error"] == 1.0 and rows[-1]["status/error"] == 0.0
    assert rows[-1]["failure_reason/broken_second:score"] == "RuntimeError: scorer bug"  # in metrics.jsonl too


def test_a_verifier_failing_on_some_verdicts_is_said_once_per_run_with_the_reason(tmp_path, monkeypatch, warm_model):
    """Every other call raises (the worker keeps the count): each step has failures beside good verdicts."""
    flaky = (
        "import itertools\n"
        "from rlvr.verifiers.verdict import Verdict\n"
        "CALLS = itertools.count()\n"
        "def score(completion, reference, options=None):\n"
        "    if next(CALLS) % 2:\n"
        "        return 1 / 0\n"
        "    return Verdict(1.0, 'correct')\n"
    )
    verifiers = [{"name": "math", "weight": 1.0}, {"name": "flaky_rewards:score", "weight": 0.5}]
    lines, rows = _train_with_plugin(tmp_path, monkeypatch, "flaky_rewards", flaky, verifiers, 2)
    assert all(0 < row["status/flaky_rewards:score/error"] < 1 for row in rows), rows
    said = [line for line in lines if line.startswith("warning: verifier 'flaky_rewards:score'")]
    assert len(said) == 1 and "first: ZeroDivisionError: division by zero" in said[0], lines
