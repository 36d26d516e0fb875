"""Block-sparse attention for packed groups: each segment attends to its prefix and causally to itself only.

A packed row (trainers/shared_prompt.py) holds every group of a micro-batch back to back, without padding:

    p0 p1 p2 | a0 a1 a2 | b0 b1 | q0 q1 | c0 c1 c2 | ...

Its attention pattern is block-sparse: a prompt is causal over itself; a completion sees its group's prompt and
its own earlier tokens. A dense [N, N] mask computes all N^2 scores and throws most away (N ~ 1,000 for 4
groups of 8 on the arith task, ~90% masked). Here every segment is gathered into its own small attention
problem -- queries = its tokens, keys = prefix + its tokens -- and segments of similar size are padded into
one SDPA call (a "bucket"), so the scores computed are about sum(len * (prefix + len)) instead of N^2. The
outputs are scattered back to the packed order. Same values as the dense mask, exactly: the same keys are
seen by every query, only the masked ones are not computed.

Registered with transformers as the attention implementation `SEGMENT_ATTENTION`; the model runs it while
`segment_attention(model)` is active and the forward gets `rlvr_segments=<SegmentPlan>`.

Two kernels compute the same values (`RLVR_SEGMENT_KERNEL`, read when a plan is made):
- `buckets` (the default on every device): the SDPA buckets above. Measured on CPU (bench/RESULTS.md). On CUDA
  without cuDNN attention (sampling/sdpa_kernels.py: it plans per shape, and bucket shapes change with every
  micro-batch); `RLVR_SEGMENT_SDPA=all` lets torch choose.
- `flex`: torch's FlexAttention over the whole row with a document block mask (trainers/segment_flex.py);
  compiled on CUDA, eager where it cannot compile; no-grad passes only on CPU (torch has no backward there).
Which is faster on a GPU is measured by bench/gpu_profile.py (scripts/gpu_check.sh); until it has
run on one, CUDA keeps `buckets` (docs/gpu.md).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from rlvr.sampling.sdpa_kernels import without_cudnn
from rlvr.trainers.logprobs import to_device_together
from rlvr.trainers.segment_flex import Documents, documents, flex_forward

SEGMENT_ATTENTION = "rlvr_segments"
_MAX_BUCKETS = 4
# Fixed cost of one more SDPA call per layer (its gathers, the call, their backward: ~15 kernels), in padded score
# cells. On CPU about a 32 x 64 tile (bench/RESULTS.md). On a GPU each of those kernels costs a launch (~5 us), in
# which an H200 computes on the order of 1e6 cells (16 heads x 64 dims, forward and backward): merging buckets is
# nearly free there, so a plan for an accelerator pays 2^19 cells per call (an estimate until measured: docs/gpu.md).
_BUCKET_COST = 2048
_BUCKET_COST_ACCELERATOR = 1 << 19


@dataclass(frozen=True)
class Bucket:
    queries: Tensor  # [S, Lq] packed positions of each segment's tokens (padding repeats a valid position)
    keys: Tensor  # [S, Lk] prefix positions then own positions
    limit: Tensor  # [S, Lq] query i of a segment with prefix A sees keys j < A + i + 1 (= its limit)
    mask: Tensor  # [S, 1, Lq, Lk] bool, from `limit`


def _bucket(queries: Tensor, keys: Tensor, limit: Tensor) -> Bucket:
    """The bucket with its mask computed where `limit` lives (on the device: no mask is copied over)."""
    mask = torch.arange(keys.shape[1], device=limit.device)[None, None, :] < limit[:, :, None]
    return Bucket(queries, keys, limit, mask[:, None])


KERNEL_ENV = "RLVR_SEGMENT_KERNEL"
SEGMENT_SDPA_ENV = "RLVR_SEGMENT_SDPA"  # `all`: torch chooses the buckets' SDPA kernels, cuDNN's included
KERNELS = ("buckets", "flex")


def segment_kernel() -> str:
    """The kernel named by RLVR_SEGMENT_KERNEL (unset or `auto`: buckets)."""
    name = os.environ.get(KERNEL_ENV, "auto")
    if name == "auto":
        return "buckets"
    if name not in KERNELS:
        raise ValueError(f"{KERNEL_ENV}={name!r}: expected one of auto, {', '.join(KERNELS)}")
    return name


@dataclass(frozen=True)
class SegmentPlan:
    buckets: list[Bucket]  # the `buckets` kernel (empty for `flex`)
    order: Tensor | None  # [N]: packed position -> row of the buckets' concatenated (padded) outputs
    documents: Documents | None = None  # the `flex` kernel
    # each kv head repeated for its query heads before SDPA (planned for an accelerator): torch's masked fused
    # kernel on CUDA (memory-efficient) takes no grouped-query heads, and with `enable_gqa` and a mask SDPA falls
    # back to the math kernel, which computes in fp32 and keeps every [Lq, Lk] score for the backward
    repeat_kv: bool = False

    def to(self, device) -> "SegmentPlan":
        """The plan on `device`: its index tensors go in ONE host->device copy (each copy of pageable memory
        also waits for the device's queue), the masks are computed there."""
        if self.order is None:
            return self
        parts = [t for b in self.buckets for t in (b.queries, b.keys, b.limit)] + [self.order]
        moved = to_device_together(parts, device)
        buckets = [_bucket(*moved[3 * i : 3 * i + 3]) for i in range(len(self.buckets))]
        return SegmentPlan(buckets, moved[-1], self.documents, self.repeat_kv)


def _split_sizes(shapes: list[tuple[int, int]], bucket_cost: int = _BUCKET_COST) -> list[int]:
    """Bucket sizes over `shapes` (sorted (Lq, Lk) pairs) minimising the padded score area plus `bucket_cost`
    per bucket, at most _MAX_BUCKETS buckets. Cuts are searched at <= 64 evenly spaced places (O(64^2) work
    whatever the number of segments)."""
    n = len(shapes)
    step = -(-n // 64)
    cuts = list(range(0, n, step)) + [n]
    # the largest Lq and Lk of each stretch between neighbouring cuts
    block = [(max(s[0] for s in shapes[a:b]), max(s[1] for s in shapes[a:b])) for a, b in zip(cuts, cuts[1:])]
    m = len(block)
    inf = float("inf")
    best = [[inf] * (m + 1) for _ in range(_MAX_BUCKETS + 1)]  # best[k][j]: first j blocks in k buckets
    back = [[0] * (m + 1) for _ in range(_MAX_BUCKETS + 1)]
    best[0][0] = 0
    for j in range(1, m + 1):
        lq = lk = 0
        for i in range(j - 1, -1, -1):  # bucket = blocks i..j-1, maxima grown leftwards
            lq, lk = max(lq, block[i][0]), max(lk, block[i][1])
            cost = (cuts[j] - cuts[i]) * lq * lk + bucket_cost
            for k in range(1, _MAX_BUCKETS + 1):
                c = best[k - 1][i] + cost
                if c < best[k][j]:
                    best[k][j], back[k][j] = c, i
    k = min(range(1, _MAX_BUCKETS + 1), key=lambda k: best[k][m])
    sizes, j = [], m
    while k > 0:
        i = back[k][j]
        sizes.append(cuts[j] - cuts[i])
        j, k = i, k - 1
    return sizes[::-1]


def plan_segments(segments: list[tuple[list[int], list[int]]], length: int, kernel: str | None = None,
                  device=None) -> SegmentPlan:
    """Plan for a packed row of `length` tokens split into `segments`, each (prefix positions, own positions):
    every position is the own token of exactly one segment. `kernel`: buckets | flex (None: `segment_kernel()`).
    `device`: where the plan will run (None: the CPU); it sets the cost of one more bucket and whether grouped
    kv heads are repeated (`SegmentPlan.repeat_kv`)."""
    if (kernel or segment_kernel()) == "flex":
        return SegmentPlan([], None, documents(segments, length))
    segments = sorted((s for s in segments if s[1]), key=lambda s: (len(s[1]), len(s[0]) + len(s[1])))
    shapes = [(len(own), len(pre) + len(own)) for pre, own in segments]
    buckets, order = [], torch.empty(length, dtype=torch.long)
    start, filled, seen = 0, 0, []
    on_cpu = device is None or torch.device(device).type == "cpu"
    for size in _split_sizes(shapes, _BUCKET_COST if on_cpu else _BUCKET_COST_ACCELERATOR):
        chunk = segments[start : start + size]
        start += size
        lq = max(len(own) for _, own in chunk)
        lk = max(len(pre) + len(own) for pre, own in chunk)
        queries = torch.empty((size, lq), dtype=torch.long)
        keys = torch.empty((size, lk), dtype=torch.long)
        limit = torch.empty((size, lq), dtype=torch.long)
        for s, (pre, own) in enumerate(chunk):
            cols = pre + own
            queries[s] = torch.tensor(own + [own[-1]] * (lq - len(own)))
            keys[s] = torch.tensor(cols + [cols[-1]] * (lk - len(cols)))
            # padded query slots copy the last real one (never NaN, never read back)
            limit[s] = len(pre) + torch.arange(1, lq + 1).clamp(max=len(own))
            # the output of query slot (s, i) is row filled + s * lq + i of the concatenated bucket outputs
            order[torch.tensor(own)] = filled + s * lq + torch.arange(len(own))
            seen += own
        filled += size * lq
        buckets.append(_bucket(queries, keys, limit))
    if sorted(seen) != list(range(length)):
        raise ValueError("segments must cover every packed position exactly once")
    return SegmentPlan(buckets, order, repeat_kv=not on_cpu)


def segment_attention_forward(
    module: torch.nn.Module,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    sliding_window: int | None = None,
    rlvr_segments: SegmentPlan | None = None,
    **kwargs,
) -> tuple[Tensor, None]:
    """transformers attention interface: query [1, H, N, D], key/value [1, Hkv, N, D] -> ([1, N, H, D], None)."""
    if rlvr_segments is None or query.shape[0] != 1:
        raise ValueError("segment attention needs one packed row and its `rlvr_segments` plan")
    if sliding_window is not None:
        raise ValueError("segment attention does not implement sliding windows")
    if rlvr_segments.documents is not None:
        return flex_forward(query, key, value, rlvr_segments.documents, dropout, scaling), None
    heads, dim = query.shape[1], query.shape[3]
    if rlvr_segments.repeat_kv and key.shape[1] != heads:  # kv head i serves query heads i*rep .. (i+1)*rep-1
        key, value = (x.repeat_interleave(heads // x.shape[1], dim=1) for x in (key, value))
    q, k, v = (x[0].transpose(0, 1) for x in (query, key, value))  # [N, heads, D]
    parts = []
    with without_cudnn(query.device, SEGMENT_SDPA_ENV):  # the buckets' shapes change with every micro-batch
        for b in rlvr_segments.buckets:
            out = F.scaled_dot_product_attention(
                q[b.queries].transpose(1, 2), k[b.keys].transpose(1, 2), v[b.keys].transpose(1, 2),
                attn_mask=b.mask, dropout_p=dropout, scale=scaling, enable_gqa=k.shape[1] != heads,
            )  # [S, H, Lq, D]; on CPU GQA heads go in as they are, never copied
            parts.append(out.transpose(1, 2).reshape(-1, heads, dim))
    # one gather drops the padded query slots and restores the packed order (no boolean mask: its
    # data-dependent shape would make the host wait for the device in every layer)
    return torch.cat(parts)[rlvr_segments.order].unsqueeze(0), None


def supports_segments(model: torch.nn.Module) -> bool:
    """Whether `model`'s attention can be swapped for segment attention: sdpa or eager, no sliding windows."""
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) not in ("sdpa", "eager", SEGMENT_ATTENTION):
        return False
    if "sliding_attention" in (getattr(config, "layer_types", None) or []):
        return False
    return not getattr(config, "use_sliding_window", False)


@contextlib.contextmanager
def segment_attention(model: torch.nn.Module):
    """Run `model`'s attention as segment attention inside the block (the forward must pass `rlvr_segments`)."""
    from transformers import AttentionInterface

    if SEGMENT_ATTENTION not in AttentionInterface._global_mapping:
        AttentionInterface.register(SEGMENT_ATTENTION, segment_attention_forward)
    with _attention_implementation(model.config, SEGMENT_ATTENTION):
        yield


@contextlib.contextmanager
def _attention_implementation(config, name: str):
    before = config._attn_implementation
    config._attn_implementation = name
    try:
        yield
    finally:
        config._attn_implementation = before


def checkpoint_context_fn(config):
    """For `torch.utils.checkpoint(..., context_fn=...)` (non-reentrant): recompute a checkpointed layer with the
    attention implementation its forward ran with. The recompute happens in backward, after `segment_attention`
    has switched the model back to SDPA; without this a packed forward would be recomputed as plain causal
    attention across segments (a CheckpointError, or wrong gradients when the saved shapes happen to match)."""
    return contextlib.nullcontext(), _attention_implementation(config, config._attn_implementation)
