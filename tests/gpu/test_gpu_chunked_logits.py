"""Token log-probs on CUDA at a hub vocabulary: values and gradients equal log_softmax's, and forward + backward add
about the logits' gradient to the allocator's peak (no float32 copy of the logits)."""

from __future__ import annotations

import pytest
import torch

from rlvr.trainers.chunked_logits import ACCELERATOR_CHUNK_VALUES, selected_logprobs
from tests.gpu.gpu_helpers import cuda

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not cuda, reason="needs a CUDA device")]
VOCAB = 151_936  # Qwen2.5's


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_bf16_values_gradients_and_peak_memory_on_cuda(temperature):
    g = torch.Generator(device="cuda").manual_seed(0)
    logits = (torch.randn(1, 1024, VOCAB, generator=g, device="cuda") * 2).to(torch.bfloat16).requires_grad_(True)
    targets = torch.randint(0, VOCAB, (1, 1024), generator=g, device="cuda")
    weights = torch.randn(1, 1024, generator=g, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    logp = selected_logprobs(logits, targets, temperature)
    (logp * weights).sum().backward()
    torch.cuda.synchronize()
    added = torch.cuda.max_memory_allocated() - before
    size = logits.numel() * logits.element_size()
    # the gradient (one logits' size) + at most two float32 chunks + per-row floats
    assert added <= size + 2 * 4 * ACCELERATOR_CHUNK_VALUES + 64 * 2**20, (added / size)
    grad = logits.grad.float()
    leaf = logits.detach().clone().requires_grad_(True)
    ref = torch.log_softmax(leaf.float() / temperature, -1).gather(-1, targets[..., None]).squeeze(-1)
    (ref * weights).sum().backward()
    torch.testing.assert_close(logp, ref, rtol=0, atol=1e-4)
    torch.testing.assert_close(grad, leaf.grad.float(), rtol=1e-2, atol=1e-2)  # a large target gradient may round one bf16 step apart
