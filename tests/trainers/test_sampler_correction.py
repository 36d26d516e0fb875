"""grpo.sampler_correction: importance weights exp(pi_old - pi_sampler) for the sampler/trainer mismatch (TRL's
vLLM IS correction), their modes, their effect on the gradient through grpo_backward, and the trainer asking the
sampler for the log-probs they need."""

from __future__ import annotations

import math

import pytest
import torch

from rlvr.sampling.types import Completion
from rlvr.trainers.config import GRPOConfig
from rlvr.trainers.grpo import grpo_backward, sampler_logprobs
from rlvr.trainers.logprobs import make_batch
from rlvr.trainers.losses import sampler_correction_weights
from rlvr.trainers.policy import Policy

ADV = torch.tensor([1.5, -0.5, 0.7, -1.2])
LOG = math.log


@pytest.mark.parametrize("mode, expected", [
    ("token_truncate", [[1.0, 2.0, 3.0, 0.5]]),
    ("token_mask", [[1.0, 2.0, 0.0, 0.5]]),
    ("sequence_truncate", [[3.0]]),  # the sequence's ratio: 1 * 2 * 5 * 0.5 = 5
    ("sequence_mask", [[0.0]]),
])
def test_weights_of_each_mode(mode, expected):
    old = torch.tensor([[0.0, LOG(2), LOG(5), LOG(0.5)]])
    weights = sampler_correction_weights(old, torch.zeros(1, 4), torch.ones(1, 4), mode, cap=3.0)
    torch.testing.assert_close(weights, torch.tensor(expected))


