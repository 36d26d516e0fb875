"""One rank of the FSDP2 part tests (`torchrun --nproc_per_node 2 fsdp_parts_child.py MODES MODEL OUT`), gloo on
CPU; MODES is a comma-separated list (one launch for all of them: the start of a process is most of a test's time).
For each mode rank 0 writes OUT/<MODE>.pt with what the test compares against the unsharded model.

    Alone (`python fsdp_parts_child.py MODES MODEL OUT`, no process group) the same steps run unsharded: the reference.

    sync MODEL OUT      shard a Policy; stream its weights group by group into a separate hf sampler (each rank's
                        own copy); generate with an hf sampler SHARING the sharded module under
                        `generation_weights`, rank 1 asking for fewer problems (its decode loop ends sooner)
    lora MODEL OUT      the same sync for a LoRA policy (adapter gathered whole, `sync_lora`)
    (sync also runs one reference pass and records whether the frozen reference is sharded again after it)
Sharded, rank 1 builds its policy on the meta device from MODEL without its weight files: every value it holds
(weights, frozen reference, LoRA adapter, rotary buffers) comes from rank 0.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.distributed as tdist

from rlvr.data.problem import Problem
from rlvr.sampling.config import SamplerConfig, SamplingParams
from rlvr.sampling.hf_backend import HFSampler
from rlvr.trainers import fsdp
from rlvr.trainers.config import FSDPConfig, LoraConfig, ModelConfig
from rlvr.trainers.logprobs import make_batch
from rlvr.trainers.policy import Policy

from weightless import model_for_this_rank  # this folder is sys.path[0] of a child script

PROBLEMS = [Problem(id=f"p{i}", task="arith", prompt=f"{i} + {i} =", reference=str(2 * i)) for i in range(3)]


def perturbed(policy: Policy) -> None:
    """Move every weight off its checkpoint value, so a sync that copied nothing would be caught."""
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in policy.model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.01)


def run_sync(model: Path, out: Path, lora: bool) -> None:
    rank = tdist.get_rank() if tdist.is_initialized() else 0
    cfg = ModelConfig(path=str(model), lora=LoraConfig(r=4, alpha=8) if lora else None)
    torch.manual_seed(0)  # every rank must build the same LoRA init (the Trainer seeds the same way)
    sharded = tdist.is_initialized()
    path = str(model_for_this_rank(model, out)) if sharded else str(model)  # rank 1 builds on meta, reads no weights
    policy = Policy.from_config(cfg, path=path, need_reference=not lora,
                                build_on=("cpu" if rank == 0 else "meta") if sharded else None)
    if lora:  # PEFT starts B at zero: give the adapter values worth syncing
        with torch.no_grad():
            for name, p in policy.model.named_parameters():
                if "lora_B" in name:
                    p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(len(name))) * 0.1)
    else:
        perturbed(policy)
    expected = {k: v.detach().clone() for k, v in policy.model.state_dict().items()}
    if sharded:  # the perturbed (or adapter) values reach rank 1 from rank 0's copy
        fsdp.shard_policy(policy, FSDPConfig())
    local = sum(getattr(p, "_local_tensor", p).numel() for p in policy.model.parameters())
    scfg = SamplerConfig(backend="hf")
    own = HFSampler(scfg, model, lora_rank=4 if lora else None)  # this rank's separate engine (unperturbed copy)
    fsdp.sync_sampler(own, policy.model)
    synced = {k: v.detach().clone() for k, v in own.model.state_dict().items()}
    params = SamplingParams(max_tokens=6, temperature=1.0, seed=7)
    shared = HFSampler(scfg, model, tokenizer=policy.tokenizer, model=policy.model)
    problems = PROBLEMS if rank == 0 else PROBLEMS[:1]
    with fsdp.generation_weights(policy.model, FSDPConfig(), shared):  # no FSDP groups in one process: a no-op
        groups = shared.generate(problems, 2, params)
    still_sharded = all(type(p).__name__ == "DTensor" for p in policy.model.parameters())
    reference_sharded = None
    if not lora:  # a reference pass (GRPO's KL, DPO, PPO) leaves the frozen copy sharded again
        policy.logprobs(make_batch([[5, 6, 7]], [[8, 9]], policy.pad_id), 1, reference=True)
        reference_sharded = all(type(p).__name__ == "DTensor" for p in policy._reference.parameters())
    own.close()
    shared.close()
    if rank == 0:
        torch.save({
            "expected": expected, "synced": synced, "local_numel": local, "still_sharded": still_sharded,
            "reference_sharded": reference_sharded,
            "tokens": [[c.token_ids for c in g.completions] for g in groups],
            "world_size": tdist.get_world_size() if tdist.is_initialized() else 1,
        }, out / ("lora.pt" if lora else "sync.pt"))


if __name__ == "__main__":
    modes, model, out = sys.argv[1].split(","), Path(sys.argv[2]), Path(sys.argv[3])
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        tdist.init_process_group("gloo")
    try:
        for mode in modes:
            run_sync(model, out, lora=mode == "lora")
            if tdist.is_initialized():
                tdist.barrier()  # leave together: a rank tearing gloo down while its peer still talks can abort
    finally:
        if tdist.is_initialized():
            tdist.destroy_process_group()
