"""The `flex` kernel of segment attention (trainers/segment_attention.py): torch's FlexAttention over the whole
packed row with a document block mask. A key is visible to a query when it is in the query's own segment at or
before it, or in the segment the query's segment continues (a completion continues its prompt).

On CUDA the kernel is compiled (eager FlexAttention is a reference implementation: it materialises the scores).
When inductor cannot compile it -- on the H200 (torch 2.11) the first compile in each dtype failed with
`NoValidChoicesError` in its flex template -- the kernel says so in one line and runs eagerly from then on: the
same values, slower, instead of a failed training step. Its backward is tried once, on copies, before the first
call that needs gradients (`_backward_probe`), since a backward compile error would surface only at `.backward()`. torch 2.13 has no FlexAttention backward on CPU, so there
it serves no-grad passes only.
"""

from __future__ import annotations

import logging
import threading
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
            if torch.is_grad_enabled() and query.requires_grad and not _compiled.get("backward_ran"):
                _backward_probe(_compiled["kernel"], query, key, value, kwargs)
                _compiled["backward_ran"] = True
            return _compiled["kernel"](query, key, value, **kwargs).transpose(1, 2)
        except (BackendCompilerFailed, InductorError, _BackwardFailed) as exc:
            log.warning("rlvr: FlexAttention did not compile on this torch (%s); the flex segment kernel runs "
                        "eagerly from now on (slower; RLVR_SEGMENT_KERNEL=buckets is the default)", _root_cause(exc))
            _compiled["kernel"] = None
    return flex_attention(query, key, value, **kwargs).transpose(1, 2)


class _BackwardFailed(RuntimeError):
    """The compiled kernel's backward failed on the probe (its cause is the compiler's error)."""


def _backward_probe(kernel, query: Tensor, key: Tensor, value: Tensor, kwargs: dict) -> None:
    """Run the compiled kernel forward and backward once on copies of a call's inputs, before the first call whose
    gradient is wanted. With dynamic shapes AOTAutograd compiles the backward early but keeps its error for the
    first `.backward()`: a backward that inductor cannot compile would otherwise fail the training step, past the
    forward's fallback. In a thread of its own: grad mode, autocast and an activation checkpoint's saved-tensor
    hooks are per thread, so the probe's graph stays out of the caller's."""
    failed: list[BaseException] = []

    def probe():
        try:
            if query.device.type == "cuda":
                torch.cuda.set_device(query.device)
            copies = [x.detach().clone().requires_grad_(True) for x in (query, key, value)]
            kernel(*copies, **kwargs).float().sum().backward()
        except Exception as exc:  # noqa: BLE001 - any failure of the compiled backward means: run eagerly
            failed.append(exc)

    thread = threading.Thread(target=probe, name="rlvr-flex-probe")
    thread.start()
    thread.join()
    if failed:
        raise _BackwardFailed(f"in the backward: {_root_cause(failed[0])}") from failed[0]


def _root_cause(exc: BaseException) -> str:
    """`Type: first line` of the innermost exception: the compiler wraps its error in several layers."""
    while getattr(exc, "inner_exception", None) or exc.__cause__:
        exc = getattr(exc, "inner_exception", None) or exc.__cause__
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__
