"""Each run its own directory: the default `train.checkpoint.dir` follows the run's name, a directory holding a run of
another name or task is refused (it was resumed: the audit's run `other-run` on arith trained on from run `mini`'s qa
checkpoint in the shared `runs/default`), and another run's checkpoint is resumed only when named, in
`train.checkpoint.resume_from` (TRL's resume_from_checkpoint, verl's resume_from_path)."""

import pytest
import torch

from rlvr.flows.errors import exit_code
from rlvr.trainers.checkpoint import CheckpointError, step_dirs
from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import ConfigError, load_config, validate_config
from tests.trainers.tiny_runs import run_steps


@pytest.mark.parametrize("name, folder", [
    ("mini", "runs/mini"),
    ("other-run", "runs/other-run"),
    ("my run/v2", "runs/my-run-v2"),  # one folder, not two
    ("../../etc", "runs/etc"),  # never out of runs/
    ("qa.v1_final", "runs/qa.v1_final"),
    ("///", "runs/run"),
])
def test_the_default_run_directory_follows_the_name(name, folder):
    assert load_config(None, [f"name={name}"]).train.checkpoint.dir == folder


def test_a_directory_the_config_names_is_kept():
    assert load_config(None, ["name=mini", "train.checkpoint.dir=/tmp/x"]).train.checkpoint.dir == "/tmp/x"
    # a config dumped and read back (a served flow's parameters, a checkpoint's config.json) keeps its directory
    cfg = load_config(None, ["name=mini"])
    assert validate_config({**cfg.model_dump(mode="json"), "name": "b"}).train.checkpoint.dir == "runs/mini"


def _cfg(run_dir, name="mini", task="arith", resume_from=None):
    return validate_config({
        "name": name,
        "model": {"path": "tiny"},
        "task": {"name": task, "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 16}},
        "verify": {"workers": 1},
        "train": {"steps": 3, "prompts_per_step": 2, "seed": 1, "grpo": {"group_size": 2},
                  "optim": {"lr": 1e-4, "micro_batch_size": 4},
                  "checkpoint": {"dir": str(run_dir), "every": 1,
                                 **({"resume_from": resume_from} if resume_from else {})}},
    })


@pytest.fixture(scope="module")
def mini_run(tmp_path_factory, warm_model):
    """Run `mini` on arith, one step, checkpointed: its run dir."""
    return run_steps(_cfg(tmp_path_factory.mktemp("run-dir") / "shared"), 1)


@pytest.mark.parametrize("change, this", [
    ({"name": "other-run"}, "run 'other-run' (task arith)"),
    ({"task": "code"}, "run 'mini' (task code)"),
])
def test_a_directory_holding_a_run_of_another_name_or_task_is_refused(mini_run, change, this):
    lines = []
    with pytest.raises(CheckpointError) as refused:
        Trainer(_cfg(mini_run, **change), resume=True, log=lines.append)
    assert str(refused.value) == (
        f"{mini_run} holds run 'mini' (task arith) (step-1), not this config's {this}: give this run a directory of "
        "its own (train.checkpoint.dir; unset, it is runs/<name>); to resume that run, use its name and task; to "
        f"train on from its checkpoint on purpose, set train.checkpoint.resume_from={mini_run}/checkpoints/step-1")
    assert exit_code(refused.value) == 2
    assert not [line for line in lines if line.startswith(("resum", "training"))], lines  # refused before any load
    assert [p.name for p in step_dirs(mini_run)] == ["step-1"]  # untouched


def test_resume_from_continues_another_runs_checkpoint_in_a_directory_of_its_own(mini_run, tmp_path):
    """Named on purpose, the checkpoint of run `mini` (arith) is resumed by run `other-run` on code: its weights,
    step and optimizer state; `other-run` saves in its own directory and, restarted, resumes from there."""
    own = tmp_path / "other"
    cfg = _cfg(own, name="other-run", task="code", resume_from=str(mini_run / "checkpoints" / "step-1"))
    lines = []
    trainer = Trainer(cfg, resume=True, log=lines.append)
    try:
        assert trainer.step == 1
        saved = torch.load(mini_run / "checkpoints" / "step-1" / "trainer_state.pt", weights_only=False)
        assert trainer.optimizer.state_dict()["state"][0]["step"] == saved["optimizer"]["state"][0]["step"]
        trainer.run_step()
        trainer.save()
    finally:
        trainer.close()
    assert lines[0] == (f"resuming from {mini_run}/checkpoints/step-1 (train.checkpoint.resume_from) with a changed "
                        "config: eval.tasks.0.name arith -> code, name mini -> other-run, task.name arith -> code"
                        ), lines  # the default eval suite follows the task
    assert [p.name for p in step_dirs(own)] == ["step-2"] and [p.name for p in step_dirs(mini_run)] == ["step-1"]
    again = Trainer(cfg, resume=True, log=lambda _m: None)  # the same command: its own checkpoint, not mini's
    try:
        assert again.step == 2
    finally:
        again.close()


def test_resume_from_a_run_directory_takes_its_newest_checkpoint_and_a_wrong_path_is_one_line(mini_run, tmp_path):
    trainer = Trainer(_cfg(tmp_path / "a", name="a", resume_from=str(mini_run)), resume=True, log=lambda _m: None)
    try:
        assert trainer.step == 1
    finally:
        trainer.close()
    with pytest.raises(CheckpointError, match=r"train.checkpoint.resume_from: .*/nowhere is neither a checkpoint "):
        Trainer(_cfg(tmp_path / "b", name="b", resume_from=str(tmp_path / "nowhere")), resume=True, log=print)
    with pytest.raises(ConfigError, match="resuming is off"):
        Trainer(_cfg(tmp_path / "c", name="c", resume_from=str(mini_run)), resume=False, log=print)


def test_the_flow_says_it_starts_from_the_named_checkpoint_not_from_step_0(mini_run, tmp_path):
    from rlvr.flows.train import start_trainer

    lines = []
    cfg = _cfg(tmp_path / "own", name="own", resume_from=str(mini_run / "checkpoints" / "step-1"))
    trainer = start_trainer.fn(cfg, resume=True, log=lines.append)  # the task body, without a Prefect API
    trainer.close()
    assert not [line for line in lines if "from step 0" in line], lines
    assert lines[-1] == (f"starting own in {tmp_path / 'own'} from step 1 of 3, resumed from "
                         f"train.checkpoint.resume_from={mini_run}/checkpoints/step-1"), lines
