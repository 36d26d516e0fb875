"""PPO rollout targets by hand (zero value head), accumulation-exact backward, value head persistence."""

import pytest
import torch

from rlvr.trainers.config import PPOConfig
from rlvr.trainers.logprobs import make_batch
from rlvr.trainers.policy import Policy
from rlvr.trainers.ppo import ppo_backward, ppo_rollout


def test_rollout_returns_by_hand(tiny_lm):
    # value head starts at 0 and kl_coef = 0: rewards are only the score s at the last token, so
    #   delta_t = 0 except delta_last = s;  A_t = (gamma * lam)^(last - t) * s;  R_t = A_t + 0
    # row 0: 3 tokens, s = 1, gamma lam = 0.9 * 0.5 = 0.45 -> [0.2025, 0.45, 1]
    # row 1: 1 token,  s = 0 -> [0]
    policy = Policy(tiny_lm(), value_head=True)
    batch = make_batch([[1, 2], [3]], [[4, 5, 6], [7]], pad_id=0)
    cfg = PPOConfig(gamma=0.9, lam=0.5, kl_coef=0.0)
    rollout = ppo_rollout(policy, batch, torch.tensor([1.0, 0.0]), cfg, micro_batch_size=1)
    torch.testing.assert_close(rollout.returns, torch.tensor([[0.2025, 0.45, 1.0], [0.0, 0.0, 0.0]]))
    assert rollout.old_values.abs().max() == 0.0
    assert policy.reference_passes == 0
    valid = rollout.advantages[rollout.mask > 0]
    assert valid.mean().item() == pytest.approx(0.0, abs=1e-6)  # whitened


def test_rollout_with_kl_uses_the_reference(tiny_lm, rows):
    policy = Policy(tiny_lm(), value_head=True, need_reference=True)
    ppo_rollout(policy, make_batch(*rows, pad_id=0), torch.ones(4), PPOConfig(kl_coef=0.1), 2)
    assert policy.reference_passes == 1


def test_ppo_backward_is_independent_of_micro_batching(tiny_lm, rows):
    policy = Policy(tiny_lm(), value_head=True)
    with torch.no_grad():
        policy.value_head.linear.weight.normal_(0.0, 0.1)
    batch = make_batch(*rows, pad_id=0)
    cfg = PPOConfig(kl_coef=0.0, entropy_coef=0.01, vf_coef=0.5)
    rollout = ppo_rollout(policy, batch, torch.tensor([1.0, 0.0, 1.0, 0.0]), cfg, 4)
    rollout.old_logp += 0.2 * torch.randn_like(rollout.old_logp) * rollout.mask  # make clipping happen
    results = []
    for mbs in (4, 1):
        policy.model.zero_grad(set_to_none=True)
        policy.value_head.zero_grad(set_to_none=True)
        stats = ppo_backward(policy, batch, rollout, cfg, mbs)
        grads = {n: p.grad.clone() for n, p in policy.model.named_parameters()}
        grads.update({f"v.{n}": p.grad.clone() for n, p in policy.value_head.named_parameters()})
        results.append((stats, grads))
    (s4, g4), (s1, g1) = results
    assert s4["loss"] == pytest.approx(s1["loss"], abs=1e-6)
    assert s4["entropy"] == pytest.approx(s1["entropy"], abs=1e-6) and s4["entropy"] > 0
    for name in g4:
        torch.testing.assert_close(g1[name], g4[name], atol=1e-6, rtol=1e-4)
    assert g4["v.linear.weight"].abs().sum() > 0


def test_ppo_needs_a_value_head(tiny_lm, rows):
    with pytest.raises(ValueError):
        ppo_rollout(Policy(tiny_lm()), make_batch(*rows, pad_id=0), torch.ones(4), PPOConfig(kl_coef=0.0), 2)
