"""Checkpoints of a sharded (FSDP2) policy; the layout of trainers/checkpoint.py plus one directory:

    <run>/checkpoints/step-N/
        sharded/             torch.distributed.checkpoint (DCP) of the trainable weights and the AdamW state:
                             every rank writes its own shards; DCP reshards on load, so the run resumes on any
                             number of ranks (1 included: a plain model loads the same files)
        model/               consolidated HF export for `rlvr eval`, `Policy.load` and `from_pretrained`: full
                             fine-tuning as model-0000i-of-0000n.safetensors + model.safetensors.index.json (one
                             file per FSDP group, streamed: the extra memory is one layer), config, tokenizer;
                             LoRA as the PEFT adapter dir; plus rlvr_policy.json
        value_head.safetensors  PPO's value head, beside model/ (vLLM loads every *.safetensors in model/)
        trainer_state.pt     scheduler, RNG, cursor, step, algorithm state (no optimizer: it is in sharded/)
        config.json

Every rank writes its shards into `<run>/checkpoints/.fsdp-step-N/`; rank 0 then moves them into the atomic
`save_checkpoint` (temp dir + rename), so a `step-N` directory is still complete or absent. Frozen parameters
(a LoRA base) are not in sharded/: they come from `model.path`, as for every LoRA checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch.distributed.checkpoint as dcp
from safetensors.torch import save_file
from torch import nn
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

from rlvr.trainers import checkpoint as ckpt
from rlvr.trainers.fsdp import fsdp_modules, gathered_adapter, gathered_groups
from rlvr.trainers.policy import POLICY_FILE
from rlvr.trainers.value_head import save_value_head

SHARDED_DIR = "sharded"
INDEX_FILE = "model.safetensors.index.json"
_OPTIONS = StateDictOptions(ignore_frozen_params=True)
_LOAD_OPTIONS = StateDictOptions(ignore_frozen_params=True, strict=False)


def is_sharded_checkpoint(checkpoint: str | Path) -> bool:
    return (Path(checkpoint) / SHARDED_DIR).is_dir()


def check(checkpoint: str | Path) -> None:
    """CheckpointError unless `<checkpoint>/sharded` holds a complete DCP save: its metadata (written last) reads,
    and each shard file it names is there and as long as the tensors it records in it. Reads no tensor."""
    directory = Path(checkpoint) / SHARDED_DIR
    if not (directory / ".metadata").is_file():
        raise ckpt.CheckpointError(f"{SHARDED_DIR}/ has no DCP .metadata (an incomplete sharded save)")
    try:
        storage = dcp.FileSystemReader(str(directory)).read_metadata().storage_data
    except ckpt.UNREADABLE + (AttributeError,) as exc:
        why = ckpt.describe(exc)
        raise ckpt.CheckpointError(f"{SHARDED_DIR}/.metadata is unreadable, truncated? ({why})") from None
    ends: dict[str, int] = {}
    for info in storage.values():
        ends[info.relative_path] = max(ends.get(info.relative_path, 0), info.offset + info.length)
    for name, end in sorted(ends.items()):
        size = (directory / name).stat().st_size if (directory / name).is_file() else None
        if size is None:
            raise ckpt.CheckpointError(f"{SHARDED_DIR}/{name} is missing")
        if size < end:
            raise ckpt.CheckpointError(f"{SHARDED_DIR}/{name} is cut short ({size} of {end} bytes), truncated?")


def failure(exc: CheckpointException) -> str:
    """`Type: first sentence` of the first rank's error inside torch's CheckpointException, whose own text holds
    every rank's traceback."""
    for _rank, error in sorted(exc.failures.items()):
        error = error[0] if isinstance(error, tuple) else error
        if isinstance(error, BaseException):
            return ckpt.describe(error)
    return ckpt.describe(exc)


def _trainable(policy) -> nn.Module:
    """One module over everything the optimizer steps (policy + value head), so the DCP keys are the same
    whether the model is sharded or not."""
    modules = {"policy": policy.model}
    if policy.value_head is not None:
        modules["value_head"] = policy.value_head
    return nn.ModuleDict(modules)


