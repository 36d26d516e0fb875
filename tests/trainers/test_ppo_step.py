"""PPO rollout targets by hand (zero value head), accumulation-exact backward, the KL to the reference by hand, and
a step's metrics (PPO's and GRPO's): each one there only where the step measures it."""

import random
import warnings

import pytest
import torch

from rlvr.data.problem import Problem
from rlvr.sampling.types import Completion, Group
from rlvr.trainers.config import PPOConfig
from rlvr.trainers.logprobs import make_batch
from rlvr.trainers.loop import Scored, Trainer
from rlvr.trainers.policy import Policy
from rlvr.trainers.ppo import ppo_backward, ppo_rollout
from tests.sampling.sampling_helpers import torch_logprobs
from tests.trainers.tiny_runs import tiny_run_config


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


def _perturb(model, scale=0.05):
    """Move the policy away from its reference (copied when the Policy was built), so that KL > 0."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))


def test_rollout_kl_is_the_token_mean_k3_kl_to_the_reference(tiny_lm, rows):
    policy = Policy(tiny_lm(), value_head=True, need_reference=True)
    _perturb(policy.model)
    rollout = ppo_rollout(policy, make_batch(*rows, pad_id=0), torch.ones(4), PPOConfig(kl_coef=0.1), 2)
    # by hand: k3 = exp(ref - logp) - (ref - logp) - 1 for each of the 13 completion tokens, then their mean
    diffs = torch.cat([torch_logprobs(policy._reference, p, c) - torch_logprobs(policy.model, p, c) for p, c in zip(*rows)])
    expected = (diffs.exp() - diffs - 1).mean().item()
    assert expected > 1e-3
    assert rollout.kl.item() == pytest.approx(expected, rel=1e-4)


def _scored(vocab: int) -> Scored:
    """2 groups of 2 completions of random tokens, one right answer in each group."""
    rng = random.Random(0)
    groups = []
    for g in range(2):
        prompt = [rng.randrange(3, vocab) for _ in range(6)]
        completions = [Completion(f"p{g}", "", [rng.randrange(3, vocab) for _ in range(5 + i)], prompt, None, "stop")
                       for i in range(2)]
        groups.append(Group(Problem(f"p{g}", "arith", "", "0"), completions))
    return Scored(groups=groups, rewards=[[1.0, 0.0], [0.0, 1.0]], verdicts=[[{}, {}], [{}, {}]])


@pytest.mark.parametrize("algorithm, options, measured, not_measured", [
    # one pass: pi_old against itself gives no approx_kl; no entropy bonus, no entropy computed
    ("ppo", {"kl_coef": 0.05}, {"kl"}, {"approx_kl", "entropy"}),
    # no reference, no kl; the second pass measures how far the first update moved the policy
    ("ppo", {"kl_coef": 0.0, "num_iterations": 2, "entropy_coef": 0.01}, {"approx_kl", "entropy"}, {"kl"}),
    # GRPO as TRL logs it: kl only with a reference (beta > 0)
    ("grpo", {"beta": 0.1}, {"kl"}, set()),
    ("grpo", {"beta": 0.0}, set(), {"kl"}),
], ids=["ppo-kl-one-pass", "ppo-no-kl-two-passes-entropy", "grpo-beta", "grpo-no-beta"])
def test_a_step_logs_each_metric_only_where_it_is_measured(tmp_path, warm_model, algorithm, options, measured,
                                                          not_measured):
    config = tiny_run_config(tmp_path, algorithm, **{algorithm: {"group_size": 2, **options}})
    trainer = Trainer(config, resume=False, log=lambda _m: None)
    try:
        _perturb(trainer.policy.model)  # away from the reference: its KL is not 0
        stats = trainer.update(_scored(trainer.policy.model.config.vocab_size))
    finally:
        trainer.close()
    assert not_measured.isdisjoint(stats), stats
    assert all(stats[key] > 0 for key in measured), stats


def test_a_grpo_step_without_a_kept_group_logs_no_kl_it_did_not_measure(tmp_path, warm_model):
    config = tiny_run_config(tmp_path, "grpo", grpo={"group_size": 2, "beta": 0.1, "zero_variance": "filter"})
    trainer = Trainer(config, resume=False, log=lambda _m: None)
    try:
        scored = _scored(trainer.policy.model.config.vocab_size)
        scored.rewards = [[1.0, 1.0], [0.0, 0.0]]  # every group degenerate: nothing to learn, no pass runs
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stats = trainer.update(scored)
        lr_after = trainer.scheduler.get_last_lr()
    finally:
        trainer.close()
    assert stats["groups_kept"] == 0 and "kl" not in stats, stats
    # the schedule still moves with the step count, without torch's "scheduler before optimizer" warning
    assert trainer.scheduler.last_epoch == 1 and lr_after, lr_after
    assert not [w for w in caught if "lr_scheduler" in str(w.message)], [str(w.message) for w in caught]
