"""Which checkpoints a run resumes from, and whether this config may resume the newest of them.

A run resumes from its own directory, `train.checkpoint.dir` (by default `runs/<name>`). A directory holding a run
of another `name` or `task.name` is refused in one line: two runs that share a directory would otherwise continue
each other's weights without a word (every run once shared `runs/default`). Continuing another run's checkpoint is
done on purpose, as TRL's `resume_from_checkpoint` and verl's `resume_from_path` do it, by naming it:
`train.checkpoint.resume_from` (a `step-N` directory, or a run directory: its newest checkpoint that loads). It is
read only while this run's own directory holds no checkpoint, so once the run has saved one, the same command
resumes from its own and never goes back.

What else may not change on resume (another algorithm, LoRA against all weights, another adapter shape, a ddp run
resumed sharded) is refused here too, before anything loads; the other changes are named in one line.
"""

from __future__ import annotations

import re
from pathlib import Path

from rlvr.data.tasks.qa import column  # a dotted key's value in a nested dict (None where a part is missing)
from rlvr.trainers import checkpoint as ckpt

IDENTITY = ("name", "task.name")  # what makes a checkpoint another run's
_STEP_DIR = re.compile(r"^step-\d+$")


def checkpoints_to_resume(run_dir: str | Path, resume_from: str | None) -> tuple[list[Path], bool]:
    """The checkpoint directories to try, oldest first, and whether they are `resume_from`'s (a resume on purpose):
    the run directory's own, else, when it has none, `resume_from`'s."""
    own = ckpt.step_dirs(run_dir)
    if own or not resume_from:
        return own, False
    path = Path(resume_from)
    if path.is_dir() and _STEP_DIR.match(path.name):
        return [path], True
    found = ckpt.step_dirs(path)
    if not found:
        raise ckpt.CheckpointError(f"train.checkpoint.resume_from: {path} is neither a checkpoint "
                                   "(runs/X/checkpoints/step-N) nor a run directory holding one")
    return found, True


def _identity(config: dict) -> str:
    return f"run {column(config, 'name')!r} (task {column(config, 'task.name')})"


def why_not_resumable(path: Path, now: dict, sharded: bool, deliberate: bool, log) -> str | None:
    """Why checkpoint `path` cannot be resumed by the run config `now` (`model_dump(mode="json")`), said up front
    rather than skipping each checkpoint as if damaged; None when it can, after `log`ging each other setting that
    changed since it was written. `deliberate`: `path` is `train.checkpoint.resume_from`'s, where another run's
    name and task are the point. `sharded`: this run is FSDP over several ranks."""
    saved = ckpt.saved_config(path)
    if saved is None:  # damaged: the loading says so, and falls back to an older checkpoint
        return None
    holder = path.parent.parent  # the run directory the checkpoint is in
    other = "train.checkpoint.resume_from" if deliberate else "train.checkpoint.dir"
    changed = next((key for key in IDENTITY if column(saved, key) != column(now, key)), None)
    if changed and not deliberate:
        return (f"{holder} holds {_identity(saved)} ({path.name}), not this config's {_identity(now)}: give this run a "
                f"directory of its own (train.checkpoint.dir; unset, it is runs/<name>); to resume that run, use its "
                f"name and task; to train on from its checkpoint on purpose, set train.checkpoint.resume_from={path}")
    if found := ckpt.resume_refusal(saved, now):
        key, was, is_ = found
        return (f"{holder} holds a run of {key} {was} ({path.name}); this config trains {is_}: resume it with its "
                f"own setting, or choose another {other}")
    found = ckpt.lora_shape_change(saved, now)
    if found is None and sharded and (saved.get("train") or {}).get("parallel") == "ddp":
        # its optimizer state is keyed by parameter index, for whole tensors; the shards' is by name, per shard
        found = ("train.parallel", "ddp", "fsdp")
    if found:
        key, was, _ = found
        shown = ",".join(was) if isinstance(was, list) else was
        return f"{holder}: this run trained with {key}={shown} ({path.name}); resume with it, or choose another {other}"
    _say_changes(path, saved, now, deliberate, log)
    return None


def _say_changes(path: Path, saved: dict, now: dict, deliberate: bool, log) -> None:
    changes = ckpt.config_changes(saved, now)
    changes.pop("train.checkpoint.resume_from", None)  # where the run started, not how it trains
    if deliberate:
        changes.pop("train.checkpoint.dir", None)  # another run's directory, by design
    if column(now, "train.optim.schedule") == "constant":  # extending a run is the usual change; it moves no lr here
        changes.pop("train.steps", None)
    start = f"resuming from {path} (train.checkpoint.resume_from)" if deliberate else "resuming"
    if changes:
        log(f"{start} with a changed config: {ckpt.describe_changes(changes)}")
    elif deliberate:
        log(start)
    if warning := ckpt.lora_rescale_warning(saved, now):
        log(warning)
