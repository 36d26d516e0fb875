"""GRPO, DPO and PPO losses against arithmetic done by hand on 2x2 tensors."""

import math

import pytest
import torch

from rlvr.trainers.losses import (
    dpo_loss,
    grpo_loss,
    k3_kl,
    loss_normalizer,
    ppo_policy_loss,
    ppo_value_loss,
)

# Two sequences; the second has one real token.
#   ratios: row 0 [exp(0), exp(0.5)] = [1, 1.6487213]; row 1 [exp(-0.3)] = [0.7408182]
#   row 0, A = +1:  t0: min(1, 1) = 1 -> l = -1;  t1: min(1.6487, clip 1.2) = 1.2 -> l = -1.2 (clipped high)
#   row 1, A = -2:  t0: min(0.7408 * -2 = -1.4816, clip 0.8 * -2 = -1.6) = -1.6 -> l = 1.6 (clipped low)
LOGP = [[-1.0, -2.0], [-0.5, -9.0]]
OLD = [[-1.0, -2.5], [-0.2, 0.0]]
ADV = [1.0, -2.0]
MASK = [[1.0, 1.0], [1.0, 0.0]]


def _grpo(aggregation, normalizer=None, beta=0.0, ref=None):
    logp = torch.tensor(LOGP, requires_grad=True)
    loss, stats = grpo_loss(
        logp, torch.tensor(OLD), ref, torch.tensor(ADV), torch.tensor(MASK),
        epsilon_low=0.2, epsilon_high=0.2, beta=beta, aggregation=aggregation, normalizer=normalizer,
    )
    return logp, loss, stats


@pytest.mark.parametrize(
    "aggregation, normalizer, expected",
    [
        ("dapo", None, (-1 - 1.2 + 1.6) / 3),  # token mean over 3 tokens = -0.2
        ("grpo", None, ((-1 - 1.2) / 2 + 1.6 / 1) / 2),  # sequence means -1.1, 1.6 -> 0.25
        ("dr_grpo", 2 * 4, (-1 - 1.2 + 1.6) / 8),  # 2 sequences x max_len 4 -> -0.075
    ],
)
def test_grpo_loss_by_hand(aggregation, normalizer, expected):
    _, loss, _ = _grpo(aggregation, normalizer)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_grpo_gradient_flows_only_through_unclipped_tokens():
    logp, loss, stats = _grpo("dapo")
    loss.backward()
    # only row 0 t0 is unclipped: d(-rho * A)/dlogp = -rho * A = -1, divided by 3 tokens
    torch.testing.assert_close(logp.grad, torch.tensor([[-1 / 3, 0.0], [0.0, 0.0]]))
    assert stats["clip_high_frac"].item() == pytest.approx(1 / 3)
    assert stats["clip_low_frac"].item() == pytest.approx(1 / 3)
    assert stats["clip_frac"].item() == pytest.approx(2 / 3)
    assert stats["ratio_max"].item() == pytest.approx(math.exp(0.5))
    assert stats["ratio_min"].item() == pytest.approx(math.exp(-0.3))
    assert stats["tokens"].item() == 3


def test_k3_kl_by_hand():
    # ref - logp = -0.5: exp(-0.5) + 0.5 - 1 = 0.1065307; ref == logp: 0
    out = k3_kl(torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -2.0]))
    torch.testing.assert_close(out, torch.tensor([math.exp(-0.5) - 0.5, 0.0]))


def test_grpo_kl_term_is_added_with_beta():
    ref = torch.tensor([[-1.5, -2.0], [-0.5, 0.0]])
    _, loss, stats = _grpo("dapo", beta=0.1, ref=ref)
    kl = math.exp(-0.5) - 0.5  # only row 0 t0 has ref != logp
    assert loss.item() == pytest.approx(-0.2 + 0.1 * kl / 3, abs=1e-6)
    assert stats["kl_mean"].item() == pytest.approx(kl / 3, abs=1e-6)


def test_grpo_beta_needs_reference():
    with pytest.raises(ValueError):
        _grpo("dapo", beta=0.1, ref=None)


def test_grpo_without_old_logp_is_the_plain_policy_gradient():
    # ratio = 1 in value; loss = -(A + A) / 2 = -2 with A = 2; d/dlogp = -A / 2 = -1 per token
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    loss, stats = grpo_loss(
        logp, None, None, torch.tensor([2.0]), torch.ones(1, 2),
        epsilon_low=0.2, epsilon_high=0.2, beta=0.0, aggregation="dapo",
    )
    loss.backward()
    assert loss.item() == pytest.approx(-2.0)
    torch.testing.assert_close(logp.grad, torch.tensor([[-1.0, -1.0]]))
    assert stats["clip_frac"].item() == 0.0


def test_loss_normalizer():
    mask = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    assert loss_normalizer(mask, "dapo") == 3  # tokens
    assert loss_normalizer(mask, "grpo") == 2  # sequences with tokens
    assert loss_normalizer(mask, "dr_grpo", 16) == 3 * 16  # rows x max_completion_length
    assert loss_normalizer(mask, "dr_grpo") == 3 * 3


