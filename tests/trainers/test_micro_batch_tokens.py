"""`train.optim.micro_batch_tokens`: micro-batches bounded by tokens as well as rows. Each micro-batch stays
within the budget (the padded path: rows x (longest prompt + longest completion); the packed path: each prompt
once plus its completions; DPO: both sides of its pairs), a row longer than the budget goes alone, every row is
used once, and the GRPO, PPO and DPO updates are the same as with rows alone (every micro-batch's loss is divided
by the whole batch's normaliser)."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from rlvr.trainers.config import DPOConfig, GRPOConfig, LoraConfig, PPOConfig
from rlvr.trainers.dpo import ReferenceCache, dpo_backward, pair_chunks
from rlvr.trainers.grpo import grpo_backward
from rlvr.trainers.logprobs import MicroBatchSize, make_batch
from rlvr.trainers.policy import Policy
from rlvr.trainers.ppo import ppo_backward, ppo_rollout
from rlvr.trainers.run_config import ConfigError, validate_config
from rlvr.trainers.shared_prompt import group_micro_batches
from rlvr.trainers.tiny_model import build_tiny_model
from tests.trainers.random_groups import random_groups


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("m") / "tiny", seed=0)


def _groups(seed=0):
    return random_groups(seed, groups=4, size=4, shortest=1, longest=24)


@pytest.mark.parametrize("budget", [1, 20, 40, 90, 10_000])
def test_padded_micro_batches_stay_within_the_token_budget(budget):
    batch = make_batch(*_groups(), pad_id=0)
    chunks = batch.split(MicroBatchSize(rows=6, tokens=budget))
    assert sorted(r for rows, _ in chunks for r in rows.tolist()) == list(range(batch.size))
    for rows, micro in chunks:
        assert micro.size <= 6
        assert micro.size == 1 or micro.input_ids.numel() <= budget, (micro.size, micro.input_ids.shape)
    if budget == 10_000:  # no budget in reach: the row-only chunks
        assert [r.tolist() for r, _ in chunks] == [r.tolist() for r, _ in batch.split(6)]


@pytest.mark.parametrize("budget", [1, 25, 60, 120, 10_000])
def test_packed_micro_batches_stay_within_the_token_budget(budget):
    prompts, completions = _groups(seed=2)
    plan = group_micro_batches(prompts, MicroBatchSize(rows=8, tokens=budget), completions)
    rows = [r for micro in plan for g in micro for r in g]
    assert sorted(rows) == list(range(len(prompts)))
    for micro in plan:
        assert sum(len(g) for g in micro) <= 8 and all(len({tuple(prompts[r]) for r in g}) == 1 for g in micro)
        packed = sum(len(prompts[g[0]]) + sum(len(completions[r]) for r in g) for g in micro)
        assert packed <= budget or (len(micro) == 1 and len(micro[0]) == 1), (budget, micro, packed)
    if budget == 10_000:
        assert plan == group_micro_batches(prompts, 8)


def test_a_budget_changes_the_micro_batches_not_the_grpo_update(model_dir):
    batch = make_batch(*_groups(seed=1), pad_id=0)
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5] * 4)
    results = []
    for size in (8, MicroBatchSize(rows=8, tokens=40)):
        policy = Policy(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), None)
        forwards = []
        hook = policy.model.model.register_forward_hook(lambda *_: forwards.append(1))
        stats = grpo_backward(policy, batch, advantages, None, None, GRPOConfig(beta=0.0), size)
        hook.remove()
        results.append((len(forwards), stats, {n: p.grad for n, p in policy.model.named_parameters()}))
    (n_rows, s_rows, g_rows), (n_tok, s_tok, g_tok) = results
    assert n_tok > n_rows, (n_tok, n_rows)  # the budget cut the batch into more micro-batches
    assert s_tok["loss"] == pytest.approx(s_rows["loss"], abs=1e-6) and s_tok["tokens"] == s_rows["tokens"]
    for name, grad in g_rows.items():
        torch.testing.assert_close(g_tok[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_a_budget_changes_the_micro_batches_not_the_ppo_update(tiny_lm, rows):
    policy = Policy(tiny_lm(), value_head=True)
    with torch.no_grad():
        policy.value_head.linear.weight.normal_(0.0, 0.1)
    batch = make_batch(*rows, pad_id=0)
    cfg = PPOConfig(kl_coef=0.0, entropy_coef=0.01)
    rollout = ppo_rollout(policy, batch, torch.tensor([1.0, 0.0, 1.0, 0.0]), cfg, MicroBatchSize(rows=4, tokens=12))
    results = []
    for size in (4, MicroBatchSize(rows=4, tokens=12)):
        policy.model.zero_grad(set_to_none=True)
        policy.value_head.zero_grad(set_to_none=True)
        stats = ppo_backward(policy, batch, rollout, cfg, size)
        results.append((stats, {n: p.grad.clone() for n, p in policy.model.named_parameters()}))
    assert len(batch.split(MicroBatchSize(rows=4, tokens=12))) > len(batch.split(4))
    (s_rows, g_rows), (s_tok, g_tok) = results
    assert s_tok["loss"] == pytest.approx(s_rows["loss"], abs=1e-6)
    for name, grad in g_rows.items():
        torch.testing.assert_close(g_tok[name], grad, atol=1e-6, rtol=1e-4, msg=name)


PAIRS = [([1, 2, 3], [10, 11, 12], [13]), ([4], [14, 15], [16, 17, 18, 19]), ([5, 6], [20], [21, 22]),
         ([7, 8, 9, 10], [23, 24, 25, 26, 27], [28]), ([11], [29], [30])]


@pytest.mark.parametrize("budget", [1, 12, 20, 40, 10_000])
def test_dpo_pair_chunks_stay_within_the_token_budget(budget):
    spans = pair_chunks(PAIRS, MicroBatchSize(rows=3, tokens=budget))
    assert [i for span in spans for i in span] == list(range(len(PAIRS)))  # in order: ref_sums rows follow them
    for span in spans:
        chunk = PAIRS[span.start:span.stop]
        width = max(len(p) for p, _, _ in chunk) + max(max(len(c), len(r)) for _, c, r in chunk)
        assert len(chunk) <= 3 and (len(chunk) == 1 or 2 * len(chunk) * width <= budget), (budget, span)
    if budget == 10_000:
        assert spans == [range(0, 3), range(3, 5)]  # the pair-count chunks


def test_a_budget_changes_the_micro_batches_not_the_dpo_update(tiny_lm):
    policy = Policy(tiny_lm(), lora=LoraConfig(r=2, alpha=4, target_modules=["q_proj", "v_proj"]))
    ref = ReferenceCache().logprob_sums(policy, PAIRS, MicroBatchSize(rows=3, tokens=20))
    with torch.no_grad():  # away from the reference, so the loss has a gradient
        for name, p in policy.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.3)
    results = []
    for size in (3, MicroBatchSize(rows=3, tokens=20)):
        policy.model.zero_grad(set_to_none=True)
        stats = dpo_backward(policy, PAIRS, ref, DPOConfig(beta=0.1), size)
        results.append((stats, {n: p.grad.clone() for n, p in policy.model.named_parameters() if p.grad is not None}))
    assert len(pair_chunks(PAIRS, MicroBatchSize(rows=3, tokens=20))) > len(pair_chunks(PAIRS, 3))
    (s_pairs, g_pairs), (s_tok, g_tok) = results
    assert s_tok["loss"] == pytest.approx(s_pairs["loss"], abs=1e-6) and g_pairs
    for name, grad in g_pairs.items():
        torch.testing.assert_close(g_tok[name], grad, atol=1e-6, rtol=1e-4, msg=name)


@pytest.mark.parametrize("algorithm", ["grpo", "ppo", "dpo"])
def test_the_budget_is_a_config_setting(algorithm):
    cfg = validate_config({"train": {"algorithm": algorithm, "optim": {"micro_batch_tokens": 4096}}})
    assert MicroBatchSize.from_config(cfg.train.optim) == MicroBatchSize(rows=8, tokens=4096)
    with pytest.raises(ConfigError, match="micro_batch_tokens"):
        validate_config({"train": {"optim": {"micro_batch_tokens": 0}}})