def test_padding_and_a_missing_sampler_logprob_count_as_no_difference():
    old = torch.tensor([[LOG(2), LOG(2), 7.0]])
    sample = torch.tensor([[0.0, float("nan"), -9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    torch.testing.assert_close(sampler_correction_weights(old, sample, mask, "token_truncate", 3.0),
                               torch.tensor([[2.0, 1.0, 1.0]]))
    torch.testing.assert_close(sampler_correction_weights(old, sample, mask, "sequence_truncate", 3.0),
                               torch.tensor([[2.0]]))


def _grads(policy):
    return {n: p.grad.clone() for n, p in policy.model.named_parameters() if p.grad is not None}


def _backward(policy, batch, cfg, advantages, sample=None):
    policy.model.zero_grad(set_to_none=True)
    stats = grpo_backward(policy, batch, advantages, None, None, cfg, 2, sample_logp=sample)
    return stats, _grads(policy)


@pytest.mark.parametrize("mode", ["token_truncate", "token_mask"])
def test_a_rows_weight_scales_its_gradient_like_its_advantage(tiny_lm, rows, mode):
    """pi_sampler = pi_theta - log w_r on every token of row r: with mu = 1 (pi_old = pi_theta, ratio 1) the
    correction weighs row r by w_r, which is the gradient of the uncorrected loss with advantage A_r * w_r."""
    policy = Policy(tiny_lm())
    batch = make_batch(*rows, pad_id=0)
    w = torch.tensor([0.5, 2.0, 1.0, 2.5])
    sample = (policy.logprobs(batch, 4) - torch.log(w)[:, None]) * batch.completion_mask
    cfg = GRPOConfig(group_size=4, sampler_correction=mode, sampler_correction_max=3.0)
    stats, corrected = _backward(policy, batch, cfg, ADV, sample)
    _, reference = _backward(policy, batch, GRPOConfig(group_size=4), ADV * w)
    assert corrected.keys() == reference.keys() and corrected
    for name in corrected:
        torch.testing.assert_close(corrected[name], reference[name], atol=1e-6, rtol=1e-4)
    tokens = batch.completion_mask.sum(dim=1)
    assert stats["sampler_weight_mean"] == pytest.approx(float((w * tokens).sum() / tokens.sum()), rel=1e-5)
    assert stats["sampler_masked_frac"] == 0.0


def test_sequence_mask_drops_a_row_above_the_cap(tiny_lm, rows):
    policy = Policy(tiny_lm())
    batch = make_batch(*rows, pad_id=0)
    sample = policy.logprobs(batch, 4).clone()
    sample[3, :6] -= 0.5  # row 3 (6 tokens): sequence ratio e^3 ~ 20 > 3
    cfg = GRPOConfig(group_size=4, sampler_correction="sequence_mask")
    stats, corrected = _backward(policy, batch, cfg, ADV, sample)
    _, reference = _backward(policy, batch, GRPOConfig(group_size=4), ADV * torch.tensor([1.0, 1.0, 1.0, 0.0]))
    for name in corrected:
        torch.testing.assert_close(corrected[name], reference[name], atol=1e-6, rtol=1e-4)
    assert stats["sampler_masked_frac"] == pytest.approx(6 / float(batch.completion_mask.sum()))


def test_a_completion_without_sampler_logprobs_is_refused_in_one_line():
    done = Completion(problem_id="p7", text="x", token_ids=[5, 6], prompt_token_ids=[1], sample_logprobs=None,
                      finish_reason="stop")
    with pytest.raises(ValueError, match=r"^grpo.sampler_correction needs .* problem p7 has none$"):
        sampler_logprobs([done], 2)
    short = Completion(problem_id="p8", text="x", token_ids=[5, 6], prompt_token_ids=[1], sample_logprobs=[-1.0],
                       finish_reason="stop")
    with pytest.raises(ValueError, match=r"problem p8 has 1 for 2 tokens$"):
        sampler_logprobs([short], 2)


def _trainer(run_dir, backend: str):
    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.run_config import validate_config

    cfg = validate_config({
        "model": {"path": "tiny"}, "task": {"name": "arith", "level": 1},
        "sampler": {"backend": backend, "params": {"max_tokens": 32}}, "verify": {"workers": 1},
        "train": {"steps": 2, "prompts_per_step": 8, "seed": 5, "optim": {"micro_batch_size": 8, "lr": 1e-4},
                  "grpo": {"group_size": 4, "sampler_correction": "sequence_mask"},
                  "checkpoint": {"dir": str(run_dir)}},
    })
    return Trainer(cfg, resume=False, log=lambda _m: None)


def test_the_trainer_asks_for_the_samplers_logprobs_and_logs_the_weights(tmp_path, warm_model):
    """The hf sampler decodes with the trainer's own fp32 module: its log-probs are the trainer's, so every weight
    is ~1 and none is masked."""
    trainer = _trainer(tmp_path, "hf")
    try:
        row = trainer.run_step()
        assert all(c.sample_logprobs is not None for g in trainer.last_groups for c in g.completions)
        assert row["groups_kept"] > 0
        assert row["sampler_weight_mean"] == pytest.approx(1.0, abs=1e-3)
        assert row["sampler_masked_frac"] == 0.0
    finally:
        trainer.close()


@pytest.mark.slow
def test_vllms_logprobs_line_up_with_the_trainers(tmp_path, warm_model):
    """The CPU vLLM engine (its `auto` dtype) samples, the fp32 trainer weighs. After a step and its weight sync,
    every sampled token's recorded log-prob is within 0.5 of the trainer's for that token (0.07 at most when
    written; shifted by one position they were 10.9 apart: the rare tokens' log-probs are large), and the step's
    sequence weights are near 1."""
    trainer = _trainer(tmp_path, "vllm")
    try:
        row = trainer.run_step()
        assert row["groups_kept"] > 0
        assert 0.9 < row["sampler_weight_mean"] < 1.1 and row["sampler_masked_frac"] < 0.05, row
        completions = [c for g in trainer.collect().groups for c in g.completions]
        batch = make_batch([c.prompt_token_ids for c in completions], [c.token_ids for c in completions],
                           trainer.policy.pad_id)
        ours = trainer.policy.logprobs(batch, 8, trainer.cfg.sampler.params.temperature)
        theirs = sampler_logprobs(completions, batch.completion_ids.shape[1])
        gap = ((ours - theirs).abs() * batch.completion_mask).max()
        assert float(gap) < 0.5 and float(ours.min()) < -1.0, (float(gap), float(ours.min()))
    finally:
        trainer.close()


def test_a_bare_yaml_off_means_off(tmp_path):
    """`sampler_correction: off` in a YAML file, or as an override, is YAML's false: it still means "off"."""
    from rlvr.trainers.run_config import load_config

    path = tmp_path / "run.yaml"
    path.write_text("train:\n  grpo:\n    sampler_correction: off\n")
    assert load_config(path, []).train.grpo.sampler_correction == "off"
    assert load_config(None, ["train.grpo.sampler_correction=off"]).train.grpo.sampler_correction == "off"
    assert load_config(None, ["train.grpo.sampler_correction=token_mask"]).train.grpo.sampler_correction == "token_mask"