def save_sharded(directory: str | Path, policy, optimizer) -> None:
    """DCP save of the trainable weights and optimizer state (a collective: every rank calls it)."""
    model_sd, optim_sd = get_state_dict(_trainable(policy), optimizer, options=_OPTIONS)
    try:
        dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(directory))
    except CheckpointException as exc:  # a BaseException: it would pass every `except Exception` up to the CLI
        raise RuntimeError(f"saving the sharded checkpoint failed ({failure(exc)})") from None


def load_sharded(checkpoint: str | Path, policy, optimizer) -> None:
    """Load `<checkpoint>/sharded` into this policy and optimizer, whatever the number of ranks that wrote it;
    CheckpointError (on every rank) when it does not load. Loading is not strict: an unsharded module reports
    the frozen parameters (a LoRA base) as missing, which the save left out on purpose (they come from
    `model.path`); every trainable one must be in the files, or `dcp.load` fails."""
    module = _trainable(policy)
    model_sd, optim_sd = get_state_dict(module, optimizer, options=_OPTIONS)
    try:
        dcp.load({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(Path(checkpoint) / SHARDED_DIR))
    except CheckpointException as exc:  # a BaseException: `except Exception` would not see it
        raise ckpt.CheckpointError(f"{SHARDED_DIR}/ does not load ({failure(exc)})") from None
    set_state_dict(module, optimizer, model_state_dict=model_sd, optim_state_dict=optim_sd, options=_LOAD_OPTIONS)


def export_pretrained(policy, directory: str | Path, is_main: bool) -> None:
    """Consolidated `save_pretrained`-style export, streamed one FSDP group at a time; rank 0 writes (every rank
    must call: each group is an all-gather). A PPO value head goes beside `directory` (in its parent, the checkpoint),
    so that `directory` stays a model folder any loader takes."""
    directory = Path(directory)
    if is_main:
        directory.mkdir(parents=True, exist_ok=True)
    if policy.is_lora:
        adapter = gathered_adapter(policy.model)
        if is_main:
            adapter.save(directory)
    else:
        _export_full(policy, directory, is_main)
    if is_main:
        if policy.value_head is not None:  # beside the export, as `Policy.save` puts it
            save_value_head(policy.value_head, directory.parent)
        info = {"lora": policy.is_lora, "base_path": policy.base_path, "value_head": policy.value_head is not None}
        (directory / POLICY_FILE).write_text(json.dumps(info, indent=2))


def _export_full(policy, directory: Path, is_main: bool) -> None:
    count = max(1, len(fsdp_modules(policy.model)))
    weight_map, total = {}, 0
    for i, group in enumerate(gathered_groups(policy.model)):
        if not is_main:
            continue
        name = f"model-{i + 1:05d}-of-{count:05d}.safetensors"
        save_file({k: v.contiguous().cpu() for k, v in group.items()}, directory / name, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(group, name))
        total += sum(v.numel() * v.element_size() for v in group.values())
    if is_main:
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (directory / INDEX_FILE).write_text(json.dumps(index, indent=2))
        policy.base_model.config.save_pretrained(directory)
        if getattr(policy.base_model, "generation_config", None) is not None:
            policy.base_model.generation_config.save_pretrained(directory)
        if policy.tokenizer is not None:
            policy.tokenizer.save_pretrained(directory)


def save_checkpoint(run_dir, step: int, policy, optimizer, state: dict, config: dict, dist, keep: int, protect=()) -> Path:
    """Checkpoint `step` of a sharded policy (a collective). Returns `<run>/checkpoints/step-N` on every rank."""
    root = ckpt.checkpoints_dir(run_dir)
    staging = root / f".fsdp-step-{step}"
    if dist.is_main:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".fsdp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging.mkdir()
    dist.barrier()
    save_sharded(staging / SHARDED_DIR, policy, optimizer)
    export_pretrained(policy, staging / ckpt.MODEL_DIR, dist.is_main)
    dist.barrier()  # every rank's shards are on disk
    final = root / f"step-{step}"
    if dist.is_main:
        final = ckpt.save_checkpoint(run_dir, step, lambda model_dir: _move_in(staging, model_dir), state, config,
                                     keep=keep, protect=protect)
    dist.barrier()
    return final


def _move_in(staging: Path, model_dir: Path) -> None:
    """`save_checkpoint`'s model writer: move the staged export, shards and value head into its temp dir."""
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    for entry in staging.iterdir():  # model/ (as model_dir), sharded/, value_head.safetensors
        os.rename(entry, model_dir.parent / entry.name)
    staging.rmdir()
