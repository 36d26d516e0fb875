"""Checkpoints waiting for their evaluation: pinned until it has run, caught up on when `rlvr serve` starts.

Under `rlvr serve` every saved checkpoint is evaluated by a flow run that its `rlvr.checkpoint.saved` event
triggers. That run can wait for the device while the training holds it, long enough for `checkpoint.keep`
to prune the checkpoint; and an event sent while the Prefect server is down is lost. So a training flow run
with `pin_for_eval=True` (the served deployment) pins each checkpoint before announcing it: an empty file
`eval-pending` inside it, which the pruner (trainers/checkpoint.py) respects. The evaluation flow unpins a
checkpoint once its report is written, and `rlvr serve`, when it starts, runs the evaluation deployment on
every checkpoint of its run directory that is still pinned.

    pin(ckpt); emit_checkpoint_saved(ckpt, ...)    # training
    unpin(ckpt)                                    # evaluation, after eval.json is written
    pending("runs/arith-grpo")                     # [.../checkpoints/step-4, ...]: not evaluated yet
"""

from __future__ import annotations

from pathlib import Path

from rlvr.trainers.checkpoint import EVAL_PENDING, list_checkpoints


def pin(checkpoint: str | Path) -> Path:
    path = Path(checkpoint) / EVAL_PENDING
    path.touch()
    return path


def unpin(checkpoint: str | Path) -> bool:
    """Remove the pin; True if there was one."""
    path = Path(checkpoint) / EVAL_PENDING
    if path.exists():
        path.unlink(missing_ok=True)
        return True
    return False


def pending(run_dir: str | Path) -> list[Path]:
    """The complete checkpoints of `run_dir` still waiting for their evaluation, oldest first."""
    return [c for c in list_checkpoints(run_dir) if (c / EVAL_PENDING).exists()]
