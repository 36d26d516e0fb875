"""Data-parallel training helpers: this process's rank, the work split, and the collectives (a leaf module).

The same Trainer runs under `torchrun` or `accelerate launch` (entry point: `python -m rlvr.flows.launch`,
docs/scaleout.md), N ranks, one global batch. What a rank does in one step (`Dist` is read from RANK /
WORLD_SIZE / LOCAL_RANK; one process = one rank, every collective a no-op):
- Sampling and verification: `prompts_per_step` is the GLOBAL batch. Every rank draws the same problems (same
  seed, same cursor); rank r samples and verifies its contiguous share `shard(len(problems))` and the scored
  share is all-gathered (trainers/rollout.py), so every rank then holds the whole batch in problem order.
  Advantages (incl. the batch-std scale), zero-variance filtering/resampling, DPO pairs, PPO whitening and the
  logged metrics are therefore computed on the global batch, exactly as in one process.
- Backward: the algorithm splits the global batch into the same micro-batches as one process would
  (`Batch.split`, length-sorted) and rank r computes micro-batches r, r+N, r+2N, ... (`owns`). Losses are
  divided by the FULL batch's normalizer (tokens for dapo, sequences for grpo, rows * max_tokens for dr_grpo),
  which every rank knows because it holds the whole batch; the gradients of the ranks then SUM to the
  single-process gradient. No-grad passes (pi_old, reference, PPO values) are sharded the same way and
  all-reduced (`Policy.logprobs`).
- Gradient sync: ONE all-reduce (sum) of the accumulated gradients per optimizer step, bucketed
  (`Dist.all_reduce_grads`, called by the Trainer before clipping) -- not one per micro-batch.
  Why not `DistributedDataParallel`: DDP averages (we need the sum of exactly normalised parts), must see every
  forward (the trainer calls the HF/PEFT module directly for log-probs, the reference and the value head), hangs
  when a rank has no micro-batch (zero-variance filtering can leave a rank empty) and would hide `save_pretrained`
  / `disable_adapter` behind `.module`. The price: no overlap of communication with the backward pass.
- Side effects: only rank 0 writes checkpoints and metrics and logs; the others wait at a barrier. On resume,
  rank 0 picks the checkpoint and every rank loads that one (the run dir must be on a shared filesystem).

This is the ddp engine (every rank holds the whole model). `train.parallel: fsdp` shards it instead, with the
same split of work (trainers/fsdp.py, docs/scaleout.md). Backend: gloo on CPU, nccl on CUDA (each rank on
cuda:LOCAL_RANK). This module imports nothing from rlvr, so every other module may use it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as tdist

# how long a rank waits at a collective before the job fails (a peer holding the device lock, rank 0 writing a
# large checkpoint while the others wait at the barrier); docs/scaleout.md tells `--device-timeout` to stay below
PROCESS_GROUP_TIMEOUT = timedelta(minutes=30)

BUCKET_BYTES = 64 * 2**20  # gradient all-reduce bucket

# what a collective raises when another rank's process is gone (killed, crashed): gloo's socket errors, NCCL's;
# said by gloo, NCCL or c10d (torch's layer over them, its TCPStore), not by any RuntimeError that has the words
_PEER_GONE = re.compile(r"Connection (closed|reset) by peer|Broken pipe|remote process exited", re.IGNORECASE)
_COLLECTIVE = re.compile(r"gloo|nccl|c10d", re.IGNORECASE)


@dataclass(frozen=True)
class Dist:
    """This process's place in the job. `Dist()` is the single process: every collective is a no-op."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ---- how work is split -------------------------------------------------------------------
    def shard(self, count: int) -> tuple[int, int]:
        """[lo, hi) of this rank's contiguous share of `count` items (the first `count % N` ranks get one more)."""
        base, extra = divmod(count, self.world_size)
        lo = self.rank * base + min(self.rank, extra)
        return lo, lo + base + (1 if self.rank < extra else 0)

    def owns(self, index: int) -> bool:
        """Whether micro-batch `index` of the global batch is computed on this rank (round-robin)."""
        return index % self.world_size == self.rank

    # ---- collectives (identity in one process) ------------------------------------------------
    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64)."""
        if not self.enabled:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self._device())
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return t.tolist()

    def min(self, value: float) -> float:
        return self._reduce_one(value, tdist.ReduceOp.MIN)

    def max(self, value: float) -> float:
        return self._reduce_one(value, tdist.ReduceOp.MAX)

    def _reduce_one(self, value: float, op) -> float:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self._device())
        tdist.all_reduce(t, op=op)
        return float(t.item())

    def all_reduce_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum `tensor` over ranks in place."""
        if self.enabled:
            tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
        return tensor

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank (pickled)."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world_size
        tdist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj):
        """Rank 0's `obj` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            tdist.barrier()

    def all_reduce_grads(self, params: list[torch.nn.Parameter]) -> None:
        """Sum each parameter's accumulated gradient over ranks, in buckets of ~BUCKET_BYTES.

        A parameter that got a gradient on some rank but not here gets zeros first; one that got none on any
        rank keeps `grad=None` (so AdamW skips it, as in one process).
        """
        if not self.enabled or not params:
            return
        device = params[0].device
        has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
        tdist.all_reduce(has, op=tdist.ReduceOp.MAX)
        used = [p for p, flag in zip(params, has.tolist()) if flag]
        for p in used:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        for bucket in _buckets(used):
            flat = torch.cat([p.grad.reshape(-1) for p in bucket])
            tdist.all_reduce(flat, op=tdist.ReduceOp.SUM)
            offset = 0
            for p in bucket:
                n = p.grad.numel()
                p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
                offset += n

    def _device(self) -> torch.device:
        if tdist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def _buckets(params: list[torch.nn.Parameter]) -> list[list[torch.nn.Parameter]]:
    """Consecutive parameters of one dtype and device, up to BUCKET_BYTES each."""
    out: list[list[torch.nn.Parameter]] = []
    size = 0
    for p in params:
        nbytes = p.numel() * p.element_size()
        if not out or size + nbytes > BUCKET_BYTES or (p.dtype, p.device) != (out[-1][0].dtype, out[-1][0].device):
            out.append([])
            size = 0
        out[-1].append(p)
        size += nbytes
    return out


def from_env(environ=os.environ) -> Dist:
    """The rank this process was launched as (torchrun / accelerate launch set these); no env = one process."""
    world = int(environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(rank=int(environ["RANK"]), world_size=world, local_rank=int(environ.get("LOCAL_RANK", "0")))


def lost_peer(exc: BaseException | None) -> str | None:
    """The cause in a few words when `exc` is a collective that failed because another rank's process is gone,
    else None: 'gloo: Connection closed by peer [127.0.0.1]:18049'. gloo's own text around it (its source path,
    "This is typically caused by a remote worker crashing. ... GLHF!") says nothing of which rank or why; the
    launcher knows that (flows/torchrun.py)."""
    from_torch = isinstance(exc, getattr(tdist, "DistError", ())) or _COLLECTIVE.search(str(exc))
    if not isinstance(exc, RuntimeError) or not from_torch or not _PEER_GONE.search(str(exc)):
        return None
    line = next(line for line in str(exc).splitlines() if _PEER_GONE.search(line))
    line = re.sub(r"^\[[^\]]*:\d+\]\s*", "", line.strip())  # gloo's "[.../gloo/transport/tcp/pair.cc:553] "
    backend = tdist.get_backend() if tdist.is_initialized() else "torch.distributed"
    return f"{backend}: {line.split('. ')[0].rstrip('.')}"


def rank_device(device: str, dist: Dist) -> str:
    """The device this rank trains on: under a launcher `cuda` means cuda:LOCAL_RANK (every other device is the
    same for all ranks). ValueError for a CUDA index other than this rank's."""
    if not dist.enabled or torch.device(device).type != "cuda":
        return device
    if torch.device(device).index not in (None, dist.local_rank):
        raise ValueError(f"model.device={device!r} under {dist.world_size} ranks: use 'cuda' (each rank takes cuda:LOCAL_RANK)")
    return f"cuda:{dist.local_rank}"


def setup(device: str) -> tuple[Dist, bool]:
    """Join the process group of a torchrun/accelerate job (gloo on CPU, nccl on CUDA) if this process is one.

    Returns (dist, created): `created` is True when this call initialised the group (the caller destroys it).
    On CUDA each rank uses cuda:LOCAL_RANK, so `model.device: cuda` means "this rank's GPU".
    """
    dist = from_env()
    if not dist.enabled:
        return dist, False
    cuda = torch.device(rank_device(device, dist)).type == "cuda"
    if cuda:
        torch.cuda.set_device(dist.local_rank)
    created = not tdist.is_initialized()
    if created:  # one timeout for both backends: torch's NCCL default is 10 minutes, gloo's 30
        tdist.init_process_group(backend="nccl" if cuda else "gloo", timeout=PROCESS_GROUP_TIMEOUT)
    if tdist.get_world_size() != dist.world_size or tdist.get_rank() != dist.rank:
        raise RuntimeError(f"process group is rank {tdist.get_rank()}/{tdist.get_world_size()}, env says {dist.rank}/{dist.world_size}")
    return dist, created


def teardown(created: bool) -> None:
    if created and tdist.is_initialized():
        tdist.destroy_process_group()

