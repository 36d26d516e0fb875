"""Prefix sharing in training: a group's completions packed behind one copy of the prompt give the same
log-probs and the same GRPO gradients as one row per completion."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from rlvr.trainers.config import GRPOConfig
from rlvr.trainers.grpo import grpo_backward
from rlvr.trainers.logprobs import make_batch, token_logprobs
from rlvr.trainers.policy import Policy
from rlvr.trainers.shared_prompt import group_micro_batches, grouped_logprobs
from rlvr.trainers.tiny_model import build_tiny_model
from tests.trainers.random_groups import random_groups


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("m") / "tiny", seed=0)


def test_groups_are_found_and_packed_whole_into_micro_batches():
    p = [[1], [1], [1], [2], [2], [3]]
    assert group_micro_batches(p, 4) == [[[0, 1, 2]], [[3, 4], [5]]]
    assert group_micro_batches(p, 100) == [[[0, 1, 2], [3, 4], [5]]]
    assert group_micro_batches([[1], [2], [3]], 4) is None  # nothing shared: the plain path


def test_packed_log_probs_and_gradients_equal_one_row_per_completion(model_dir):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    batch = make_batch(*random_groups(), pad_id=0)
    plain, _ = token_logprobs(model, batch)
    plain.sum().backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    plan = group_micro_batches(batch.prompts, 8)
    assert [len(m) for m in plan] == [2, 1]
    for groups in plan:
        logp, rows = grouped_logprobs(model, batch, groups)
        assert rows == [r for g in groups for r in g]
        torch.testing.assert_close(logp, plain[rows].detach(), atol=1e-5, rtol=0)
        logp.sum().backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], atol=1e-4, rtol=1e-4, msg=name)


def test_grpo_backward_is_the_same_with_and_without_prompt_sharing(model_dir):
    grads, stats = [], []
    batch = make_batch(*random_groups(seed=1), pad_id=0)
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5] * 3)
    for share in (True, False):
        policy = Policy(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32), None)
        stats.append(grpo_backward(policy, batch, advantages, None, None, GRPOConfig(beta=0.0), 8, share_prompts=share))
        grads.append({n: p.grad for n, p in policy.model.named_parameters() if p.grad is not None})
    assert stats[0]["loss"] == pytest.approx(stats[1]["loss"], abs=1e-6) and stats[0]["tokens"] == stats[1]["tokens"]
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-5, rtol=1e-4, msg=name)


def test_gradient_checkpointing_recomputes_packed_rows_with_segment_attention(model_dir):
    """`model.gradient_checkpointing: true`: backward recomputes each layer after the segment-attention block has
    ended; the recompute must still attend within segments (the old code raised CheckpointError here)."""
    from rlvr.trainers.config import ModelConfig

    batch = make_batch(*random_groups(), pad_id=0)
    grads = []
    for checkpointing in (False, True):
        policy = Policy.from_config(ModelConfig(path=str(model_dir), dtype="float32",
                                                gradient_checkpointing=checkpointing))
        policy.train()
        for groups in group_micro_batches(batch.prompts, 8):
            logp, _ = grouped_logprobs(policy.model, batch, groups)
            logp.sum().backward()
        grads.append({n: p.grad.clone() for n, p in policy.model.named_parameters()})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, atol=1e-5, rtol=1e-4, msg=name)
