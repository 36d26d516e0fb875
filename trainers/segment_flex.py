"""The `flex` kernel of segment attention (trainers/segment_attention.py): torch's FlexAttention over the whole
packed row with a document block mask. A key is visible to a query when it is in the query's own segment at or
before it, or in the segment the query's segment continues (a completion continues its prompt).

On CUDA the kernel is compiled (eager FlexAttention is a reference implementation: it materialises the scores).
When inductor cannot compile it -- on the H200 (torch 2.11) the first compile in each dtype failed with
`NoValidChoicesError` in its flex template -- the kernel says so in one line and runs eagerly from then on: the
same values, slower, instead of a failed training step. torch 2.13 has no FlexAttention backward on CPU, so there
it serves no-grad passes only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import Tensor

log = logging.getLogger(__name__)
COMPILE_ON = {"cuda"}  # device types where the kernel is compiled
_compiled: dict = {}  # "kernel": the compiled callable, or None once a compile has failed (eager from then on)


def compile_flex():
    """The compiled FlexAttention (dynamic shapes: every packed row has its own length)."""
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=True)


@dataclass(frozen=True)
class Documents:
    """The flex kernel's view of a packed row: which segment each position belongs to, and which segment each
    segment continues (-1: none). Its block mask is built once per device and shared by all layers."""

    segment: Tensor  # [N] long
    prefix: Tensor  # [S] long
    masks: dict = field(default_factory=dict, compare=False)

    def block_mask(self, device):
        from torch.nn.attention.flex_attention import create_block_mask

        key = str(device)
        if key not in self.masks:
            segment, prefix = self.segment.to(device), self.prefix.to(device)

            def visible(_b, _h, q, kv):
                same = (segment[q] == segment[kv]) & (kv <= q)
                return same | (prefix[segment[q]] == segment[kv])

            n = segment.shape[0]
            self.masks[key] = create_block_mask(visible, None, None, n, n, device=device)
        return self.masks[key]


def documents(segments: list[tuple[list[int], list[int]]], length: int) -> Documents:
    """Segment ids per position; a segment's prefix must be exactly another segment's own positions (a
    completion continues its prompt), which is what trainers/shared_prompt.py packs."""
    segment = torch.full((length,), -1, dtype=torch.long)
    owner = {}
    for s, (_, own) in enumerate(segments):
        if own:
            if (segment[torch.tensor(own)] >= 0).any():
                raise ValueError("segments must cover every packed position exactly once")
            segment[torch.tensor(own)] = s
            owner[tuple(own)] = s
    if (segment < 0).any():
        raise ValueError("segments must cover every packed position exactly once")
    prefix = torch.full((len(segments),), -1, dtype=torch.long)
    for s, (pre, own) in enumerate(segments):
        if pre and own:
            if tuple(pre) not in owner:
                raise ValueError("the flex kernel needs every prefix to be one whole segment")
            prefix[s] = owner[tuple(pre)]
    return Documents(segment, prefix)


def flex_forward(query: Tensor, key: Tensor, value: Tensor, documents: Documents, dropout: float,
                 scaling: float | None) -> Tensor:
    """FlexAttention over the whole row: [1, H, N, D] -> [1, N, H, D]."""
    from torch._dynamo.exc import BackendCompilerFailed
    from torch._inductor.exc import InductorError
    from torch.nn.attention.flex_attention import flex_attention

    if dropout:
        raise ValueError("the flex segment kernel has no attention dropout")
    device = query.device.type
    if device not in COMPILE_ON and torch.is_grad_enabled() and query.requires_grad:
        raise ValueError(f"RLVR_SEGMENT_KERNEL=flex trains on CUDA only: torch has no FlexAttention backward on "
                         f"{device} (use buckets there)")
    # under mixed precision the rotary embedding leaves q and k in fp32 while v comes out of a bf16 matmul: SDPA
    # is on autocast's list and gets all three cast, FlexAttention is not on every torch's
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else query.dtype
    query, key, value = (x.to(dtype) for x in (query, key, value))
    kwargs = {"block_mask": documents.block_mask(query.device), "scale": scaling,
              "enable_gqa": key.shape[1] != query.shape[1]}
    if device in COMPILE_ON and "kernel" not in _compiled:
        _compiled["kernel"] = compile_flex()
    if device in COMPILE_ON and _compiled["kernel"] is not None:
        try:
            return _compiled["kernel"](query, key, value, **kwargs).transpose(1, 2)
        except (BackendCompilerFailed, InductorError) as exc:
            log.warning("rlvr: FlexAttention did not compile on this torch (%s); the flex segment kernel runs "
                        "eagerly from now on (slower; RLVR_SEGMENT_KERNEL=buckets is the default)", _root_cause(exc))
            _compiled["kernel"] = None
    return flex_attention(query, key, value, **kwargs).transpose(1, 2)


def _root_cause(exc: BaseException) -> str:
    """`Type: first line` of the innermost exception: the compiler wraps its error in several layers."""
    while getattr(exc, "inner_exception", None) or exc.__cause__:
        exc = getattr(exc, "inner_exception", None) or exc.__cause__
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__
