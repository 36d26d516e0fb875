"""One training step of the FSDP tests in small (tests/scaleout/fsdp_train_child.py on gloo ranks, and
tests/gpu/test_gpu_fsdp.py over NCCL): a fixed batch split into micro-batches, rank r computing r, r+N, ... (a
rank short of the busiest runs `lockstep` passes), each loss divided by the FULL batch's token count; the value
head's gradient all-reduced, the norm clipped over sharded and replicated gradients together, then the optimizer
steps. The loss has a policy part (token log-probs) and a value-head part, so sharded and replicated parameters
train. Imports nothing from the test folders: a child script and a pytest module both use it."""

from __future__ import annotations

import torch

from rlvr.trainers import fsdp
from rlvr.trainers.logprobs import forward_completions, make_batch

MICRO_BATCH = 2


def fixed_batch(seed: int):
    gen = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(3, 200, (2 + i,), generator=gen).tolist() for i in range(5)]
    completions = [torch.randint(3, 200, (1 + (3 * i) % 5,), generator=gen).tolist() for i in range(5)]
    return make_batch(prompts, completions, pad_id=0)


def train_step(policy, optimizer, batch, dist) -> float:
    optimizer.zero_grad(set_to_none=True)
    normalizer = float(batch.completion_mask.sum())
    chunks = batch.split(MICRO_BATCH)
    for k, (_, micro) in enumerate(chunks):
        if not dist.owns(k):
            continue
        out = forward_completions(policy.model, micro, with_hidden=True)
        values = policy.value_head(out.hidden)
        loss = (-(out.logp * out.mask).sum() + ((values - 0.5) ** 2 * out.mask).sum()) / normalizer
        loss.backward()
    fsdp.lockstep(policy.model, dist, len(chunks), backward=True)
    params = policy.trainable_parameters()
    dist.all_reduce_grads([p for p in params if not fsdp.is_sharded_tensor(p)])  # the replicated value head
    norm = fsdp.clip_grad_norm([p for p in params if p.grad is not None], max_norm=0.5)
    optimizer.step()
    return float(norm)


def full_params(policy) -> dict[str, torch.Tensor]:
    out = {name: fsdp.full(p).clone() for name, p in policy.model.named_parameters()}
    out.update({f"value_head.{k}": v.detach().clone() for k, v in policy.value_head.named_parameters()})
    return out
