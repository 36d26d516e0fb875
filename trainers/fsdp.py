"""Sharded training with torch FSDP2 (`train.parallel: fsdp` under torchrun / accelerate launch, N > 1 ranks).

What is sharded, and how (`shard_policy`):
- `fully_shard` on every decoder layer (the model's `_no_split_modules` classes), then on the whole model (the
  root group: embeddings, final norm, LM head). A frozen full-fine-tuning reference copy is sharded the same way.
  Each rank holds 1/N of every parameter, gradient and AdamW state; a layer's weights are all-gathered for its
  forward (again for its backward when `reshard_after_forward`) and its gradients reduce-scattered after backward.
- Gradients are SUMMED over ranks (divide factor 1, sum-only collectives, which gloo also needs): rlvr divides each
  micro-batch loss by the FULL batch's normaliser and splits micro-batches round-robin, exactly as under ddp
  (trainers/distributed.py), so the summed shards are the single-process gradient.
- LoRA: the adapters sit inside the sharded layers and are sharded with them. They ride the layer's all-gather and
  reduce-scatter (no second communication path); replicating them would need `ignored_params` plus a separate
  all-reduce for a few MB that never limit memory. What sharding saves under LoRA is the frozen base.
- PPO's value head (hidden_size + 1 weights) stays replicated; its gradient is all-reduced as under ddp.
- Precision: `model.dtype` is the dtype of the sharded master weights; `train.fsdp.param_dtype` the dtype they are
  gathered and computed in (MixedPrecisionPolicy), `reduce_dtype` that of the gradient reduce-scatter.
  `cpu_offload` keeps shards, gradients and optimizer state in CPU memory (CPUOffloadPolicy).

Lock-step (`lockstep`): a forward or backward of a sharded module is a collective, so every rank must run the same
number of them. Micro-batches are split round-robin; a rank that owns fewer than the busiest rank runs zero-loss
passes on one token to match (one pass at most per loop, more only when the batch has fewer micro-batches than ranks).

Full weights leave the shards one FSDP group (a decoder layer, or the root) at a time, so the extra memory is one
layer, never the model:
- `sync_sampler`: each group is gathered (`DTensor.full_tensor()`) and handed to the sampler's `sync_full` before
  the next is gathered; every rank's colocated engine gets the full weights. LoRA: the adapter is gathered whole
  (it is small) and sent with `sync_lora`.
- an hf sampler that SHARES the policy's module (`sampler.shared`) generates through the FSDP module itself:
  `generation_weights` unshards every group for the whole generate call and keeps them unsharded across its
  forwards, so each rank decodes alone (ranks' decode loops differ in length, which lock-step forwards could not
  survive); the price is the full weights (in `param_dtype`) on every rank while it generates, which a colocated
  vLLM engine holds anyway.
- checkpoints: trainers/fsdp_checkpoint.py (sharded DCP state + a consolidated HF export streamed the same way).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as tdist
from torch import Tensor, nn
from torch.distributed.fsdp import CPUOffloadPolicy, FSDPModule, MixedPrecisionPolicy, OffloadPolicy, fully_shard
from torch.distributed.tensor import DTensor

from rlvr.trainers.config import FSDPConfig


def is_sharded(module: nn.Module) -> bool:
    return isinstance(module, FSDPModule)


def is_sharded_tensor(tensor: Tensor) -> bool:
    """A parameter (or gradient) held as this rank's shard; the rest (PPO's value head) is replicated."""
    return isinstance(tensor, DTensor)


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks of an HF causal LM (PEFT-wrapped or not): modules of its `_no_split_modules` classes."""
    base = model.get_base_model() if hasattr(model, "peft_config") else model
    names = set(getattr(base, "_no_split_modules", None) or ())
    layers = [m for m in base.modules() if type(m).__name__ in names]
    if not layers:
        raise ValueError(f"train.parallel=fsdp: no decoder layers found in {type(base).__name__} (_no_split_modules={names})")
    return layers


def shard_module(model: nn.Module, cfg: FSDPConfig) -> nn.Module:
    """`fully_shard` each decoder layer, then the root; gradients summed over ranks. In place; returns `model`."""
    mp = MixedPrecisionPolicy(
        param_dtype=getattr(torch, cfg.param_dtype) if cfg.param_dtype else None, reduce_dtype=getattr(torch, cfg.reduce_dtype)
    )
    offload = CPUOffloadPolicy(pin_memory=torch.cuda.is_available()) if cfg.cpu_offload else OffloadPolicy()
    for layer in decoder_layers(model):
        fully_shard(layer, mp_policy=mp, offload_policy=offload, reshard_after_forward=cfg.reshard_after_forward)
    fully_shard(model, mp_policy=mp, offload_policy=offload)  # the root keeps its small group for the backward
    for _, module in fsdp_modules(model):
        module.set_gradient_divide_factor(1.0)  # SUM: losses are already divided by the full batch's normaliser
        module.set_force_sum_reduction_for_comms(True)  # ReduceOp.SUM only (gloo has no PREMUL_SUM / AVG)
    return model


