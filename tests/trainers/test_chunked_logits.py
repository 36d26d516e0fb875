"""trainers/chunked_logits.py: the chosen tokens' log-probs and the entropy, and their gradients, equal the plain
formulas', over chunks of rows, and no float32 copy of the whole logits is made or kept for backward."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from rlvr.trainers import chunked_logits as module
from rlvr.trainers.chunked_logits import selected_logprobs, token_entropy


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


def _reference_entropy(logits, _targets, temperature):
    z = logits.float() / temperature
    return -(torch.softmax(z, -1) * torch.log_softmax(z, -1)).sum(-1)


def test_entropy_by_hand():
    # p = [0.5, 0.25, 0.25]: H = 0.5 ln 2 + 0.5 ln 4; uniform over 4: ln 4
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25, 1e-30], [1.0, 1.0, 1.0, 1.0]]))
    expected = torch.tensor([0.5 * math.log(2) + 0.5 * math.log(4), math.log(4)])
    torch.testing.assert_close(token_entropy(logits), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("chunk", [10**9, 3 * 50], ids=["one-chunk", "3-rows"])
def test_entropy_values_and_gradients_equal_the_formula(dtype, temperature, chunk, monkeypatch):
    monkeypatch.setitem(module.CHUNK_VALUES, "cpu", chunk)
    g = torch.Generator().manual_seed(1)
    full = (torch.randn(4, 8, 50, generator=g) * 3).to(dtype)
    weights = torch.randn(4, 7, generator=g)
    out = []
    for fn in (lambda x, t: token_entropy(x, t), lambda x, t: _reference_entropy(x, None, t)):
        leaf = full.detach().clone().requires_grad_(True)
        h = fn(leaf[:, :-1], temperature)  # a sliced view, as forward_completions passes none, PPO's form
        (h * weights).sum().backward()
        out.append((h, leaf.grad))
    (ours, grad), (ref, grad_ref) = out
    assert ours.dtype == torch.float32 and grad.dtype == dtype
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)
    tol = 1e-5 if dtype == torch.float32 else 1e-2  # the formula's own float32 rounding reaches 3.5e-6 here
    torch.testing.assert_close(grad.float(), grad_ref.float(), rtol=0, atol=tol)


def test_entropy_keeps_no_whole_float32_copy(monkeypatch):
    rows, vocab = 64, 1000
    monkeypatch.setitem(module.CHUNK_VALUES, "cpu", 8 * vocab)
    logits = torch.randn(1, rows, vocab).to(torch.bfloat16).requires_grad_(True)
    saved = []
    with _LargestFloat32() as largest, torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append((t.dtype, t.numel())) or t, lambda t: t):
        token_entropy(logits, 0.7).sum().backward()
    assert largest.largest <= 8 * vocab, largest.largest
    assert [(d, n) for d, n in saved if n >= rows * vocab] == [(torch.bfloat16, rows * vocab)], saved
