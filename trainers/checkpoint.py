"""Atomic checkpoints: weights/adapter, optimizer, scheduler, RNG, data cursor, step and run config.

A checkpoint is built in `<run>/checkpoints/.tmp-step-N/` and renamed to `step-N` only when every
file is written and flushed, so a directory named `step-N` is always complete; a run killed while
saving leaves at most a `.tmp-*` directory, which the next save removes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "config.json"
MODEL_DIR = "model"


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def _step_of(path: Path) -> int:
    return int(path.name.split("-", 1)[1])


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    root = checkpoints_dir(run_dir)
    if not root.is_dir():
        return []
    done = [p for p in root.glob("step-*") if p.is_dir() and (p / STATE_FILE).is_file()]
    return sorted(done, key=_step_of)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    write_model: Callable[[Path], None],
    state: dict[str, Any],
    config: dict[str, Any],
    keep: int = 3,
    protect: tuple[Path, ...] = (),
) -> Path:
    """Write checkpoint `step` atomically; prune to the newest `keep` (never the `protect`ed ones)."""
    root = checkpoints_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    final = root / f"step-{step}"
    tmp = root / f".tmp-step-{step}"
    write_model(tmp / MODEL_DIR)
    torch.save({**state, "step": step}, tmp / STATE_FILE)
    (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))
    _fsync_tree(tmp)
    if final.exists():  # re-saving the same step (e.g. a retried task): replace it
        shutil.rmtree(final)
    os.rename(tmp, final)
    keep_set = {p.resolve() for p in protect}
    for old in list_checkpoints(run_dir)[:-keep]:
        if old.resolve() not in keep_set:
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_state(checkpoint: str | Path) -> dict[str, Any]:
    """The trainer state saved with a checkpoint (weights are read separately from `<ckpt>/model`)."""
    return torch.load(Path(checkpoint) / STATE_FILE, map_location="cpu", weights_only=False)
