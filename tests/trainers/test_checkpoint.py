"""Checkpoints are atomic, complete, pruned, and restore RNG state exactly."""

import random
import re

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from rlvr.trainers.checkpoint import (
    MODEL_DIR,
    CheckpointError,
    latest_checkpoint,
    list_checkpoints,
    load_state,
    looks_whole,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def _writer(payload: str):
    def write(path):
        path.mkdir(parents=True)
        (path / "weights.txt").write_text(payload)

    return write


def test_save_then_load_round_trip(tmp_path):
    ckpt = save_checkpoint(tmp_path, 5, _writer("w5"), {"cursor": 40}, {"name": "run"})
    assert ckpt.name == "step-5" and latest_checkpoint(tmp_path) == ckpt
    state = load_state(ckpt)
    assert state["step"] == 5 and state["cursor"] == 40
    assert (ckpt / MODEL_DIR / "weights.txt").read_text() == "w5"


def test_a_crash_while_writing_leaves_the_previous_checkpoint_latest(tmp_path):
    save_checkpoint(tmp_path, 1, _writer("w1"), {}, {})

    def crashing_writer(path):
        path.mkdir(parents=True)
        raise KeyboardInterrupt  # the process dies half way through writing weights

    try:
        save_checkpoint(tmp_path, 2, crashing_writer, {}, {})
    except KeyboardInterrupt:
        pass
    assert latest_checkpoint(tmp_path).name == "step-1"
    save_checkpoint(tmp_path, 2, _writer("w2"), {}, {})  # the next save cleans the debris
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-1", "step-2"]


def test_pruning_keeps_newest_and_protected(tmp_path):
    first = save_checkpoint(tmp_path, 1, _writer("a"), {}, {}, keep=2)
    for step in (2, 3, 4):
        save_checkpoint(tmp_path, step, _writer("a"), {}, {}, keep=2, protect=(first,))
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-1", "step-3", "step-4"]


def test_steps_sort_numerically_not_lexically(tmp_path):
    for step in (9, 10):
        save_checkpoint(tmp_path, step, _writer("x"), {}, {})
    assert latest_checkpoint(tmp_path).name == "step-10"


def test_rng_state_restores_every_generator():
    state = rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def _weights_writer(path):
    path.mkdir(parents=True)
    save_file({"a": torch.ones(64, 64), "b": torch.zeros(8)}, path / "model.safetensors")
    save_file({"linear.weight": torch.ones(1, 64)}, path.parent / "value_head.safetensors")  # PPO's, beside model/


@pytest.mark.parametrize("cut", [None, "trainer_state.pt", "model/model.safetensors", "value_head.safetensors"])
def test_looks_whole_finds_a_cut_file_without_reading_tensors(tmp_path, cut):
    ckpt = save_checkpoint(tmp_path, 3, _weights_writer, {"cursor": 8}, {"name": "run"})
    if cut is not None:  # a partial copy, a full disk
        path = ckpt / cut
        path.write_bytes(path.read_bytes()[: path.stat().st_size - 100])
    assert looks_whole(ckpt) is (cut is None)


def test_pruning_counts_no_checkpoint_past_the_step_saved(tmp_path):
    # A resumed run skipped step-3 (damaged) and went on from step-1; saving step-2 with keep=1 must keep step-2,
    # the newest good one, not count step-3 as the one to keep and delete everything else.
    for step in (1, 3):
        save_checkpoint(tmp_path, step, _writer("a"), {}, {}, keep=5)
    save_checkpoint(tmp_path, 2, _writer("b"), {}, {}, keep=1)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-2", "step-3"]


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs (where this host lets root mount one; skipped elsewhere)."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)  # lazy: a file a failed write left open


def test_a_full_disk_is_said_with_the_steps_lost_and_the_partial_checkpoint_removed(small_disk):
    """Was: `rlvr: RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos 472832 vs 472724`,
    exit 1, and `.tmp-step-N` left on the full disk; then a line that said the disk was full but not which steps
    were lost (an unwritable run directory's line named them)."""
    save_checkpoint(small_disk, 1, _writer("w1"), {"weights": torch.zeros(1000)}, {})
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(small_disk, 4, _writer("w4"), {"weights": torch.zeros(2_000_000)}, {})  # 8 MB
    assert re.fullmatch(
        rf"checkpoint step-4 could not be written to {small_disk}: the disk is full \([\d.]+ MB free; RuntimeError: "
        rf".*\); steps 2-4 are lost; free space on the disk of train.checkpoint.dir {small_disk} and run the same "
        r"command \(it resumes from step-1\)", str(caught.value)), caught.value
    assert [p.name for p in (small_disk / "checkpoints").iterdir()] == ["step-1"]


def test_a_full_disk_at_a_stop_signal_names_the_steps_lost(small_disk, warm_model, monkeypatch):
    """The save at a stop (flows/stopping.save_at_stop -> Trainer.save_stopped) meets the full disk: the stop's
    closing line names the steps lost and the fix, as a save at a checkpoint step does. Was: `the checkpoint at the
    stop failed (SafetensorError: Error while serializing: I/O error: No space left on device (os error 28))`, no
    step named, and `.tmp-step-2` left on the full disk (safetensors' error was not caught); then that sentence inside
    "the checkpoint at the stop failed (...); the same command resumes from the newest checkpoint" (two resumes)."""
    from rlvr.flows import stopping
    from rlvr.trainers.loop import Trainer
    from tests.trainers.tiny_runs import tiny_run_config

    run = small_disk / "run"
    cfg = tiny_run_config(run, checkpoint={"dir": str(run), "every": 100})
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    monkeypatch.setitem(stopping._state, "resume_note", None)  # save_at_stop records its note there
    try:
        trainer.run_step()
        trainer.run_step()
        note = stopping.save_at_stop(KeyboardInterrupt(), trainer)
    finally:
        trainer.close()
    assert re.fullmatch(rf"checkpoint step-2 could not be written to {run}: the disk is full \([\d.]+ MB free\); "
                     rf"steps 1-2 are lost; free space on the disk of train.checkpoint.dir {run} and run the same "
                     r"command \(it starts again from step 0\)", note), note
    assert list((run / "checkpoints").iterdir()) == []  # the partial copy is gone: the space is free again