def shard_policy(policy, cfg: FSDPConfig) -> None:
    """Shard a `Policy`'s model (and its frozen reference copy, if any) in place, before the optimizer is built
    and before any step (a reference built as structure only is filled with the policy's weights).

    Rank 0 alone needs the weights: it builds the policy in host memory, the other ranks may build theirs on the
    meta device (`Policy.from_config(build_on="meta")`), so a node holds one host copy of the checkpoint, not one
    per rank. `fully_shard` moves each group to the mesh's device (this rank's GPU) as it shards it, so a GPU never
    holds more than its shards plus one layer; then every shard, buffer and the replicated value head is filled
    from rank 0's copy, one tensor at a time (`broadcast_from_rank0`)."""
    main = tdist.get_rank() == 0
    # rank 0's host copy (kept alive until loaded), with the buffers a state dict leaves out (rotary frequencies)
    full = policy.model.state_dict() if main else {}
    buffers = dict(policy.model.named_buffers()) if main else {}
    fills = [(policy.model, full, {})]
    reference = policy._reference
    if reference is not None:  # a copy of the policy before any step: structure only if built for FSDP
        own = main and not _on_meta(reference)
        fills.append((reference, reference.state_dict(), {}) if own else (reference, full, buffers))
    for module, _, _ in fills:
        shard_module(module, cfg)
    device = rank_device()
    for module, state, buffer_values in fills:
        _fill_from_rank0(module, state, buffer_values, device)
    head = policy.value_head
    if head is not None:  # replicated: beside the shards, on this rank's device
        if _on_meta(head):
            head.to_empty(device=device)
        else:
            head.to(device)
        _broadcast_from_rank0(list(head.parameters()))
    # a meta build draws no random numbers (rank 0's LoRA init did): continue from rank 0's generator, as before
    rng = torch.get_rng_state()
    _broadcast_from_rank0([rng])
    torch.set_rng_state(rng)


def rank_device() -> torch.device:
    """The device this rank's shards live on: its GPU under NCCL, the host under gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if tdist.get_backend() == "nccl" else torch.device("cpu")


def _on_meta(module: nn.Module) -> bool:
    return any(t.is_meta for t in (*module.parameters(), *module.buffers()))


def _fill_from_rank0(module: nn.Module, state: dict[str, Tensor], buffers: dict[str, Tensor], device: torch.device) -> None:
    """Load rank 0's full `state` into every rank's shards (allocated first where they are meta), then rank 0's
    buffers, which the state dict may lack (rotary frequencies are not persistent): the module's own, or on rank 0
    those given in `buffers` (for a module that has none of its own values)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    if _on_meta(module):
        module.to_empty(device=device)
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(module, dict(state), options=options)  # it puts the shards into the dict it is given
    with torch.no_grad():
        for name, buffer in module.named_buffers():
            if name in buffers:
                buffer.copy_(buffers[name])
    _broadcast_from_rank0(list(module.buffers()))


def _broadcast_from_rank0(tensors: list[Tensor]) -> None:
    """Rank 0's values into each rank's `tensors`, in place (through this rank's device: NCCL sends from GPUs)."""
    device = rank_device()
    with torch.no_grad():
        for tensor in tensors:
            on_wire = tensor.to(device)
            tdist.broadcast(on_wire, src=0)
            if on_wire is not tensor:
                tensor.copy_(on_wire)


def fsdp_modules(model: nn.Module) -> list[tuple[str, FSDPModule]]:
    """(qualified name, module) of every FSDP group in `model`, root ("") first."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, FSDPModule)]


def full(tensor: Tensor) -> Tensor:
    """The whole tensor on every rank (an all-gather for a DTensor shard), detached."""
    return (tensor.full_tensor() if isinstance(tensor, DTensor) else tensor).detach()


def gathered_groups(model: nn.Module) -> Iterator[dict[str, Tensor]]:
    """Full weights one FSDP group at a time, named as `model.named_parameters()` (for a plain HF model these are
    its checkpoint names; a tied LM head appears once, as the embedding). An unsharded model is one group.
    Every rank must iterate to the end (each group is a collective)."""
    prefixes = [name for name, _ in fsdp_modules(model)] or [""]
    groups: dict[str, dict[str, Tensor]] = {p: {} for p in prefixes}
    for name, param in model.named_parameters():
        owner = max((p for p in prefixes if p == "" or name.startswith(p + ".")), key=len)
        groups[owner][name] = param
    for params in groups.values():
        if params:
            yield {name: full(p) for name, p in params.items()}


def gathered_adapter(model: nn.Module):
    """The PEFT model's LoRA adapter with every tensor gathered whole (`LoraAdapter`, ready for `sync_lora`)."""
    from rlvr.sampling.lora import LoraAdapter

    adapter = LoraAdapter.from_peft(model)
    adapter.tensors = {name: full(t) for name, t in adapter.tensors.items()}
    return adapter


