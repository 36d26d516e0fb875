"""Group advantages, overlong shaping, GAE and whitening against values computed by hand."""

import math

import pytest
import torch

from rlvr.trainers.advantages import (
    degenerate_groups,
    gae,
    group_advantages,
    overlong_penalty,
    ppo_token_rewards,
    whiten,
)

EPS = 1e-6


def test_group_scale_uses_population_std():
    # [1, 0, 0, 0]: mean 0.25, population std sqrt(0.25 * 0.75) = 0.4330127
    adv, keep = group_advantages(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    std = math.sqrt(0.25 * 0.75)
    expected = torch.tensor([[0.75, -0.25, -0.25, -0.25]]) / (std + EPS)  # [1.7320, -0.5774 x3]
    torch.testing.assert_close(adv, expected)
    assert keep.tolist() == [True]


def test_binary_group_of_two_gives_plus_minus_one():
    # [1, 0]: mean 0.5, population std 0.5 -> +-0.5 / 0.500001
    adv, _ = group_advantages(torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(adv, torch.tensor([[0.5, -0.5]]) / (0.5 + EPS))


def test_batch_scale_divides_by_the_std_of_all_rewards():
    # group means 0.5 and 1 -> centred [0.5, -0.5], [0, 0]
    # all rewards [1, 0, 1, 1]: mean 0.75, var (3 * 0.0625 + 0.5625) / 4 = 0.1875, std 0.4330127
    adv, _ = group_advantages(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), scale="batch")
    std = math.sqrt(0.1875)
    torch.testing.assert_close(adv, torch.tensor([[0.5, -0.5], [0.0, 0.0]]) / (std + EPS))


def test_scale_none_only_centres():
    adv, _ = group_advantages(torch.tensor([[1.0, 0.0, 0.0, 0.0]]), scale="none")
    torch.testing.assert_close(adv, torch.tensor([[0.75, -0.25, -0.25, -0.25]]))


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
@pytest.mark.parametrize("zero_variance", ["keep", "filter", "resample"])
def test_all_equal_group_gives_zero_advantage(scale, zero_variance):
    rewards = torch.tensor([[0.3, 0.3, 0.3], [1.0, 0.0, 1.0]])
    adv, keep = group_advantages(rewards, scale=scale, zero_variance=zero_variance)
    assert adv[0].abs().max() == 0.0
    assert adv[1].abs().max() > 0.0
    assert keep.tolist() == ([True, True] if zero_variance == "keep" else [False, True])


def test_virtual_max_gives_all_wrong_groups_a_negative_advantage():
    rewards = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    adv, keep = group_advantages(rewards, zero_variance="virtual_max")
    # [0, 0, 0] + virtual 1: mean 0.25, std 0.4330127 -> -0.25 / 0.4330127 = -0.5773503 each
    all_wrong = -0.25 / (math.sqrt(0.1875) + EPS)
    # [1, 1, 1] + virtual 1: std 0 -> 0
    # [1, 0, 0] + virtual 1: mean 0.5, std 0.5 -> [1, -1, -1] (x 0.5 / 0.500001)
    mixed = [0.5 / (0.5 + EPS), -0.5 / (0.5 + EPS), -0.5 / (0.5 + EPS)]
    torch.testing.assert_close(adv, torch.tensor([[all_wrong] * 3, [0.0] * 3, mixed]))
    assert keep.all()


def test_virtual_max_uses_the_given_maximum():
    # [0, 0] + virtual 2: mean 2/3, std sqrt(((2/3)^2 * 2 + (4/3)^2) / 3) = sqrt(8/9) = 0.9428090
    adv, _ = group_advantages(torch.tensor([[0.0, 0.0]]), zero_variance="virtual_max", max_reward=2.0)
    torch.testing.assert_close(adv, torch.full((1, 2), (-2 / 3) / (math.sqrt(8 / 9) + EPS)))


def test_degenerate_groups_and_bad_modes():
    assert degenerate_groups(torch.tensor([[1.0, 1.0], [0.0, 1.0]])).tolist() == [True, False]
    with pytest.raises(ValueError):
        group_advantages(torch.zeros(1, 2), scale="rank")
    with pytest.raises(ValueError):
        group_advantages(torch.zeros(1, 2), zero_variance="drop")


def test_overlong_penalty_ramps_over_the_buffer():
    # max 10, buffer 4 -> no penalty up to 6 tokens; 8 tokens: (6 - 8) / 4 = -0.5; 10 and beyond: -1
    out = overlong_penalty(torch.tensor([5, 6, 8, 10, 12]), max_tokens=10, buffer=4, penalty=1.0)
    torch.testing.assert_close(out, torch.tensor([0.0, 0.0, -0.5, -1.0, -1.0]))
    assert overlong_penalty(torch.tensor([12]), max_tokens=10, buffer=0).item() == 0.0


def test_gae_by_hand():
    # gamma 0.9, lam 0.8 (gamma * lam = 0.72), V = 0.5 everywhere
    # row 0 rewards [0, 0, 1], 3 tokens:
    #   t2: delta = 1 - 0.5 = 0.5;                  A2 = 0.5
    #   t1: delta = 0.9 * 0.5 - 0.5 = -0.05;        A1 = -0.05 + 0.72 * 0.5  = 0.31
    #   t0: delta = -0.05;                          A0 = -0.05 + 0.72 * 0.31 = 0.1732
    # row 1 rewards [0, 1, junk], 2 tokens: the episode ends after t1, so V_2 = 0
    #   t1: delta = 1 - 0.5 = 0.5; A1 = 0.5;   t0: A0 = -0.05 + 0.72 * 0.5 = 0.31
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 5.0]])
    values = torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.5, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    torch.testing.assert_close(adv, torch.tensor([[0.1732, 0.31, 0.5], [0.31, 0.5, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[0.6732, 0.81, 1.0], [0.81, 1.0, 0.0]]))


def test_whiten_over_masked_entries():
    # [1, 2, 3] (100 masked): mean 2, population std sqrt(2/3) = 0.8164966
    out = whiten(torch.tensor([[1.0, 2.0, 3.0, 100.0]]), torch.tensor([[1.0, 1.0, 1.0, 0.0]]))
    s = math.sqrt(2 / 3)
    torch.testing.assert_close(out, torch.tensor([[-1 / s, 0.0, 1 / s, 0.0]]))


def test_ppo_token_rewards_by_hand():
    # KL penalty -0.1 * (logp - ref) = -0.1 * 0.5 on token 0, 0 on token 1; score 1 on the last real token
    logp = torch.tensor([[-1.0, -2.0, 0.0]])
    ref = torch.tensor([[-1.5, -2.0, 0.0]])
    out = ppo_token_rewards(torch.tensor([1.0]), logp, ref, torch.tensor([[1.0, 1.0, 0.0]]), kl_coef=0.1)
    torch.testing.assert_close(out, torch.tensor([[-0.05, 1.0, 0.0]]))