def test_dpo_sigmoid_by_hand():
    # pair 0: h = (-3 + 4) - (-5 + 4) = 2; -log sigmoid(0.5 * 2) = log(1 + e^-1) = 0.3132617
    # pair 1: h = 0; -log sigmoid(0) = log 2 = 0.6931472;  mean = 0.5032044
    loss, stats = dpo_loss(
        torch.tensor([-3.0, -2.0]), torch.tensor([-5.0, -2.0]), torch.tensor([-4.0, -2.0]), torch.tensor([-4.0, -2.0]),
        beta=0.5,
    )
    assert loss.item() == pytest.approx((math.log(1 + math.exp(-1)) + math.log(2)) / 2, abs=1e-6)
    assert stats["reward_chosen"].item() == pytest.approx((0.5 + 0) / 2)  # beta * (pi - ref)
    assert stats["reward_rejected"].item() == pytest.approx((-0.5 + 0) / 2)
    assert stats["reward_accuracy"].item() == pytest.approx(0.5)


@pytest.mark.parametrize("chosen_ratio, rejected_ratio, chosen_tokens, rejected_tokens, beta, expected", [
    # log-ratios +1 over 1 token and -1 over 1 token: h = 1 - (-1) = 2; (2 - 1 / (2 * 0.5))^2 = 1
    (1.0, -1.0, 1, 1, 0.5, 1.0),
    # the audit's case: 20 tokens at +0.1 and 20 at -0.1 (sums +2, -2), beta 0.1: token means h = 0.1 - (-0.1) = 0.2,
    # (0.2 - 5)^2 = 23.04 as TRL computes it; on the sums it would be (4 - 5)^2 = 1
    (2.0, -2.0, 20, 20, 0.1, 23.04),
    # lengths differ: +3 over 3 tokens, -2 over 4: h = 1 + 0.5 = 1.5; beta 0.25: (1.5 - 2)^2 = 0.25
    (3.0, -2.0, 3, 4, 0.25, 0.25),
    # an empty response counts as 1 token (TRL's clamp), not a division by 0: h = 0.5; (0.5 - 0.5)^2 = 0
    (0.5, 0.0, 1, 0, 1.0, 0.0),
])
def test_dpo_ipo_by_hand(chosen_ratio, rejected_ratio, chosen_tokens, rejected_tokens, beta, expected):
    ref = torch.tensor([-4.0])
    loss, _ = dpo_loss(
        ref + chosen_ratio, ref + rejected_ratio, ref, ref, beta=beta, loss_type="ipo",
        chosen_tokens=torch.tensor([chosen_tokens]), rejected_tokens=torch.tensor([rejected_tokens]),
    )
    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_dpo_ipo_needs_the_token_counts():
    with pytest.raises(ValueError, match="token"):
        dpo_loss(torch.tensor([-3.0]), torch.tensor([-5.0]), torch.tensor([-4.0]), torch.tensor([-4.0]), beta=0.5,
                 loss_type="ipo")


def test_dpo_normalizer_splits_exactly():
    args = [torch.tensor([-3.0, -2.0]), torch.tensor([-5.0, -2.5]), torch.tensor([-4.0, -2.0]), torch.tensor([-4.0, -2.0])]
    full, _ = dpo_loss(*args, beta=0.5)
    halves = [dpo_loss(*(a[i : i + 1] for a in args), beta=0.5, normalizer=2)[0] for i in range(2)]
    assert (halves[0] + halves[1]).item() == pytest.approx(full.item(), abs=1e-7)


def test_ppo_policy_loss_by_hand():
    # ratios [1, exp(0.5) = 1.6487213], A = [2, -1], eps 0.2
    # t0: min(2, 2) = 2 -> -2;  t1: min(-1.6487, -1.2) = -1.6487 -> +1.6487 (unclipped side wins)
    loss, stats = ppo_policy_loss(
        torch.tensor([[-1.0, -1.0]]), torch.tensor([[-1.0, -1.5]]), torch.tensor([[2.0, -1.0]]), torch.ones(1, 2),
        clip_epsilon=0.2,
    )
    assert loss.item() == pytest.approx((-2 + math.exp(0.5)) / 2, abs=1e-6)
    assert stats["clip_frac"].item() == pytest.approx(0.5)  # t1's ratio lies outside [0.8, 1.2]


def test_ppo_value_loss_by_hand():
    # t0: V 1, V_old 0.5 -> clipped 0.7; R 2: max((1-2)^2, (0.7-2)^2) = 1.69 -> 0.845
    # t1: V 0, V_old 0.5 -> clipped 0.3; R 0: max(0, 0.09) = 0.09 -> 0.045;   mean 0.445
    loss, _ = ppo_value_loss(
        torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]]), torch.tensor([[2.0, 0.0]]), torch.ones(1, 2),
        value_clip=0.2,
    )
    assert loss.item() == pytest.approx(0.445, abs=1e-6)

