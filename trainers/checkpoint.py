"""Atomic checkpoints: weights/adapter, optimizer, scheduler, RNG, data cursor, step and run config.

A checkpoint is built in `<run>/checkpoints/.tmp-step-N/` and renamed to `step-N` only when every
file is written and flushed, so a directory named `step-N` is always complete; a run killed while
saving leaves at most a `.tmp-*` directory, which the next save removes.

A `step-N` can still go bad afterwards (a disk that fills, a file truncated or deleted by hand): `load_state`
raises `CheckpointError` saying what is wrong, and the trainer falls back to the newest checkpoint that loads.
`steps_to_checkpoint` is the one rule for when a checkpoint is due (the trainer's loop and the train flow).
A run directory that stops taking writes (a full disk, made read-only) ends the run in one line naming the finished
steps lost and where it resumes (`lost_to_unwritable_run_dir`: a save here, the train flow's other writes).
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError

from rlvr.trainers.unwritable import REFUSED, cannot_write, errno_of

STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "config.json"
MODEL_DIR = "model"
# A checkpoint holding this file waits for its evaluation (flows/eval_pins.py): pruning skips it.
EVAL_PENDING = "eval-pending"

# What reading a damaged checkpoint raises: missing or truncated files (torch's zip reader: RuntimeError;
# pickle: EOFError / UnpicklingError; safetensors: SafetensorError; transformers: OSError / ValueError).
UNREADABLE = (OSError, EOFError, RuntimeError, ValueError, KeyError, pickle.UnpicklingError, SafetensorError)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded; the message says which file and why."""


