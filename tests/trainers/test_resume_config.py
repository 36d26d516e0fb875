"""Resuming with another config: a run of another algorithm, or LoRA against all weights, is refused as such (its
checkpoints cannot load into this policy; before, each was skipped as if damaged); other changes are named, and
the optimizer settings among them are the ones the resumed run trains with."""

import pytest
import torch

from rlvr.trainers.checkpoint import CheckpointError, config_changes
from rlvr.trainers.loop import Trainer
from rlvr.trainers.optimizer import lr_factor
from rlvr.trainers.run_config import validate_config


def _cfg(run_dir, algorithm="grpo", lora=None, steps=4, **optim):
    return validate_config({
        "model": {"path": "tiny", "lora": lora},
        "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 16}},
        "verify": {"workers": 1},
        "train": {
            "algorithm": algorithm, "steps": steps, "prompts_per_step": 2, "seed": 1,
            "grpo": {"group_size": 2}, "ppo": {"group_size": 2},
            "optim": {"lr": 1e-4, "micro_batch_size": 4, **optim}, "checkpoint": {"dir": str(run_dir)},
        },
    })


def _one_step_run(run_dir, **settings):
    """A run of one GRPO step and its checkpoint (`settings` as `_cfg` takes them); its run dir."""
    trainer = Trainer(_cfg(run_dir, **settings), resume=False, log=lambda _m: None)
    try:
        trainer.run_step()
        trainer.save()
    finally:
        trainer.close()
    return run_dir


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory, warm_model):
    return _one_step_run(tmp_path_factory.mktemp("resume-config") / "run")


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


def test_a_resume_trains_with_the_configs_lr_and_weight_decay_not_the_checkpoints(tmp_path, warm_model):
    """The audit's run: resumed with train.optim.lr 3e-05 -> 0.0001, the log said so, but torch's load_state_dict put
    the checkpoint's lr (and weight decay, and the scheduler's base lr) back: steps 9-10 logged lr 3e-05, and the
    next checkpoint's config said 0.0001, so the following resume no longer mentioned it."""
    run = _one_step_run(tmp_path / "run", lr=3e-5)
    lines = []
    trainer = Trainer(_cfg(run, lr=1e-4, weight_decay=0.1), resume=True, log=lines.append)
    try:
        row = trainer.run_step()
        group = trainer.optimizer.param_groups[0]
        assert (row["step"], row["lr"], group["lr"], group["weight_decay"]) == (2, 1e-4, 1e-4, 0.1), (row, group)
        assert trainer.scheduler.base_lrs == [1e-4]
        saved = trainer.save()
    finally:
        trainer.close()
    assert ("resuming with a changed config: train.optim.lr 3e-05 -> 0.0001, train.optim.weight_decay 0.0 -> 0.1"
            in lines), lines
    state = torch.load(saved / "trainer_state.pt", weights_only=False)
    group = state["optimizer"]["param_groups"][0]
    assert (group["lr"], group["weight_decay"]) == (1e-4, 0.1)
    assert state["scheduler"]["base_lrs"] == [1e-4]


def test_a_changed_schedule_runs_from_the_restored_step_as_in_a_fresh_run_of_the_new_config(tmp_path, warm_model):
    """The lr is the new config's schedule at the step, whatever the checkpoint's schedule was: a linear decay
    stretched from 4 to 8 steps gives step 2 the lr a fresh 8-step run gives it (before: the old schedule's lr for
    the first resumed step, the new one's after it); `train.steps` is named then, since it moves the lr."""
    run = _one_step_run(tmp_path / "run", schedule="linear")
    lines = []
    cfg = _cfg(run, steps=8, schedule="linear", warmup_steps=1)
    trainer = Trainer(cfg, resume=True, log=lines.append)
    try:
        rows = [trainer.run_step() for _ in range(2)]
    finally:
        trainer.close()
    expected = [1e-4 * lr_factor(step, cfg.train.optim, 8) for step in (1, 2)]  # scheduler steps done before each
    assert [row["lr"] for row in rows] == pytest.approx(expected, rel=1e-12), rows
    assert expected[0] != 1e-4 * lr_factor(1, _cfg(run, schedule="linear").train.optim, 4)  # the old schedule's
    assert "resuming with a changed config: train.optim.warmup_steps 0 -> 1, train.steps 4 -> 8" in lines, lines