def sync_sampler(sampler, model: nn.Module) -> None:
    """Send the policy to this rank's sampler: if sharded, full weights streamed group by group (or the gathered
    adapter); an unsharded model goes through the sampler's own `sync`."""
    if not is_sharded(model):
        sampler.sync(model)
        return
    if getattr(sampler, "shared", False):  # it generates with this very module (see `generation_weights`)
        return
    if hasattr(model, "peft_config"):
        sampler.sync_lora(gathered_adapter(model))
        return
    with _partial_loads_expected():
        for group in gathered_groups(model):
            sampler.sync_full(list(group.items()))  # the engine copies them in before the next group is gathered


class _DropPartialLoad(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Following weights were not loaded") or message.endswith("Failed to load weights"))


@contextmanager
def _partial_loads_expected():
    """vLLM's in-place reload warns about every layer NOT in the call ("<Layer>: Failed to load weights",
    "Following weights were not loaded"): with one group per call that is every other layer, by design. Those
    two lines are dropped while the groups stream; every other vLLM message passes through."""
    loggers = [logging.getLogger(f"vllm.model_executor.model_loader.reload.{name}") for name in ("layerwise", "inplace")]
    drop = _DropPartialLoad()
    for logger in loggers:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(drop)


@contextmanager
def generation_weights(model: nn.Module, cfg: FSDPConfig, sampler):
    """For a `sampler` that generates with this very (sharded) module: every group unsharded and kept so across
    forwards; on exit the shards are restored. A collective on entry: every rank must enter, even one with
    nothing to generate. A no-op for an unsharded model or a sampler with its own engine."""
    groups = fsdp_modules(model) if getattr(sampler, "shared", False) else []
    for _, module in groups:
        module.set_reshard_after_forward(False, recurse=False)
    for _, module in groups:
        module.unshard()
    try:
        yield model
    finally:
        for name, module in groups:
            module.reshard()
            module.set_reshard_after_forward(cfg.reshard_after_forward if name else False, recurse=False)


def lockstep(model: nn.Module, dist, count: int, *, backward: bool) -> int:
    """After a loop over `count` round-robin micro-batches: run zero-loss one-token passes (forward, and backward
    if the loop ran backwards) until this rank has run as many as the busiest rank. Returns the passes run;
    a no-op (0) unless `model` is sharded over several ranks."""
    if not (dist.enabled and is_sharded(model)):
        return 0
    mine = len(range(dist.rank, count, dist.world_size))
    missing = -(-count // dist.world_size) - mine
    device = rank_device()
    for _ in range(missing):
        with torch.set_grad_enabled(backward):
            out = model(input_ids=torch.zeros((1, 1), dtype=torch.long, device=device), use_cache=False)
            if backward:
                (out.logits.float().sum() * 0.0).backward()
    return missing


def lockstep_enumerate(model: nn.Module, dist, items, *, backward: bool = False):
    """`enumerate(items)` for a loop over round-robin micro-batches (`if not dist.owns(i): continue`) that, once
    the items run out, runs the `lockstep` passes this rank owes; `backward`: the loop ran backward passes."""
    count = 0
    for count, item in enumerate(items, 1):
        yield count - 1, item
    lockstep(model, dist, count, backward=backward)


def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> Tensor:
    """`torch.nn.utils.clip_grad_norm_` over sharded (DTensor) and replicated gradients together: the total 2-norm
    is the square root of the shards' summed squares (all-reduced) plus the replicated ones' (counted once)."""
    grads = [p.grad for p in params if p.grad is not None]
    sharded = [g.to_local() for g in grads if isinstance(g, DTensor)]
    if not sharded:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    plain = [g for g in grads if not isinstance(g, DTensor)]
    squares = torch.stack([g.float().pow(2).sum() for g in sharded]).sum()
    tdist.all_reduce(squares, op=tdist.ReduceOp.SUM)
    if plain:
        squares = squares + torch.stack([g.float().pow(2).sum() for g in plain]).sum().to(squares.device)
    total = squares.sqrt()
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in sharded + plain:
        g.mul_(coef.to(g.device, g.dtype))
    return total
