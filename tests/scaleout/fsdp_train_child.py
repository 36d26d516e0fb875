"""One rank of the FSDP2 step/checkpoint tests, alone or under `torchrun --nproc_per_node N` (gloo on CPU).

A training step here is the trainer's contract in small (tests/scaleout/fsdp_step.py): 5 rows in micro-batches
of 2, so on 2 ranks rank 1 runs one `lockstep` pass; max_norm small enough for the clipping to bite.

    reference MODEL OUT       one process, no sharding: step on batch A, step on batch B (OUT/reference.pt)
    first MODEL OUT RUN [OPTS ...]
                              N ranks, sharded: step on batch A, save an FSDP checkpoint to RUN (OUT/first.pt);
                              then, in the same processes, the same from a fresh policy for each OPTS (train.fsdp
                              settings as JSON): OUT/first-<keys>.pt, its checkpoint in RUN-<keys> (one launch
                              for all: the variants share the ranks' start-up)
    resume MODEL OUT RUN      N ranks (sharded) or one process (plain): load RUN's checkpoint, step on batch B
                              (OUT/resume-<N>.pt)
Rank 0 writes the full parameters after each step and the gradient norms. Sharded, rank 1 builds its policy on the
meta device from a copy of MODEL without the weight files (OUT/weightless-1): its shards come from rank 0's copy.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as tdist

from rlvr.trainers import fsdp
from rlvr.trainers import fsdp_checkpoint as fckpt
from rlvr.trainers.config import FSDPConfig, ModelConfig
from rlvr.trainers.distributed import from_env
from rlvr.trainers.policy import Policy
from rlvr.trainers.run_config import validate_config

from fsdp_step import fixed_batch, full_params, train_step  # this folder is sys.path[0] of a child script
from weightless import model_for_this_rank

def build(model: Path, out: Path, dist, options: dict | None = None):
    """Sharded: rank 0 reads the weights, rank 1 builds on the meta device from a folder without them."""
    torch.manual_seed(0)
    path = str(model_for_this_rank(model, out)) if dist.enabled else str(model)
    policy = Policy.from_config(ModelConfig(path=path), path=path, value_head=True,
                                build_on=("cpu" if dist.is_main else "meta") if dist.enabled else None)
    if dist.enabled:
        fsdp.shard_policy(policy, FSDPConfig(**(options or {})))
    optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=1e-3, weight_decay=0.01)
    return policy, optimizer


def first_step(model: Path, out: Path, run: Path, dist, options: dict | None) -> dict:
    """Step on batch A from a freshly built (sharded) policy, then save an FSDP checkpoint to `run`."""
    policy, optimizer = build(model, out, dist, options)
    result = {"world_size": dist.world_size, "norm1": train_step(policy, optimizer, fixed_batch(1), dist)}
    result["after1"] = full_params(policy)
    result["local_numel"] = sum(getattr(p, "_local_tensor", p).numel() for p in policy.model.parameters())
    config = validate_config({"model": {"path": str(model)}, "sampler": {"backend": "hf"},
                              "train": {"parallel": "fsdp", "checkpoint": {"dir": str(run)}}})
    path = fckpt.save_checkpoint(run, 1, policy, optimizer, {"cursor": 0}, config.model_dump(mode="json"), dist, keep=2)
    result["checkpoint"] = str(path)
    return result


def main(mode: str, model: Path, out: Path, run: Path | None, variants: list[dict]) -> None:
    dist = from_env()
    results = {}
    if mode == "first":
        results["first"] = first_step(model, out, run, dist, None)
        for options in variants:
            keys = "-".join(sorted(options))
            results[f"first-{keys}"] = first_step(model, out, run.with_name(f"{run.name}-{keys}"), dist, options)
    else:
        policy, optimizer = build(model, out, dist)
        result = {"world_size": dist.world_size}
        if mode == "reference":
            result["norm1"] = train_step(policy, optimizer, fixed_batch(1), dist)
            result["after1"] = full_params(policy)
        else:
            fckpt.load_sharded(run / "checkpoints" / "step-1", policy, optimizer)
            result["loaded"] = full_params(policy)
            mode = f"resume-{dist.world_size}"
        result["norm2"] = train_step(policy, optimizer, fixed_batch(2), dist)
        result["after2"] = full_params(policy)
        results[mode] = result
    if dist.is_main:
        for name, result in results.items():
            torch.save(result, out / f"{name}.pt")


if __name__ == "__main__":
    args = sys.argv[1:]
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        tdist.init_process_group("gloo")
    try:
        main(args[0], Path(args[1]), Path(args[2]), Path(args[3]) if len(args) > 3 else None,
             [json.loads(arg) for arg in args[4:]])
        if tdist.is_initialized():
            tdist.barrier()  # leave together: a rank tearing gloo down while its peer still talks can abort
    finally:
        if tdist.is_initialized():
            tdist.destroy_process_group()
