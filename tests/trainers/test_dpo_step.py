"""DPO pairs from verified groups, cached reference log-probs, accumulation-exact backward."""

import math

import pytest
import torch

from rlvr.data.problem import Problem
from rlvr.sampling.types import Completion, Group
from rlvr.trainers.config import DPOConfig, LoraConfig
from rlvr.trainers.dpo import ReferenceCache, dpo_backward, pairs_from_groups
from rlvr.trainers.logprobs import make_batch, sequence_logprob_sums, token_logprobs
from rlvr.trainers.losses import dpo_loss
from rlvr.trainers.policy import Policy

LORA = LoraConfig(r=2, alpha=4, target_modules=["q_proj", "v_proj"])


def _group(prompt, completions):
    problem = Problem(id="p", task="arith", prompt="q", reference="1")
    return Group(problem, [Completion("p", "", c, prompt, None, "stop") for c in completions])


def test_pairs_from_groups_is_deterministic():
    g1 = _group([1, 2], [[10], [11], [12], [13]])
    g2 = _group([3], [[20], [21]])  # all wrong: no pair
    pairs = pairs_from_groups([(g1, [0.0, 1.0, 1.0, 0.0]), (g2, [0.0, 0.0])])
    # chosen: first completion with the top reward (index 1); rejected: first with the lowest (index 0)
    assert pairs == [([1, 2], [11], [10])]
    with pytest.raises(ValueError):
        pairs_from_groups([(g1, [1.0])])


PAIRS = [([1, 2, 3], [10, 11, 12], [13]), ([4], [14, 15], [16, 17, 18, 19]), ([5, 6], [20], [21, 22])]


def test_reference_is_computed_once_per_sequence(tiny_lm):
    policy = Policy(tiny_lm(), lora=LORA)
    cache = ReferenceCache()
    first = cache.logprob_sums(policy, PAIRS, micro_batch_size=2)
    assert first.shape == (3, 2) and policy.reference_passes == 1 and len(cache) == 6
    again = cache.logprob_sums(policy, PAIRS[::-1], micro_batch_size=2)
    assert policy.reference_passes == 1  # nothing new to compute
    torch.testing.assert_close(again, first.flip(0))
    # the cached values are the summed log-probs of each response
    with torch.no_grad():
        logp, mask = token_logprobs(policy.model, make_batch([PAIRS[1][0]], [PAIRS[1][2]], 0))
    assert first[1, 1].item() == pytest.approx(sequence_logprob_sums(logp, mask).item(), abs=1e-5)


def test_dpo_starts_at_log_2_and_accumulates_exactly(tiny_lm):
    policy = Policy(tiny_lm(), lora=LORA)
    ref = ReferenceCache().logprob_sums(policy, PAIRS, 3)
    cfg = DPOConfig(beta=0.1)
    stats = dpo_backward(policy, PAIRS, ref, cfg, micro_batch_size=3)
    assert stats["loss"] == pytest.approx(math.log(2), abs=1e-5)  # policy == reference: h = 0

    # move the policy away from the reference, then compare micro-batch 1 x 3 with 3 x 1
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.3)
    grads = []
    for mbs in (3, 1):
        policy.model.zero_grad(set_to_none=True)
        s = dpo_backward(policy, PAIRS, ref, cfg, micro_batch_size=mbs)
        grads.append({n: p.grad.clone() for n, p in policy.model.named_parameters() if p.grad is not None})
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-4)

    # the loss equals dpo_loss on the summed log-probs of the whole set of pairs
    with torch.no_grad():
        sums = [sequence_logprob_sums(*token_logprobs(policy.model, make_batch([p, p], [c, r], 0))) for p, c, r in PAIRS]
    sums = torch.stack(sums)
    whole, _ = dpo_loss(sums[:, 0], sums[:, 1], ref[:, 0], ref[:, 1], beta=0.1)
    assert s["loss"] == pytest.approx(whole.item(), abs=1e-5)


def test_ipo_averages_each_responses_log_ratio_over_its_tokens(tiny_lm):
    """IPO as TRL computes it: (pi - ref) / tokens per response. The pairs' responses differ in length (3 vs 1,
    2 vs 4, 1 vs 2), so summed log-ratios would give another loss."""
    policy = Policy(tiny_lm(), lora=LORA)
    ref = ReferenceCache().logprob_sums(policy, PAIRS, 3)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.3)
    beta = 0.1
    stats = dpo_backward(policy, PAIRS, ref, DPOConfig(beta=beta, loss_type="ipo"), micro_batch_size=2)
    by_hand = []
    with torch.no_grad():
        for (prompt, chosen, rejected), (ref_chosen, ref_rejected) in zip(PAIRS, ref.tolist()):
            sums = sequence_logprob_sums(*token_logprobs(policy.model, make_batch([prompt, prompt], [chosen, rejected], 0)))
            h = (sums[0].item() - ref_chosen) / len(chosen) - (sums[1].item() - ref_rejected) / len(rejected)
            by_hand.append((h - 1 / (2 * beta)) ** 2)
    assert stats["loss"] == pytest.approx(sum(by_hand) / len(by_hand), rel=1e-5)