def test_config_changes_lists_each_differing_leaf():
    saved = {"train": {"steps": 4, "optim": {"lr": 1e-4, "betas": [0.9, 0.99]}}, "model": {"lora": None}}
    now = {"train": {"steps": 8, "optim": {"lr": 1e-4, "betas": [0.9, 0.95]}}, "model": {"lora": {"r": 8}}}
    assert config_changes(saved, now) == {"model.lora": (None, {"r": 8}), "train.optim.betas": ([0.9, 0.99], [0.9, 0.95]),
                                          "train.steps": (4, 8)}


def test_a_setting_added_to_rlvr_since_the_checkpoint_is_no_change_of_the_run():
    saved = {"train": {"steps": 4}}
    now = {"train": {"steps": 4, "stop_after_failing_steps": 3}, "eval": {"n": 4}}
    assert config_changes(saved, now) == {}


def test_list_items_are_compared_setting_by_setting():
    """A setting added to the eval suites' TaskConfig (`columns`, `suite`) made every resume report `eval.tasks [...]
    -> [...]`, two sides that looked the same once cut to 60 characters; a change names its item and setting."""
    saved = {"eval": {"tasks": [{"name": "arith", "split": "test", "limit": 100}]}}
    assert config_changes(saved, {"eval": {"tasks": [{"name": "arith", "split": "test", "limit": 100, "columns": None,
                                                      "suite": None}]}}) == {}
    assert config_changes(saved, {"eval": {"tasks": [{"name": "arith", "split": "test", "limit": 50}]}}) == {
        "eval.tasks.0.limit": (100, 50)}
    grown = {"eval": {"tasks": [{"name": "arith", "split": "test", "limit": 100}, {"name": "gsm8k"}]}}
    assert list(config_changes(saved, grown)) == ["eval.tasks"]  # another number of suites: the list as a whole


LORA = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, warm_model):
    return _one_step_run(tmp_path_factory.mktemp("resume-lora") / "run", lora=LORA)


@pytest.mark.parametrize("change, said", [
    ({"r": 8}, "model.lora.r=4"),
    ({"target_modules": ["q_proj", "k_proj", "v_proj"]}, "model.lora.target_modules=q_proj,v_proj"),  # widened
    ({"target_modules": ["q_proj"]}, "model.lora.target_modules=q_proj,v_proj"),
])
def test_a_changed_lora_shape_is_refused_up_front_with_the_setting_to_resume_with(lora_run, change, said):
    from rlvr.flows.errors import exit_code

    lines = []
    with pytest.raises(CheckpointError) as err:
        Trainer(_cfg(lora_run, lora={**LORA, **change}), resume=True, log=lines.append)
    assert str(err.value) == (f"{lora_run}: this run trained with {said} (step-1); resume with it, or choose another "
                              "train.checkpoint.dir")
    assert exit_code(err.value) == 2
    assert not [line for line in lines if line.startswith("skipped checkpoint")], lines  # not taken for damage


def test_a_changed_lora_alpha_resumes_with_a_warning_that_it_rescales_the_adapter(lora_run):
    lines = []
    trainer = Trainer(_cfg(lora_run, lora={**LORA, "alpha": 32, "target_modules": ["v_proj", "q_proj"]}), resume=True,
                      log=lines.append)
    try:
        assert trainer.step == 1  # the same modules in another order: the same adapter
    finally:
        trainer.close()
    assert [line for line in lines if line.startswith("warning: model.lora.alpha")] == [
        "warning: model.lora.alpha 8 -> 32 scales the trained adapter's update by 4x (alpha / r): the resumed policy "
        "is not the one saved; resume with model.lora.alpha=8 to continue the same run"], lines
