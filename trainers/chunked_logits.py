"""Per-token reductions of the logits over the vocabulary, without a float32 copy of the logits or their softmax:
the chosen token's log-prob, `log softmax(logits / temperature)[target]` (every algorithm's update), and the
entropy of `softmax(logits / temperature)` (PPO's entropy bonus).

Why: with a hub vocabulary the logits are the largest tensor of the update. Qwen2.5's 151,936 entries at 8,192
scored tokens of a micro-batch are 1.2 G values: 2.5 GB in bf16, and the plain `logits.float()` ->
`logsumexp` -> `gather` adds a 5 GB float32 copy that autograd keeps until backward, and a 5 GB float32 softmax
in backward. Here the forward goes over chunks of rows (`CHUNK_VALUES` logits at a time), keeping only one or two
floats per row (the log-sum-exp; for the entropy also the softmax-weighted mean logit); backward recomputes each
chunk's softmax from the saved logits and writes the gradient in the logits' dtype. What is held for backward is
the logits themselves (the LM head's output, which the plain form keeps too whenever they are already float32)
and those floats: peak memory is about twice the logits' size (they and their gradient) plus one chunk -- what a
fused kernel needs too -- from plain torch ops on every device. Values are computed in float32 from the given
logits, as before. bench/logprob_memory.py compares the log-prob with TRL's `selective_log_softmax`.

With z = logits / temperature, p = softmax(z), m = sum_k p_k z_k:
    d log p_target / d logits_j = (1[j = target] - p_j) / temperature
    entropy = logsumexp(z) - m,   d entropy / d logits_j = -p_j (z_j - m) / temperature
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

# Logits per chunk, by device type. CPU: a 4 MB float32 chunk stays in cache through the in-place steps on it
# (2,048 x 151,936 bf16, forward + backward on 2 cores: 0.57 s, against 1.39 s with 2^25). Elsewhere: 2^25 (a
# 128 MB temporary, 220 rows of a 151,936 vocabulary), so that a micro-batch costs tens of kernel launches, not
# thousands.
CHUNK_VALUES = {"cpu": 2**20}
ACCELERATOR_CHUNK_VALUES = 2**25


def selected_logprobs(logits: Tensor, targets: Tensor, temperature: float = 1.0) -> Tensor:
    """float32 log-probs [...] of `targets` [...] under `logits` [..., V] / temperature; differentiable in logits."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return _SelectedLogprobs.apply(logits, targets, float(temperature))


def token_entropy(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """float32 entropy [...] of softmax(`logits` [..., V] / temperature); differentiable in logits."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return _Entropy.apply(logits, float(temperature))


def _blocks(logits: Tensor) -> tuple[Tensor, int]:
    """`logits` as [L, T, V] without a copy, and rows per chunk: contiguous logits as one block (a chunk may span
    sequences), a strided view such as `logits[:, :-1]` as one block per leading index."""
    width = logits.shape[-1]
    if logits.is_contiguous():
        view = logits.reshape(1, -1, width)
    else:
        rows = logits.shape[-2] if logits.dim() > 1 else 1
        view = logits.reshape(math.prod(logits.shape[:-2]), rows, width)
    return view, max(1, CHUNK_VALUES.get(logits.device.type, ACCELERATOR_CHUNK_VALUES) // width)


def _chunks(view: Tensor, rows: int):
    """(block, start, end) covering every row of [L, T, V] `view`, at most `rows` rows at a time."""
    for b in range(view.shape[0]):
        for s in range(0, view.shape[1], rows):
            yield b, s, min(s + rows, view.shape[1])


class _SelectedLogprobs(torch.autograd.Function):
    """Each chunk is copied to float32 once and worked on in place: one chunk-sized temporary at a time."""

    @staticmethod
    def forward(ctx, logits: Tensor, targets: Tensor, temperature: float) -> Tensor:
        view, rows = _blocks(logits)
        index = targets.reshape(view.shape[0], view.shape[1], 1)
        out = torch.empty(view.shape[:2], dtype=torch.float32, device=logits.device)
        lse = torch.empty_like(out)
        for b, s, e in _chunks(view, rows):
            z = _scaled_copy(view[b, s:e], temperature)
            top = z.amax(dim=-1, keepdim=True)
            picked = z.gather(-1, index[b, s:e]).squeeze(-1)
            lse[b, s:e] = z.sub_(top).exp_().sum(dim=-1).log_().add_(top.squeeze(-1))
            out[b, s:e] = picked - lse[b, s:e]
        ctx.save_for_backward(logits, targets, lse)
        ctx.temperature = temperature
        return out.view(targets.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        logits, targets, lse = ctx.saved_tensors
        index = targets.reshape(*lse.shape, 1)

        def of_chunk(z, b, s, e, g):
            z.sub_(lse[b, s:e, None]).exp_().mul_(-g)  # -softmax * grad
            return z.scatter_add_(-1, index[b, s:e], g)  # + grad at the target

        return _gradient_in_chunks(logits, grad_out, ctx.temperature, of_chunk), None, None


class _Entropy(torch.autograd.Function):
    """Two chunk-sized temporaries at a time: the scaled logits and their exponentials."""

    @staticmethod
    def forward(ctx, logits: Tensor, temperature: float) -> Tensor:
        view, rows = _blocks(logits)
        lse = torch.empty(view.shape[:2], dtype=torch.float32, device=logits.device)
        mean = torch.empty_like(lse)  # m: the softmax-weighted mean of z
        for b, s, e in _chunks(view, rows):
            z = _scaled_copy(view[b, s:e], temperature)
            top = z.amax(dim=-1, keepdim=True)
            ez = (z - top).exp_()
            total = ez.sum(dim=-1)
            mean[b, s:e] = ez.mul_(z).sum(dim=-1).div_(total)
            lse[b, s:e] = total.log_().add_(top.squeeze(-1))
        ctx.save_for_backward(logits, lse, mean)
        ctx.temperature = temperature
        return (lse - mean).view(logits.shape[:-1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        logits, lse, mean = ctx.saved_tensors

        def of_chunk(z, b, s, e, g):
            p = (z - lse[b, s:e, None]).exp_()
            return p.mul_(z.sub_(mean[b, s:e, None])).mul_(-g)  # -p (z - m) * grad

        return _gradient_in_chunks(logits, grad_out, ctx.temperature, of_chunk), None


def _gradient_in_chunks(logits: Tensor, grad_out: Tensor, temperature: float, of_chunk) -> Tensor:
    """d loss / d logits in the logits' dtype, a chunk of rows at a time. `of_chunk(z, b, s, e, g)` turns one
    chunk's float32 z = logits / temperature (a copy it may overwrite) and the incoming gradient g [rows, 1] into
    d loss / d z; the chain through the temperature and the cast back happen here."""
    view, rows = _blocks(logits)
    g = grad_out.reshape(view.shape[0], view.shape[1], 1).float()
    grad = torch.empty(view.shape, dtype=logits.dtype, device=logits.device)
    for b, s, e in _chunks(view, rows):
        d = of_chunk(_scaled_copy(view[b, s:e], temperature), b, s, e, g[b, s:e])
        grad[b, s:e] = d.div_(temperature) if temperature != 1.0 else d
    return grad.view(logits.shape)


def _scaled_copy(chunk: Tensor, temperature: float) -> Tensor:
    """A float32 copy of `chunk` / temperature, safe to overwrite (a float32 chunk is copied too)."""
    z = chunk.to(torch.float32, copy=True)
    return z.div_(temperature) if temperature != 1.0 else z
