"""One process: a colocated vLLM engine fed from an FSDP2-sharded module, one group per `sync_full` call.

    fsdp_vllm_child.py MODEL OUT_JSON

vLLM's CPU engine initialises torch.distributed itself (a world of 1); the module is sharded over that group, so
`trainers.fsdp.sync_sampler` really gathers and streams per decoder layer (the 2-rank path is the training-run
test). Written: the sizes of the sync calls, the engine's log-probs after the streamed sync and after one whole
sync of the same weights, the log-probs before any sync, and the vLLM reload warnings seen while streaming.
"""

from __future__ import annotations

import json
import logging
import sys

import torch
from transformers import AutoModelForCausalLM

from rlvr.sampling.config import SamplerConfig
from rlvr.sampling.factory import make_sampler
from rlvr.trainers import fsdp
from rlvr.trainers.config import FSDPConfig

from launch_child import small_engine_fraction  # this folder is sys.path[0] of a child script

SEQUENCE = [[5, 17, 33, 2, 9, 40, 77, 120, 3, 64]]


class Seen(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def main(model_path: str, out: str) -> None:
    sampler = make_sampler(SamplerConfig(backend="vllm", gpu_memory_utilization=small_engine_fraction()), model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)  # weights the engine does not have yet
    whole = [(name, p.detach().clone()) for name, p in model.named_parameters()]
    before = sampler.logprobs_of(SEQUENCE)[0]
    fsdp.shard_module(model, FSDPConfig())
    calls, sync_full = [], sampler.sync_full
    sampler.sync_full = lambda items: (calls.append(len(items)), sync_full(items))
    seen = Seen()
    logging.getLogger("vllm.model_executor.model_loader.reload.layerwise").addHandler(seen)
    fsdp.sync_sampler(sampler, model)
    streamed = sampler.logprobs_of(SEQUENCE)[0]
    sync_full(whole)
    one_call = sampler.logprobs_of(SEQUENCE)[0]
    world_size = torch.distributed.get_world_size()
    sampler.close()  # (vLLM's shutdown also destroys the process group it made)
    result = {"world_size": world_size, "calls": calls, "before": before,
              "streamed": streamed, "one_call": one_call, "warnings": seen.lines}
    with open(out, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
