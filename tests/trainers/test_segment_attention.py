"""Segment attention computes exactly what SDPA computes with the packed row's dense block mask -- values and
gradients -- while only scoring each segment against its prefix and itself."""

import random

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForCausalLM

from rlvr.trainers.logprobs import make_batch, token_logprobs
from rlvr.trainers.segment_attention import _split_sizes, plan_segments, segment_attention_forward, supports_segments
from rlvr.trainers.shared_prompt import _dense_mask, group_micro_batches, grouped_logprobs
from rlvr.trainers.tiny_model import build_tiny_model


def _segments(seed: int):
    """Random packed layout: groups of (prompt, completions), some completions empty."""
    rng = random.Random(seed)
    segments, n = [], 0
    for _ in range(rng.randint(1, 4)):
        prompt = list(range(n, n + rng.randint(1, 9)))
        n += len(prompt)
        segments.append(([], prompt))
        for _ in range(rng.randint(1, 5)):
            own = list(range(n, n + rng.choice([0, 1, 2, 5, 17])))
            n += len(own)
            segments.append((prompt, own))
    return segments, n


class _Attn(torch.nn.Module):
    num_key_value_groups = 2


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("planned_for", [None, "cuda"])  # "cuda": grouped kv heads repeated (run here on CPU)
def test_values_and_gradients_equal_sdpa_with_the_dense_block_mask(seed, planned_for):
    segments, n = _segments(seed)
    plan = plan_segments(segments, n, device=planned_for)
    assert plan.repeat_kv == (planned_for == "cuda")
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, 4, n, 8, generator=g, requires_grad=True)
    k = torch.randn(1, 2, n, 8, generator=g, requires_grad=True)
    v = torch.randn(1, 2, n, 8, generator=g, requires_grad=True)
    weights = torch.randn(1, n, 4, 8, generator=g)

    out, _ = segment_attention_forward(_Attn(), q, k, v, None, scaling=0.3, rlvr_segments=plan)
    (out * weights).sum().backward()
    got = [out.detach(), q.grad, k.grad, v.grad]
    for t in (q, k, v):
        t.grad = None

    dense = F.scaled_dot_product_attention(
        q, k.repeat_interleave(2, dim=1), v.repeat_interleave(2, dim=1), attn_mask=_dense_mask(segments, n), scale=0.3
    ).transpose(1, 2)
    (dense * weights).sum().backward()
    for a, b in zip(got, [dense.detach(), q.grad, k.grad, v.grad]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_buckets_cover_every_segment_and_never_cost_more_than_one_bucket():
    shapes = sorted([(1, 10), (2, 11), (3, 12), (30, 40), (31, 41), (64, 90)])
    sizes = _split_sizes(shapes)
    assert sum(sizes) == len(shapes) and 1 <= len(sizes) <= 4
    assert sizes == [3, 2, 1]  # the three small, the two medium, the long one
    assert _split_sizes([(5, 5)]) == [1]
    many = sorted((q, q + 30) for q in random.Random(0).choices(range(1, 65), k=600))  # 64 groups of ~9
    sizes = _split_sizes(many)
    assert sum(sizes) == 600 and len(sizes) <= 4
    ends = [sum(sizes[: i + 1]) for i in range(len(sizes))]
    area = sum((b - a) * many[b - 1][0] * many[b - 1][1] for a, b in zip([0] + ends, ends))
    assert area < 0.7 * 600 * 64 * 94  # well under one bucket padded to the longest


def test_a_plan_must_cover_the_row_exactly_once():
    with pytest.raises(ValueError, match="exactly once"):
        plan_segments([([], [0, 1]), ([0, 1], [1, 2])], 3)
    with pytest.raises(ValueError, match="one packed row"):
        segment_attention_forward(_Attn(), torch.zeros(2, 4, 3, 8), torch.zeros(2, 2, 3, 8), torch.zeros(2, 2, 3, 8), None)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("m") / "tiny", seed=0)


def _batch(seed=0):
    rng = random.Random(seed)
    prompts, completions = [], []
    for _ in range(3):
        prompt = [rng.randrange(3, 400) for _ in range(rng.randint(3, 9))]
        for _ in range(4):
            prompts.append(prompt)
            completions.append([rng.randrange(3, 400) for _ in range(rng.randint(0, 7))])
    return make_batch(prompts, completions, pad_id=0)


@pytest.mark.parametrize("sliding", [False, True])
def test_models_with_sliding_windows_take_the_dense_mask_and_agree(model_dir, sliding):
    config = AutoConfig.from_pretrained(model_dir)
    if sliding:  # a window longer than any row: the same values, but segment attention must not be used
        config.use_sliding_window, config.sliding_window, config.max_window_layers = True, 4096, 0
        config.layer_types = ["sliding_attention"] * config.num_hidden_layers
    model = AutoModelForCausalLM.from_pretrained(model_dir, config=config, dtype=torch.float32)
    assert supports_segments(model) is not sliding
    batch = _batch()
    plain, _ = token_logprobs(model, batch)
    for groups in group_micro_batches(batch.prompts, 8):
        logp, rows = grouped_logprobs(model, batch, groups)
        torch.testing.assert_close(logp, plain[rows], atol=1e-5, rtol=0)
    assert model.config._attn_implementation == "sdpa"  # restored after the segment pass
