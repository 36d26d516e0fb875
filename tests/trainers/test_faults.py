"""Damaged run state and failing verifiers, on the real tiny model: a resume falls back to the newest checkpoint
that loads and says which one it skipped and why; a metrics line cut off by a kill is dropped, not fatal; a step
whose every verdict is error/timeout says so on its console line."""

import shutil
import sys

import pytest
import torch
from safetensors.torch import load_file

from rlvr.trainers.checkpoint import MODEL_DIR, STATE_FILE, CheckpointError
from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import validate_config


def _cfg(run_dir, **verify):
    return validate_config({
        "model": {"path": "tiny"},
        "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 16}},
        "verify": {"workers": 1, **verify},
        "train": {
            "algorithm": "grpo", "steps": 3, "prompts_per_step": 2, "seed": 7,
            "grpo": {"group_size": 2}, "optim": {"lr": 1e-3, "micro_batch_size": 4},
            "checkpoint": {"dir": str(run_dir), "every": 1, "keep": 5},
        },
    })


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory, warm_model):
    """A run dir after 2 steps (checkpoints step-1 and step-2) and metrics rows 1, 2."""
    run = tmp_path_factory.mktemp("faults") / "run"
    trainer = Trainer(_cfg(run), resume=False, log=lambda _m: None)
    try:
        trainer.train(steps=2)
    finally:
        trainer.close()
    return run


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


def test_a_step_whose_every_verdict_failed_warns_with_the_counts(tmp_path, monkeypatch, warm_model):
    plugin = tmp_path / "broken_rewards.py"
    plugin.write_text("def score(completion, reference, options=None):\n    raise RuntimeError('scorer bug')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    lines = []
    trainer = Trainer(_cfg(tmp_path / "run", verifiers=[{"name": "broken_rewards:score"}]), resume=False, log=lines.append)
    try:
        trainer.train(steps=1)
    finally:
        trainer.close()
        sys.modules.pop("broken_rewards", None)
    step_line = next(line for line in lines if line.startswith("step 1/"))
    assert "WARNING: every verdict is error/timeout (error 4, timeout 0)" in step_line, lines


def test_a_second_verifier_whose_every_verdict_failed_is_named_on_the_step_line(tmp_path, monkeypatch, warm_model):
    """math is right or wrong; a raising plug-in beside it at weight 0.5 only lowers the reward: named, not silent."""
    plugin = tmp_path / "broken_second.py"
    plugin.write_text("def score(completion, reference, options=None):\n    raise RuntimeError('scorer bug')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    lines = []
    verifiers = [{"name": "math", "weight": 1.0}, {"name": "broken_second:score", "weight": 0.5}]
    trainer = Trainer(_cfg(tmp_path / "run", verifiers=verifiers), resume=False, log=lines.append)
    try:
        trainer.train(steps=1)
        row = trainer.metrics.read()[-1]
    finally:
        trainer.close()
        sys.modules.pop("broken_second", None)
    step_line = next(line for line in lines if line.startswith("step 1/"))
    assert ("WARNING: verifier 'broken_second:score': every verdict is error/timeout (error 4, timeout 0): "
            "it adds nothing to the reward") in step_line, lines
    assert "WARNING: every verdict" not in step_line  # math, the primary, is judging fine
    assert row["status/broken_second:score/error"] == 1.0 and row["status/error"] == 0.0
