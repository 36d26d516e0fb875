"""The flex kernel of segment attention (FlexAttention with a document block mask) computes what SDPA with the
dense block mask computes. torch 2.13 has no FlexAttention backward on CPU: values are compared here, values
and gradients on CUDA (tests/gpu/test_gpu_segment_attention.py); training with it on CPU fails in one line."""

import pytest
import torch
import torch.nn.functional as F

from rlvr.trainers.logprobs import token_logprobs
from rlvr.trainers.segment_attention import KERNEL_ENV, plan_segments, segment_attention_forward, segment_kernel
from rlvr.trainers.shared_prompt import _dense_mask, group_micro_batches, grouped_logprobs
from tests.trainers.test_segment_attention import _Attn, _batch, _segments, model_dir  # noqa: F401 (fixture)


@pytest.mark.parametrize("seed", range(4))
def test_flex_values_equal_sdpa_with_the_dense_block_mask(seed):
    segments, n = _segments(seed)
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, h, n, 8, generator=g) for h in (4, 2, 2))
    plan = plan_segments(segments, n, kernel="flex")
    assert plan.buckets == [] and plan.documents is not None
    out, _ = segment_attention_forward(_Attn(), q, k, v, None, scaling=0.3, rlvr_segments=plan)
    dense = F.scaled_dot_product_attention(
        q, k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1), attn_mask=_dense_mask(segments, n), scale=0.3
    ).transpose(1, 2)
    torch.testing.assert_close(out, dense, atol=1e-5, rtol=1e-5)


def test_flex_under_mixed_precision_takes_the_dtypes_the_model_hands_it():
    """bf16 autocast over fp32 weights: q and k arrive in fp32 (rotated in fp32), v in bf16; the flex kernel
    computes in bf16 and agrees with the SDPA buckets, which autocast casts."""
    segments, n = _segments(2)
    g = torch.Generator().manual_seed(2)
    q, k = (torch.randn(1, h, n, 8, generator=g) for h in (4, 2))
    v = torch.randn(1, 2, n, 8, generator=g).to(torch.bfloat16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        flex, _ = segment_attention_forward(_Attn(), q, k, v, None, scaling=0.3,
                                            rlvr_segments=plan_segments(segments, n, kernel="flex"))
        buckets, _ = segment_attention_forward(_Attn(), q, k, v, None, scaling=0.3,
                                               rlvr_segments=plan_segments(segments, n, kernel="buckets"))
    assert flex.dtype == buckets.dtype == torch.bfloat16
    torch.testing.assert_close(flex.float(), buckets.float(), atol=2e-2, rtol=2e-2)


def test_model_log_probs_with_the_flex_kernel_equal_the_plain_rows(model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv(KERNEL_ENV, "flex")
    assert segment_kernel() == "flex"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    batch = _batch()
    with torch.no_grad():
        plain, _ = token_logprobs(model, batch)
        for groups in group_micro_batches(batch.prompts, 8):
            logp, rows = grouped_logprobs(model, batch, groups)
            torch.testing.assert_close(logp, plain[rows], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="trains on CUDA only"):  # with gradient, on CPU
        grouped_logprobs(model, batch, group_micro_batches(batch.prompts, 8)[0])


def test_kernel_choice_and_layouts_flex_cannot_take(monkeypatch):
    monkeypatch.delenv(KERNEL_ENV, raising=False)
    assert segment_kernel() == "buckets"  # the default, until a GPU measurement says otherwise
    with pytest.raises(ValueError, match="one whole segment"):  # a prefix that is not a segment
        plan_segments([([], [0, 1]), ([0], [2])], 3, kernel="flex")
    with pytest.raises(ValueError, match="exactly once"):
        plan_segments([([], [0, 1]), ([0, 1], [1, 2])], 3, kernel="flex")


def test_unknown_kernel_name_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(KERNEL_ENV, "triton")
    with pytest.raises(ValueError, match="RLVR_SEGMENT_KERNEL='triton'"):
        segment_kernel()


def test_a_flex_kernel_that_does_not_compile_runs_eagerly_and_says_so_once(monkeypatch, caplog):
    """Where inductor cannot compile FlexAttention (the H200 run: NoValidChoicesError at the first compile), the
    kernel warns once and computes the same values eagerly, instead of failing the training step. Here a real
    torch.compile whose backend fails stands in for inductor, on the device the kernel is told to compile on."""
    from torch.nn.attention.flex_attention import flex_attention

    from rlvr.trainers import segment_flex

    def failing_backend(graph_module, example_inputs):
        raise RuntimeError("No choices exist for backend")

    monkeypatch.setattr(segment_flex, "COMPILE_ON", {"cpu"})
    monkeypatch.setattr(segment_flex, "_compiled", {})
    monkeypatch.setattr(segment_flex, "compile_flex", lambda: torch.compile(flex_attention, backend=failing_backend))
    torch._dynamo.reset()
    segments, n = _segments(0)
    q, k, v = (torch.randn(1, h, n, 8, generator=torch.Generator().manual_seed(h)) for h in (4, 2, 2))
    plan = plan_segments(segments, n, kernel="flex")
    dense = F.scaled_dot_product_attention(
        q, k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1), attn_mask=_dense_mask(segments, n), scale=0.3
    ).transpose(1, 2)
    with caplog.at_level("WARNING", logger="rlvr.trainers.segment_flex"), torch.no_grad():
        for _ in range(2):
            out, _ = segment_attention_forward(_Attn(), q, k, v, None, scaling=0.3, rlvr_segments=plan)
            torch.testing.assert_close(out, dense, atol=1e-5, rtol=1e-5)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("rlvr: FlexAttention did not compile on this torch ("), lines
    assert "No choices exist for backend" in lines[0]
    torch._dynamo.reset()


def test_a_flex_backward_that_fails_is_found_before_the_training_step_needs_it(monkeypatch, caplog):
    """With dynamic shapes the compiler keeps a backward compile error for the first `.backward()`, past the
    forward's fallback. The kernel tries its backward once, on copies, before the first call that needs gradients.
    Here a real torch.compile (eager backend) stands in for inductor on the CPU, where FlexAttention has no
    backward at all: the probe fails the way a backward the GPU cannot compile does."""
    from torch.nn.attention.flex_attention import flex_attention

    from rlvr.trainers import segment_flex

    monkeypatch.setattr(segment_flex, "COMPILE_ON", {"cpu"})
    monkeypatch.setattr(segment_flex, "_compiled", {})
    monkeypatch.setattr(segment_flex, "compile_flex", lambda: torch.compile(flex_attention, backend="eager"))
    torch._dynamo.reset()
    segments, n = _segments(0)
    q, k, v = (torch.randn(1, h, n, 8, generator=torch.Generator().manual_seed(h), requires_grad=True)
               for h in (4, 2, 2))
    plan = plan_segments(segments, n, kernel="flex")
    with caplog.at_level("WARNING", logger="rlvr.trainers.segment_flex"), \
            pytest.raises(NotImplementedError, match="FlexAttention does not support backward on CPU"):
        segment_attention_forward(_Attn(), q, k, v, None, scaling=0.3, rlvr_segments=plan)  # eager: CPU's own limit
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("rlvr: FlexAttention did not compile on this torch ("), lines
    assert "does not support backward" in lines[0] and segment_flex._compiled["kernel"] is None
    assert q.grad is None  # the probe's gradients went to copies
    torch._dynamo.reset()
