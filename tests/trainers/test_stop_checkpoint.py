"""A stop signal (Ctrl-C, SIGTERM) keeps the steps done since the last checkpoint: the trainer saves its last
completed step (`Trainer.save_stopped`, called by the flows), and the resumed run goes on as if never stopped.
A stop inside an optimizer update saves nothing (the weights are then neither step's) and says what is lost."""

import pytest

from rlvr.trainers.checkpoint import latest_checkpoint
from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import validate_config


def _cfg(run_dir, steps=3):
    return validate_config({
        "model": {"path": "tiny"},
        "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 48, "temperature": 1.0}},
        "verify": {"workers": 1},
        "train": {
            "algorithm": "grpo", "steps": steps, "prompts_per_step": 4, "seed": 3,
            "grpo": {"group_size": 4}, "optim": {"lr": 1e-4, "micro_batch_size": 16},
            "checkpoint": {"dir": str(run_dir), "every": 100},
        },
    })


def _texts(trainer):
    return [(g.problem.id, [c.text for c in g.completions]) for g in trainer.last_groups]


def _quiet(cfg, resume=False):
    return Trainer(cfg, resume=resume, log=lambda _m: None)


def test_a_stop_during_the_rollout_saves_the_last_step_and_the_run_resumes_as_if_never_stopped(tmp_path, warm_model):
    straight = _quiet(_cfg(tmp_path / "straight"))
    try:
        expected = [straight.run_step() for _ in range(3)]
        expected_texts = _texts(straight)
    finally:
        straight.close()

    run_dir = tmp_path / "stopped"
    trainer = _quiet(_cfg(run_dir))
    try:
        assert trainer.save_stopped() == "the same command resumes from step 0"  # nothing done, nothing saved
        trainer.run_step()
        trainer.run_step()
        trainer.collect()  # step 3's rollout, cut here by the signal: the data cursor and the RNG have moved on
        note = trainer.save_stopped()
    finally:
        trainer.close()
    assert note == f"saved {run_dir / 'checkpoints' / 'step-2'}; the same command resumes from step 2"
    assert latest_checkpoint(run_dir).name == "step-2"

    resumed = _quiet(_cfg(run_dir), resume=True)
    try:
        assert resumed.step == 2
        row = resumed.run_step()
        assert _texts(resumed) == expected_texts  # the same problems (data cursor), the same samples
    finally:
        resumed.close()
    assert [r["step"] for r in resumed.metrics.read()] == [1, 2, 3]
    for key in ("reward_mean", "accuracy", "loss", "completion_len_mean"):
        assert row[key] == pytest.approx(expected[2][key], rel=1e-4, abs=1e-5), key


def test_a_stop_inside_an_optimizer_update_saves_nothing_and_says_what_is_lost(tmp_path, warm_model):
    trainer = _quiet(_cfg(tmp_path, steps=5))
    try:
        trainer.run_step()
        trainer.save()
        assert trainer.save_stopped() == "the same command resumes from step 1 (checkpoint step-1)"
        trainer.run_step()
        step = trainer.optimizer.step

        def step_then_signal(*args, **kwargs):  # the signal arrives just after the weights moved
            step(*args, **kwargs)
            raise KeyboardInterrupt

        trainer.optimizer.step = step_then_signal
        with pytest.raises(KeyboardInterrupt):
            trainer.run_step()
        note = trainer.save_stopped()
    finally:
        trainer.close()
    assert note == "stopped during an optimizer update, nothing saved: the same command resumes from step 1; step 2 is lost"
    assert latest_checkpoint(tmp_path).name == "step-1"
