"""Segment attention on CUDA, both kernels (SDPA buckets, FlexAttention with a document block mask), equals SDPA
with the dense block mask: values and gradients, in float32 and bfloat16; the buckets run a fused SDPA kernel,
not the math fallback."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from rlvr.trainers.segment_attention import plan_segments, segment_attention_forward
from rlvr.trainers.shared_prompt import _dense_mask
from tests.gpu.gpu_helpers import cuda
from tests.trainers.test_segment_attention import _Attn, _segments

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not cuda, reason="needs a CUDA device")]
TOLERANCE = {torch.float32: 2e-4, torch.bfloat16: 3e-2}  # bf16: different kernels round differently


@pytest.mark.parametrize("kernel", ["buckets", "flex"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("seed", range(3))
def test_values_and_gradients_equal_the_dense_reference_on_cuda(kernel, dtype, seed):
    segments, n = _segments(seed)
    g = torch.Generator(device="cuda").manual_seed(seed)
    q, k, v = (torch.randn(1, h, n, 64, generator=g, device="cuda", dtype=dtype, requires_grad=True) for h in (4, 2, 2))
    weights = torch.randn(1, n, 4, 64, generator=g, device="cuda", dtype=dtype)
    plan = plan_segments(segments, n, kernel=kernel, device="cuda").to("cuda")  # as the trainer plans
    out, _ = segment_attention_forward(_Attn(), q, k, v, None, scaling=0.125, rlvr_segments=plan)
    (out.float() * weights).sum().backward()
    got = [out.detach(), q.grad, k.grad, v.grad]
    for t in (q, k, v):
        t.grad = None
    dense = F.scaled_dot_product_attention(
        q, k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1),
        attn_mask=_dense_mask(segments, n).to("cuda"), scale=0.125,
    ).transpose(1, 2)
    (dense.float() * weights).sum().backward()
    tol = TOLERANCE[dtype]
    for a, b in zip(got, [dense.detach(), q.grad, k.grad, v.grad]):
        torch.testing.assert_close(a.float(), b.float(), atol=tol, rtol=tol)


class _SeenOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_buckets_run_a_fused_kernel_not_the_math_fallback(dtype):
    """Grouped kv heads with a mask would send SDPA to its math kernel (fp32 scores kept for the backward): the
    plan for CUDA repeats the kv heads, so each bucket is one fused (memory-efficient or flash) call."""
    segments, n = _segments(1)
    q, k, v = (torch.randn(1, h, n, 64, device="cuda", dtype=dtype, requires_grad=True) for h in (16, 4, 4))
    plan = plan_segments(segments, n, device="cuda").to("cuda")
    with _SeenOps() as seen:
        segment_attention_forward(_Attn(), q, k, v, None, scaling=0.125, rlvr_segments=plan)
    fused = {torch.ops.aten._scaled_dot_product_efficient_attention.default,
             torch.ops.aten._scaled_dot_product_flash_attention.default,
             torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default}  # the CPU rehearsal's
    assert sum(op in fused for op in seen.ops) == len(plan.buckets), sorted({str(op) for op in seen.ops})


@pytest.mark.parametrize("kernel", ["buckets", "flex"])
def test_mixed_precision_inputs_train_through_both_kernels(kernel):
    """What the trainer hands the kernel under bf16_mixed: q and k in fp32 (rotated in fp32), v in bf16, inside
    bf16 autocast; values and gradients match the dense reference computed the same way."""
    segments, n = _segments(2)
    g = torch.Generator(device="cuda").manual_seed(2)
    q, k = (torch.randn(1, h, n, 64, generator=g, device="cuda", requires_grad=True) for h in (4, 2))
    v = torch.randn(1, 2, n, 64, generator=g, device="cuda").to(torch.bfloat16).requires_grad_()
    plan = plan_segments(segments, n, kernel=kernel, device="cuda").to("cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out, _ = segment_attention_forward(_Attn(), q, k, v, None, scaling=0.125, rlvr_segments=plan)
        dense = F.scaled_dot_product_attention(
            q, k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1),
            attn_mask=_dense_mask(segments, n).to("cuda"), scale=0.125,
        ).transpose(1, 2)
    grads = [torch.autograd.grad(x.float().sum(), (q, k, v)) for x in (out, dense)]
    torch.testing.assert_close(out.float(), dense.float(), atol=3e-2, rtol=3e-2)
    for a, b in zip(*grads):
        torch.testing.assert_close(a.float(), b.float(), atol=5e-2, rtol=5e-2)
