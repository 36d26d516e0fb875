"""Resuming with another config: a run of another algorithm, or LoRA against all weights, is refused as such (its
checkpoints cannot load into this policy; before, each was skipped as if damaged); other changes are named."""

import pytest

from rlvr.trainers.checkpoint import CheckpointError, config_changes
from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import validate_config


def _cfg(run_dir, algorithm="grpo", lora=None, **optim):
    return validate_config({
        "model": {"path": "tiny", "lora": lora},
        "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 16}},
        "verify": {"workers": 1},
        "train": {
            "algorithm": algorithm, "steps": 4, "prompts_per_step": 2, "seed": 1,
            "grpo": {"group_size": 2}, "ppo": {"group_size": 2},
            "optim": {"lr": 1e-4, "micro_batch_size": 4, **optim}, "checkpoint": {"dir": str(run_dir)},
        },
    })


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory, warm_model):
    run_dir = tmp_path_factory.mktemp("resume-config") / "run"
    trainer = Trainer(_cfg(run_dir), resume=False, log=lambda _m: None)
    try:
        trainer.run_step()
        trainer.save()
    finally:
        trainer.close()
    return run_dir


@pytest.mark.parametrize("change, said", [
    ({"algorithm": "ppo"}, "holds a run of train.algorithm grpo (step-1); this config trains ppo"),
    ({"lora": {"r": 4}}, "holds a run of model.lora all weights (step-1); this config trains LoRA"),
])
def test_a_run_of_another_algorithm_or_adapter_kind_is_refused_as_such(grpo_run, change, said):
    with pytest.raises(CheckpointError, match=said.replace("(", r"\(").replace(")", r"\)")):
        Trainer(_cfg(grpo_run, **change), resume=True, log=lambda _m: None)


def test_other_changes_are_named_when_the_run_resumes(grpo_run):
    lines = []
    trainer = Trainer(_cfg(grpo_run, lr=5e-4), resume=True, log=lines.append)
    try:
        assert trainer.step == 1
    finally:
        trainer.close()
    assert "resuming with a changed config: train.optim.lr 0.0001 -> 0.0005" in lines, lines


def test_config_changes_lists_each_differing_leaf():
    saved = {"train": {"steps": 4, "optim": {"lr": 1e-4, "betas": [0.9, 0.99]}}, "model": {"lora": None}}
    now = {"train": {"steps": 8, "optim": {"lr": 1e-4, "betas": [0.9, 0.95]}}, "model": {"lora": {"r": 8}}}
    assert config_changes(saved, now) == {"model.lora": (None, {"r": 8}), "train.optim.betas": ([0.9, 0.99], [0.9, 0.95]),
                                          "train.steps": (4, 8)}


def test_a_setting_added_to_rlvr_since_the_checkpoint_is_no_change_of_the_run():
    saved = {"train": {"steps": 4}}
    now = {"train": {"steps": 4, "stop_after_failing_steps": 3}, "eval": {"n": 4}}
    assert config_changes(saved, now) == {}
