"""A PPO checkpoint on the real tiny model: its `model/` is a plain HF model folder that the real vLLM CPU engine
starts on (the value head lies beside it), and a resume reads the value head from where checkpoints of either
layout hold it; a checkpoint without its value head is skipped with one line saying so."""

import shutil

import pytest
import torch
from safetensors.torch import load_file

from rlvr.trainers.checkpoint import MODEL_DIR
from rlvr.trainers.loop import Trainer
from rlvr.trainers.value_head import VALUE_HEAD_FILE
from tests.sampling.sampling_helpers import cfg_for, torch_logprobs
from tests.trainers.tiny_runs import run_steps, tiny_run_config


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory, warm_model):
    """A PPO run dir after 2 steps (checkpoints step-1 and step-2): its value head trained away from zero."""
    return run_steps(tiny_run_config(tmp_path_factory.mktemp("ppo") / "run", "ppo"), 2)


def _step(run, n):
    return run / "checkpoints" / f"step-{n}"


def _resume(run):
    lines = []
    return Trainer(tiny_run_config(run, "ppo"), resume=True, log=lines.append), lines


def test_the_value_head_lies_beside_model_not_in_it(ppo_run):
    ckpt = _step(ppo_run, 2)
    assert (ckpt / VALUE_HEAD_FILE).is_file()
    assert [p.name for p in (ckpt / MODEL_DIR).glob("*.safetensors")] == ["model.safetensors"]


def test_the_vllm_engine_starts_on_a_ppo_checkpoints_model_folder(ppo_run):
    from transformers import AutoModelForCausalLM

    from rlvr.sampling.factory import make_sampler

    model_dir = _step(ppo_run, 2) / MODEL_DIR
    trained = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    prompt, completion = [1, 2, 3, 4], [5, 6, 7]
    # vLLM loads every *.safetensors in the folder. The CPU engine's memory check counts this whole process, which
    # has trained models before in a full suite: a fraction above the sampling tests' 0.15
    sampler = make_sampler(cfg_for("vllm", gpu_memory_utilization=0.25), model_dir)
    try:
        engine = torch.tensor(sampler.logprobs_of([prompt + completion])[0][len(prompt) - 1:])
    finally:
        sampler.close()
    torch.testing.assert_close(engine, torch_logprobs(trained, prompt, completion), atol=2e-3, rtol=0)


def test_a_checkpoint_written_with_the_value_head_inside_model_still_resumes(ppo_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(ppo_run, run)
    ckpt = _step(run, 2)
    shutil.move(ckpt / VALUE_HEAD_FILE, ckpt / MODEL_DIR / VALUE_HEAD_FILE)  # the layout before the move
    saved = load_file(ckpt / MODEL_DIR / VALUE_HEAD_FILE)
    trainer, lines = _resume(run)
    try:
        assert trainer.step == 2, lines
        for name, tensor in trainer.policy.value_head.state_dict().items():
            torch.testing.assert_close(tensor, saved[name], atol=0, rtol=0)
        assert saved["linear.weight"].abs().sum() > 0  # trained: not the zero a missing head would leave
    finally:
        trainer.close()


def test_a_checkpoint_without_its_value_head_is_skipped_with_one_line(ppo_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(ppo_run, run)
    (_step(run, 2) / VALUE_HEAD_FILE).unlink()
    trainer, lines = _resume(run)
    try:
        assert trainer.step == 1
        skipped = [line for line in lines if line.startswith("skipped checkpoint")]
        assert len(skipped) == 1 and "step-2" in skipped[0] and f"no {VALUE_HEAD_FILE}" in skipped[0], lines
    finally:
        trainer.close()
