"""trainers/selected_logprobs.py: the chosen tokens' log-probs and their gradient equal log_softmax's, over chunks of
rows, and no float32 copy of the whole logits is made or kept for backward."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from rlvr.trainers import selected_logprobs as module
from rlvr.trainers.selected_logprobs import selected_logprobs


def _reference(logits, targets, temperature):
    z = logits.float() / temperature
    return torch.log_softmax(z, -1).gather(-1, targets[..., None]).squeeze(-1)


def _both(logits, targets, temperature, weights):
    """(log-probs, d sum(w * logp) / d logits) of ours and of the reference, from the same leaf."""
    out = []
    for fn in (selected_logprobs, _reference):
        leaf = logits.detach().clone().requires_grad_(True)
        logp = fn(leaf, targets, temperature)
        (logp * weights).sum().backward()
        out.append((logp, leaf.grad))
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("chunk", [10**9, 3 * 50], ids=["one-chunk", "3-rows"])
def test_values_and_gradients_equal_log_softmax(dtype, temperature, chunk, monkeypatch):
    monkeypatch.setitem(module.CHUNK_VALUES, "cpu", chunk)  # 3 rows of 50 a chunk: blocks of 7 rows end mid-chunk
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(4, 7, 50, generator=g) * 3).to(dtype)
    targets = torch.randint(0, 50, (4, 7), generator=g)
    weights = torch.randn(4, 7, generator=g)
    (ours, grad), (ref, grad_ref) = _both(logits, targets, temperature, weights)
    assert ours.dtype == torch.float32 and grad.dtype == dtype and grad.shape == logits.shape
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)
    tol = 1e-6 if dtype == torch.float32 else 1e-2  # the gradient is rounded to bf16 once, as autograd's is
    torch.testing.assert_close(grad.float(), grad_ref.float(), rtol=0, atol=tol)


def test_a_sliced_view_is_read_in_place(monkeypatch):
    """`out.logits[:, :-1]` (forward_completions) is not contiguous: read as it is, not copied whole."""
    monkeypatch.setitem(module.CHUNK_VALUES, "cpu", 2 * 30)
    full = torch.randn(3, 6, 30, requires_grad=True)
    targets = torch.randint(0, 30, (3, 5))
    weights = torch.randn(3, 5)
    (selected_logprobs(full[:, :-1], targets) * weights).sum().backward()
    ours = full.grad.clone()
    full.grad = None
    (_reference(full[:, :-1], targets, 1.0) * weights).sum().backward()
    torch.testing.assert_close(ours, full.grad, rtol=0, atol=1e-6)
    assert ours[:, -1].abs().sum() == 0  # the dropped column gets no gradient


def test_empty_and_single_rows():
    assert selected_logprobs(torch.randn(0, 9), torch.zeros(0, dtype=torch.long)).shape == (0,)
    one = torch.randn(9)
    torch.testing.assert_close(selected_logprobs(one, torch.tensor(4)), torch.log_softmax(one, -1)[4])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        selected_logprobs(one, torch.tensor(4), 0.0)


class _LargestFloat32(TorchDispatchMode):
    """The most elements of any float32 tensor an op returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor) and t.dtype == torch.float32:
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_bf16_logits_never_get_a_whole_float32_copy(temperature, monkeypatch):
    """Forward and backward on bf16 logits: every float32 temporary is one chunk, and autograd keeps only the
    logits and a float per row (the plain form keeps a float32 copy of all logits and makes a float32 softmax)."""
    rows, vocab = 64, 1000
    monkeypatch.setitem(module.CHUNK_VALUES, "cpu", 8 * vocab)
    logits = torch.randn(1, rows, vocab).to(torch.bfloat16).requires_grad_(True)
    targets = torch.randint(0, vocab, (1, rows))
    saved = []

    def pack(t):
        saved.append((t.dtype, t.numel()))
        return t

    with _LargestFloat32() as largest, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        selected_logprobs(logits, targets, temperature).sum().backward()
    assert largest.largest <= 8 * vocab, largest.largest
    big = [(dtype, n) for dtype, n in saved if n >= rows * vocab]
    assert big == [(torch.bfloat16, rows * vocab)], saved  # the logits themselves, nothing else of their size
    with _LargestFloat32() as plain:  # what the check tells apart: the float32 form
        _reference(logits, targets, temperature).sum().backward()
    assert plain.largest >= rows * vocab
