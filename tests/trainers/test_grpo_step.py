"""grpo_backward: micro-batching never changes the gradient; beta = 0 never touches the reference."""


import pytest
import torch

from rlvr.trainers.config import GRPOConfig, LoraConfig
from rlvr.trainers.grpo import grpo_backward, inert_rows, kept_rows, loss_mask
from rlvr.trainers.logprobs import make_batch, token_logprobs
from rlvr.trainers.losses import grpo_loss, loss_normalizer
from rlvr.trainers.policy import Policy

ADV = torch.tensor([1.5, -0.5, 0.7, -1.2])


def _grads(policy):
    return {n: p.grad.clone() for n, p in policy.model.named_parameters() if p.grad is not None}


def _run(policy, batch, cfg, mbs, old=None, ref=None, **kw):
    policy.model.zero_grad(set_to_none=True)
    stats = grpo_backward(policy, batch, ADV, old, ref, cfg, mbs, **kw)
    return stats, _grads(policy)


@pytest.mark.parametrize("aggregation", ["grpo", "dapo", "dr_grpo"])
def test_micro_batch_1_times_4_equals_micro_batch_4_times_1(tiny_lm, rows, aggregation):
    policy = Policy(tiny_lm(), need_reference=True)
    batch = make_batch(*rows, pad_id=0)
    # old and reference log-probs that differ from the current ones: clipping and KL are both active
    old = policy.logprobs(batch, 4) + 0.3 * torch.randn(batch.completion_mask.shape)
    ref = policy.logprobs(batch, 4) - 0.2
    cfg = GRPOConfig(group_size=4, beta=0.05, loss_aggregation=aggregation, epsilon_high=0.28)
    full_stats, full = _run(policy, batch, cfg, 4, old, ref, max_completion_length=8)
    acc_stats, acc = _run(policy, batch, cfg, 1, old, ref, max_completion_length=8)
    assert full.keys() == acc.keys() and full
    for name in full:
        torch.testing.assert_close(acc[name], full[name], atol=1e-6, rtol=1e-4)
    assert acc_stats["loss"] == pytest.approx(full_stats["loss"], abs=1e-6)
    assert acc_stats["clip_frac"] == pytest.approx(full_stats["clip_frac"], abs=1e-6)
    assert 0 < full_stats["clip_frac"] < 1 and full_stats["kl_mean"] > 0

    # and both equal the loss of the whole batch computed in one grpo_loss call
    with torch.no_grad():
        logp, mask = token_logprobs(policy.model, batch)
    norm = loss_normalizer(mask, aggregation, 8) if aggregation == "dr_grpo" else None
    whole, _ = grpo_loss(logp, old, ref, ADV, mask, epsilon_low=0.2, epsilon_high=0.28, beta=0.05,
                         aggregation=aggregation, normalizer=norm)
    assert full_stats["loss"] == pytest.approx(whole.item(), abs=1e-5)


def test_beta_zero_never_calls_the_reference(tiny_lm, rows):
    batch = make_batch(*rows, pad_id=0)
    cfg = GRPOConfig(beta=0.0)
    full_ft = Policy(tiny_lm())  # has no reference at all: entering it would raise
    stats = grpo_backward(full_ft, batch, ADV, None, None, cfg, 2)
    assert stats["kl_mean"] == 0.0 and full_ft.reference_passes == 0
    lora = Policy(tiny_lm(), lora=LoraConfig(r=2, alpha=4, target_modules=["q_proj"]))
    grpo_backward(lora, batch, ADV, None, None, cfg, 2)
    assert lora.reference_passes == 0


def test_beta_positive_computes_the_reference_when_not_given(tiny_lm, rows):
    policy = Policy(tiny_lm(), lora=LoraConfig(r=2, alpha=4, target_modules=["q_proj"]))
    stats = grpo_backward(policy, make_batch(*rows, pad_id=0), ADV, None, None, GRPOConfig(beta=0.1), 2)
    assert policy.reference_passes == 1
    assert stats["kl_mean"] == pytest.approx(0.0, abs=1e-7)  # fresh adapter: policy == reference


