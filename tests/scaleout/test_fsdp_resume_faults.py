"""Damaged and mismatched FSDP checkpoints, resumed as a user does: `torchrun -m rlvr.flows.launch` on 2 gloo ranks
(`rlvr launch` where the exit code matters), or `python -m rlvr.flows.launch` in one process.

- a shard file cut short, a shard whose bytes are damaged (only the collective DCP load finds it), or a checkpoint
  whose `sharded/` is gone: the checkpoint is skipped with one line that says why, the run resumes from the older
  one (before: a 100-line traceback from torch's CheckpointException, or `KeyError: 'optimizer'`, exit 1);
- an FSDP + LoRA checkpoint resumes in one process and under DDP (before: `Missing key(s) in state_dict`, the
  frozen base the save leaves out) as under FSDP; a full-weight one resumes under DDP;
- a ddp run resumed with `train.parallel=fsdp` is refused up front in one line, exit 2 (before: each checkpoint
  skipped as "written by a ddp run", then "move them aside to start over").
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

from tests.scaleout.launch_child import child_env
from tests.scaleout.test_launch import CONFIG, REPO, _launch, _metric_steps, _rlvr_lines, _small

pytestmark = pytest.mark.slow
FSDP = "train.parallel=fsdp"
LORA = "model.lora={r: 4, alpha: 8}"


def _ok(done: subprocess.CompletedProcess) -> str:
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "Traceback" not in out and not _rlvr_lines(done), out[-4000:]
    return done.stdout


def _alone(*args: str) -> subprocess.CompletedProcess:
    """`python -m rlvr.flows.launch` in one process (no launcher)."""
    return subprocess.run([sys.executable, "-m", "rlvr.flows.launch", "-c", CONFIG, *args], cwd=REPO, env=child_env(),
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def fsdp_run(tiny_model, tmp_path_factory):
    """2 steps of full fine-tuning on 2 ranks under FSDP: sharded checkpoints step-1 and step-2."""
    run = tmp_path_factory.mktemp("fsdp") / "run"
    _ok(_launch(*_small(tiny_model, run), FSDP, "train.steps=2"))
    assert (run / "checkpoints" / "step-2" / "sharded" / ".metadata").is_file()
    return run


def _cut(sharded):
    path = sharded / "__1_0.distcp"
    with open(path, "r+b") as fh:
        fh.truncate(1000)


def _zero_head(sharded):  # same length: only reading the tensors finds it
    path = sharded / "__1_0.distcp"
    with open(path, "r+b") as fh:
        fh.write(bytes(4096))


DAMAGES = {
    "cut-shard": (_cut, "sharded/__1_0.distcp is cut short (1000 of "),
    "damaged-shard": (_zero_head, "sharded/ does not load (UnpicklingError: "),
    "no-sharded-dir": (shutil.rmtree, "sharded/ is missing (this FSDP checkpoint's weights and optimizer state)"),
}


def _damaged_copy(fsdp_run, tmp_path, damage):
    run = shutil.copytree(fsdp_run, tmp_path / "run")
    DAMAGES[damage][0](run / "checkpoints" / "step-2" / "sharded")
    return run


def _assert_fell_back(out: str, run, damage) -> None:
    skipped = [line for line in out.splitlines() if line.startswith("skipped checkpoint")]
    assert len(skipped) == 1 and skipped[0].startswith(f"skipped checkpoint {run}/checkpoints/step-2: "
                                                       + DAMAGES[damage][1]), out[-3000:]
    assert f"resumed from {run}/checkpoints/step-1 (step 1)" in out, out[-3000:]
    assert _metric_steps(run) == [1, 2]  # step 2 trained again


@pytest.mark.parametrize("damage", ["cut-shard", "damaged-shard"])  # no sharded/: found before any collective
def test_a_damaged_sharded_checkpoint_is_skipped_on_2_ranks(tiny_model, fsdp_run, tmp_path, damage):
    run = _damaged_copy(fsdp_run, tmp_path, damage)
    out = _ok(_launch(*_small(tiny_model, run), FSDP, "train.steps=2"))
    _assert_fell_back(out, run, damage)


@pytest.mark.parametrize("damage", ["damaged-shard", "no-sharded-dir"])
def test_a_damaged_sharded_checkpoint_is_skipped_in_one_process(tiny_model, fsdp_run, tmp_path, damage):
    run = _damaged_copy(fsdp_run, tmp_path, damage)
    _assert_fell_back(_ok(_alone(*_small(tiny_model, run), FSDP, "train.steps=2")), run, damage)


def test_a_full_weight_fsdp_run_resumes_under_ddp(tiny_model, fsdp_run, tmp_path):
    run = shutil.copytree(fsdp_run, tmp_path / "run")
    out = _ok(_launch(*_small(tiny_model, run), "train.parallel=ddp", "train.steps=3"))
    assert f"resumed from {run}/checkpoints/step-2 (step 2)" in out and _metric_steps(run) == [1, 2, 3]


@pytest.fixture(scope="module")
def lora_fsdp_run(tiny_model, tmp_path_factory):
    run = tmp_path_factory.mktemp("fsdp-lora") / "run"
    _ok(_launch(*_small(tiny_model, run), FSDP, LORA, "train.steps=1"))
    assert (run / "checkpoints" / "step-1" / "sharded" / ".metadata").is_file()
    return run


def test_an_fsdp_lora_checkpoint_loads_its_adapter_in_one_process(tiny_model, lora_fsdp_run, tmp_path):
    from safetensors.torch import load_file

    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.run_config import load_config

    run = shutil.copytree(lora_fsdp_run, tmp_path / "run")
    trainer = Trainer(load_config(REPO / CONFIG, [*_small(tiny_model, run), FSDP, LORA]), resume=True,
                      log=lambda _m: None)
    try:
        assert trainer.step == 1
        mine = {name: p.detach() for name, p in trainer.policy.model.named_parameters() if "lora_" in name}
    finally:
        trainer.close()
    saved = load_file(run / "checkpoints" / "step-1" / "model" / "adapter_model.safetensors")  # PEFT's names
    assert len(saved) == len(mine) > 0
    for name, tensor in saved.items():  # `...q_proj.lora_A.weight` is `...q_proj.lora_A.default.weight` here
        torch.testing.assert_close(mine[name.replace(".weight", ".default.weight")], tensor, atol=0, rtol=0)


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_an_fsdp_lora_run_resumes_on_2_ranks(tiny_model, lora_fsdp_run, tmp_path, parallel):
    run = shutil.copytree(lora_fsdp_run, tmp_path / "run")
    out = _ok(_launch(*_small(tiny_model, run), f"train.parallel={parallel}", LORA, "train.steps=2"))
    assert f"resumed from {run}/checkpoints/step-1 (step 1)" in out and _metric_steps(run) == [1, 2]


def test_a_ddp_run_resumed_with_fsdp_is_refused_in_one_line(tiny_model, tmp_path):
    run = tmp_path / "run"
    _ok(_alone(*_small(tiny_model, run), "train.steps=1"))  # train.parallel: ddp (the default)
    done = _launch(*_small(tiny_model, run), FSDP, "train.steps=2", launcher="rlvr")
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    said = (f"{run}: this run trained with train.parallel=ddp (step-1); resume with it, or choose another "
            "train.checkpoint.dir (full log: ")
    # every rank learns it (none is left waiting in a collective) and says it in one line, unless torchrun's
    # teardown after the first rank's exit ends the other first: one or two lines, each of them this refusal
    lines = sorted(_rlvr_lines(done))
    assert 1 <= len(lines) <= 2 and all(line.startswith((f"rlvr: {said}", f"rlvr: rank 1: {said}")) for line in lines), \
        lines
    assert "skipped checkpoint" not in done.stdout and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert _metric_steps(run) == [1]