def config_changes(saved: dict, current: dict, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (saved, current) for each leaf that differs between two `model_dump(mode="json")` configs. A
    key the saved config lacks is a setting added to rlvr since it was written, not a change made to the run."""
    out = {}
    for key in sorted(set(saved) | set(current)):
        if key not in saved:
            continue
        old, new, dotted = saved.get(key), current.get(key), f"{prefix}{key}"
        if isinstance(old, dict) and isinstance(new, dict):
            out.update(config_changes(old, new, dotted + "."))
        elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new) \
                and any(isinstance(item, dict) for item in old):  # `eval.tasks.0.limit`, not the whole list
            out.update(config_changes({str(i): item for i, item in enumerate(old)},
                                      {str(i): item for i, item in enumerate(new)}, dotted + "."))
        elif old != new:
            out[dotted] = (old, new)
    return out


def resume_refusal(saved: dict, current: dict) -> tuple[str, str, str] | None:
    """Why a run of config `saved` cannot be resumed with `current`: another algorithm, or LoRA where it trained all
    weights (or the other way round); its weights and optimizer state do not fit this policy."""
    kind = lambda config: "LoRA" if (config.get("model") or {}).get("lora") else "all weights"  # noqa: E731
    algorithm = lambda config: (config.get("train") or {}).get("algorithm")  # noqa: E731
    for key, of in (("train.algorithm", algorithm), ("model.lora", kind)):
        if of(saved) != of(current):
            return key, of(saved), of(current)
    return None


def lora_shape_change(saved: dict, current: dict) -> tuple[str, Any, Any] | None:
    """(key, saved, current) for the first LoRA setting that changes the adapter's tensors (`r`: their shape,
    `target_modules`: which exist) between two LoRA configs; None when they fit. The saved adapter and its AdamW
    state load into no other shape: each checkpoint would be skipped as damaged, or the optimizer refuse its groups."""
    old, new = ((config.get("model") or {}).get("lora") or {} for config in (saved, current))
    if not old or not new:
        return None
    if old.get("r") != new.get("r"):
        return "model.lora.r", old.get("r"), new.get("r")
    if sorted(old.get("target_modules") or []) != sorted(new.get("target_modules") or []):
        return "model.lora.target_modules", old.get("target_modules"), new.get("target_modules")
    return None


def lora_rescale_warning(saved: dict, current: dict) -> str | None:
    """A warning when `model.lora.alpha` changed: PEFT scales the adapter's update by alpha / r, so the resumed
    policy is not the one that was saved."""
    old, new = ((config.get("model") or {}).get("lora") or {} for config in (saved, current))
    if not old or not new or old.get("alpha") == new.get("alpha") or not new.get("r"):
        return None
    factor = new["alpha"] / old["alpha"]
    return (f"warning: model.lora.alpha {old['alpha']} -> {new['alpha']} scales the trained adapter's update by "
            f"{factor:g}x (alpha / r): the resumed policy is not the one saved; resume with model.lora.alpha="
            f"{old['alpha']} to continue the same run")


def describe_changes(changes: dict[str, tuple[Any, Any]]) -> str:
    """`train.optim.lr 3e-05 -> 1e-05, task.level 1 -> 3`: each value cut to 60 characters."""
    def short(value) -> str:
        text = "none" if value is None else json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        return text if len(text) <= 60 else text[:57] + "..."

    return ", ".join(f"{key} {short(old)} -> {short(new)}" for key, (old, new) in changes.items())


def saved_config(checkpoint: str | Path) -> dict | None:
    """The run config a checkpoint was written with; None when its file is missing or unreadable."""
    try:
        config = json.loads((Path(checkpoint) / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def looks_whole(checkpoint: str | Path) -> bool:
    """A check that reads no tensor: the trainer state is a whole zip archive (torch.save's format; a cut file has
    no end record) and every safetensors file under `model/` and beside it (PPO's value head) is as long as its
    header says."""
    checkpoint = Path(checkpoint)
    if not zipfile.is_zipfile(checkpoint / STATE_FILE):
        return False
    weights = list((checkpoint / MODEL_DIR).rglob("*.safetensors"))
    beside = list(checkpoint.glob("*.safetensors"))
    return bool(weights) and all(_safetensors_whole(path) for path in weights + beside)


def _safetensors_whole(path: Path) -> bool:
    """8 bytes of header length, the JSON header, then the data: the file ends where the last tensor ends."""
    try:
        with open(path, "rb") as fh:
            length = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(length))
        ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
        return path.stat().st_size == 8 + length + max(ends, default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False


def describe(exc: BaseException) -> str:
    """`Type: first sentence` of a loader's error, short enough for one log line."""
    return f"{type(exc).__name__}: {str(exc).split('. ')[0][:160]}"


def steps_to_checkpoint(step: int, total: int, every: int) -> int:
    """Steps to run from `step` until the next checkpoint is due: at the next multiple of `every`, and always at
    the last step `total`."""
    return min(every - step % every, total - step)


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def step_of(path: Path) -> int:
    """The step of a `step-N` checkpoint directory, from its name."""
    return int(path.name.split("-", 1)[1])


def step_dirs(run_dir: str | Path) -> list[Path]:
    """Every `step-N` directory, oldest first, whether or not its files are all there."""
    root = checkpoints_dir(run_dir)
    if not root.is_dir():
        return []
    return sorted((p for p in root.glob("step-*") if p.is_dir() and p.name[5:].isdigit()), key=step_of)


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The `step-N` directories that hold a trainer state, oldest first."""
    return [p for p in step_dirs(run_dir) if (p / STATE_FILE).is_file()]


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
    """Write checkpoint `step` atomically; prune to the newest `keep` up to `step` (never the `protect`ed ones, nor
    those pinned with an `EVAL_PENDING` file; later ones are left alone). A run directory that does not take the
    write (a full disk, read-only) is a CheckpointError naming the steps lost (`lost_to_unwritable_run_dir`)."""
    root = checkpoints_dir(run_dir)
    final = root / f"step-{step}"
    tmp = root / f".tmp-step-{step}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        write_model(tmp / MODEL_DIR)
        torch.save({**state, "step": step}, tmp / STATE_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))
        _fsync_tree(tmp)
    except (OSError, RuntimeError, SafetensorError) as exc:  # what torch and safetensors raise on a full disk
        # said here, not by the caller: the save at a stop signal (Trainer.save_stopped) gets the same line; and
        # before the partial copy goes, so that the free space it names is what the write met
        lost = lost_to_unwritable_run_dir(exc, run_dir, step, f"checkpoint step-{step} could not be written to")
        shutil.rmtree(tmp, ignore_errors=True)  # the partial copy holds the space the next try needs
        if lost is not None:
            raise lost from exc
        raise
    if final.exists():  # re-saving the same step (e.g. a retried task): replace it
        shutil.rmtree(final)
    os.rename(tmp, final)
    keep_set = {p.resolve() for p in protect}
    # Only checkpoints up to this step count: one of a later step was left by a run that resumed from an earlier
    # one, so it did not load (damaged); counting it would delete good checkpoints, the one resumed from included.
    # It is replaced when its step is saved again.
    for old in [p for p in list_checkpoints(run_dir) if step_of(p) <= step][:-keep]:
        if old.resolve() not in keep_set and not (old / EVAL_PENDING).exists():
            shutil.rmtree(old, ignore_errors=True)
    return final


def lost_to_unwritable_run_dir(exc: BaseException, run_dir: str | Path, step: int,
                               failed: str) -> CheckpointError | None:
    """The closing line for a write into the run directory that it does not take (made read-only or immutable
    mid-run, a full disk: `cannot_write`), saying which finished steps are lost with the process (those after the
    newest checkpoint), how to fix it and where the same command resumes; None for any other error (a write
    elsewhere, an I/O error worth a retry). `step`: the trainer's step; `failed`: how the line starts ("checkpoint
    step-4 could not be written to"), the path follows. A CheckpointError: input the user can fix (exit 2), not
    retried."""
    reason = cannot_write(exc, run_dir)
    if reason is None:
        return None
    filename = getattr(exc, "filename", None)
    if filename is not None and not Path(filename).resolve().is_relative_to(Path(run_dir).resolve()):
        return None  # a write elsewhere (a temp dir, a cache) failed: not the run directory's doing
    newest = latest_checkpoint(run_dir)
    since = step_of(newest) if newest is not None else 0
    if step <= since:
        lost = "no finished step is lost"
    else:
        lost = f"step {step} is lost" if step == since + 1 else f"steps {since + 1}-{step} are lost"
    refused = errno_of(exc) in REFUSED
    fix = (f"make train.checkpoint.dir {run_dir} writable again" if refused
           else f"free space on the disk of train.checkpoint.dir {run_dir}")
    resume = f"it resumes from {newest.name}" if newest is not None else "it starts again from step 0"
    return CheckpointError(f"{failed} {filename or run_dir}: {reason}; {lost}; {fix} and run the same command "
                           f"({resume})")


def load_state(checkpoint: str | Path) -> dict[str, Any]:
    """The trainer state saved with a checkpoint (weights are read separately from `<ckpt>/model`);
    CheckpointError when the file is missing or unreadable."""
    path = Path(checkpoint) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{STATE_FILE} is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except UNREADABLE as exc:
        raise CheckpointError(f"{STATE_FILE} is unreadable, truncated? ({describe(exc)})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{STATE_FILE} holds a {type(state).__name__}, not a trainer state")
    return state