def test_num_iterations_one_uses_detached_current_logprobs(tiny_lm, rows):
    # old_logp=None must give the same gradient as passing old = the current log-probs
    policy = Policy(tiny_lm())
    batch = make_batch(*rows, pad_id=0)
    cfg = GRPOConfig()
    stats_none, g_none = _run(policy, batch, cfg, 2)
    stats_old, g_old = _run(policy, batch, cfg, 2, old=policy.logprobs(batch, 4))
    for name in g_none:
        torch.testing.assert_close(g_none[name], g_old[name], atol=1e-6, rtol=1e-4)
    assert stats_none["ratio_mean"] == pytest.approx(1.0) and stats_none["clip_frac"] == 0.0


def test_mask_truncated_drops_the_row(tiny_lm, rows):
    prompts, completions = rows
    policy = Policy(tiny_lm())
    cfg = GRPOConfig(mask_truncated=True, loss_aggregation="dapo")
    full = make_batch(prompts, completions, pad_id=0)
    truncated = torch.tensor([False, False, False, True])
    _, masked = _run(policy, full, cfg, 2, truncated=truncated)
    # the same gradient as a batch without row 3
    policy.model.zero_grad(set_to_none=True)
    grpo_backward(policy, full.select([0, 1, 2]), ADV[:3], None, None, cfg, 2, truncated=truncated[:3])
    without = _grads(policy)
    for name in without:
        torch.testing.assert_close(masked[name], without[name], atol=1e-6, rtol=1e-4)
    with pytest.raises(ValueError):
        loss_mask(full, None, True)


def test_kept_rows():
    assert kept_rows(torch.tensor([True, False, True]), 2).tolist() == [0, 1, 4, 5]


def test_inert_rows():
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    adv = torch.tensor([0.0, 0.5, 0.7, -0.2])
    assert inert_rows(adv, mask, beta=0.0).tolist() == [True, False, True, False]
    assert inert_rows(adv, mask, beta=0.1).tolist() == [False, False, True, False]  # the KL term still pulls


@pytest.mark.parametrize("with_old", [False, True])
def test_skipping_zero_advantage_rows_leaves_the_update_unchanged(tiny_lm, rows, with_old):
    # rows 1 and 2 have advantage 0 (a zero-variance group, say): with beta 0 they add nothing to the gradient,
    # only their tokens to the dapo denominator -- which must still see them
    policy = Policy(tiny_lm())
    batch = make_batch(*rows, pad_id=0)
    adv = torch.tensor([1.5, 0.0, 0.0, -1.2])
    old = policy.logprobs(batch, 4) + 0.3 * torch.randn(batch.completion_mask.shape) if with_old else None
    cfg = GRPOConfig(beta=0.0, loss_aggregation="dapo", epsilon_high=0.28)
    out = {}
    for skip in (True, False):
        policy.model.zero_grad(set_to_none=True)
        stats = grpo_backward(policy, batch, adv, old, None, cfg, 2, skip_inert=skip)
        out[skip] = stats, _grads(policy)
    (skipped, g_skip), (full, g_full) = out[True], out[False]
    assert skipped["skipped_rows"] == 2 and full["skipped_rows"] == 0
    assert skipped["loss"] == pytest.approx(full["loss"], abs=1e-6) and skipped["tokens"] == full["tokens"]
    assert g_skip.keys() == g_full.keys() and g_full
    for name in g_full:
        torch.testing.assert_close(g_skip[name], g_full[name], atol=1e-6, rtol=1e-4)
    if not with_old:  # on-policy the skipped rows' ratio is known to be 1: the stats are the full batch's
        assert skipped["ratio_mean"] == pytest.approx(full["ratio_mean"]) and skipped["ratio_min"] == 1.0


def test_a_batch_with_only_inert_rows_gets_no_gradient(tiny_lm, rows):
    policy = Policy(tiny_lm())
    policy.model.zero_grad(set_to_none=True)
    stats = grpo_backward(policy, make_batch(*rows, pad_id=0), torch.zeros(4), None, None, GRPOConfig(beta=0.0), 2)
    assert stats["skipped_rows"] == 4 and stats["loss"] == 0.0 and stats["tokens"] > 0 and not _grads(policy)
