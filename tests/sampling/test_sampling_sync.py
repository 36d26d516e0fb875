"""Weight sync is verified against the trainer: after a few optimizer steps in torch the engine's
log-probs of a fixed completion differ from the trainer's, and after `sync` they match."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model

from rlvr.sampling.config import SamplingParams
from rlvr.sampling.hf_backend import HFSampler
from rlvr.sampling.prompts import prompt_token_ids
from tests.sampling.sampling_helpers import (
    cfg_for,
    load_policy,
    torch_logprobs,
    train_a_few_steps,
)

ATOL = 1e-3
COMPLETION = [40, 41, 42, 43, 44, 45, 46, 47]  # any fixed tokens


@pytest.fixture(params=["hf", "vllm"])
def fresh_sampler(request, tiny_dir, tokenizer):
    """An engine holding the on-disk weights; the vLLM one is the session engine, restored afterwards."""
    if request.param == "vllm":
        yield request.getfixturevalue("restore_engine")
    else:
        sampler = HFSampler(cfg_for("hf"), tiny_dir, tokenizer)
        yield sampler
        sampler.close()


def engine_vs_trainer(sampler, policy, prompt) -> float:
    engine = torch.tensor(sampler.logprobs_of([prompt + COMPLETION])[0][len(prompt) - 1 :])
    return (engine - torch_logprobs(policy, prompt, COMPLETION)).abs().max().item()


def test_full_sync(fresh_sampler, tiny_dir, problems, tokenizer):
    prompt = prompt_token_ids(tokenizer, problems[0])
    policy = load_policy(tiny_dir)
    assert engine_vs_trainer(fresh_sampler, policy, prompt) < ATOL
    fresh_sampler.generate(problems[:1], 2, SamplingParams(max_tokens=8, seed=0))  # fills the prefix cache
    for _ in range(2):  # two rounds: step, check stale, sync, check fresh
        train_a_few_steps(policy, prompt, COMPLETION)
        assert engine_vs_trainer(fresh_sampler, policy, prompt) > 1e-2, "before sync the engine is stale"
        fresh_sampler.sync(policy)
        assert engine_vs_trainer(fresh_sampler, policy, prompt) < ATOL
    # Sampling (not just scoring) uses the new weights, with no stale prefix KV.
    for c in fresh_sampler.generate(problems[:1], 2, SamplingParams(max_tokens=8, seed=0))[0].completions:
        expected = torch_logprobs(policy, c.prompt_token_ids, c.token_ids)
        torch.testing.assert_close(torch.tensor(c.sample_logprobs), expected, atol=ATOL, rtol=0)


def test_lora_sync(fresh_sampler, tiny_dir, problems, tokenizer, tmp_path):
    prompt = prompt_token_ids(tokenizer, problems[0])
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    policy = get_peft_model(load_policy(tiny_dir), LoraConfig(r=8, lora_alpha=16, target_modules=targets))
    train_a_few_steps(policy, prompt, COMPLETION)
    assert engine_vs_trainer(fresh_sampler, policy, prompt) > 1e-2, "before sync the engine has no adapter"
    fresh_sampler.sync(policy)  # in memory: LoraAdapter.from_peft
    assert engine_vs_trainer(fresh_sampler, policy, prompt) < ATOL
    train_a_few_steps(policy, prompt, COMPLETION)
    assert engine_vs_trainer(fresh_sampler, policy, prompt) > 1e-2
    policy.save_pretrained(tmp_path / "adapter")
    fresh_sampler.sync_lora(tmp_path / "adapter")  # or from a PEFT adapter dir
    assert engine_vs_trainer(fresh_sampler, policy, prompt) < ATOL
    for c in fresh_sampler.generate(problems[:1], 2, SamplingParams(max_tokens=8, seed=0))[0].completions:
        expected = torch_logprobs(policy, c.prompt_token_ids, c.token_ids)
        torch.testing.assert_close(torch.tensor(c.sample_logprobs), expected, atol=ATOL, rtol=0)


def test_hf_sampler_can_share_the_trainers_model(tiny_dir, tokenizer, problems):
    policy = load_policy(tiny_dir)
    sampler = HFSampler(cfg_for("hf"), tiny_dir, tokenizer, model=policy)
    prompt = prompt_token_ids(tokenizer, problems[0])
    train_a_few_steps(policy, prompt, COMPLETION)
    policy.train()
    sampler.sync(policy)  # nothing to copy
    assert engine_vs_trainer(sampler, policy, prompt) < ATOL
    assert policy.training, "the trainer's module is handed back in train mode"
    sampler.close()


def test_no_stale_prefix_kv_after_sync(restore_engine, tiny_dir, tokenizer):
    """A long prompt fills whole KV blocks that the prefix cache keeps; after a sync they must not be reused."""
    from rlvr.data.problem import Problem

    sampler = restore_engine
    block = sampler.llm.llm_engine.vllm_config.cache_config.block_size
    words = "one two three four "
    while len(tokenizer(words)["input_ids"]) <= block + 8:
        words += "one two three four "
    problem = Problem("long", "t", words, "-")
    prompt = prompt_token_ids(tokenizer, problem)
    assert block < len(prompt) < 240
    params = SamplingParams(max_tokens=8, temperature=0.0)
    sampler.generate([problem], 1, params)  # caches the prompt's full blocks
    policy = load_policy(tiny_dir)
    train_a_few_steps(policy, prompt, COMPLETION)
    sampler.sync(policy)
    c = sampler.generate([problem], 1, params)[0].completions[0]
    expected = torch_logprobs(policy, prompt, c.token_ids)
    torch.testing.assert_close(torch.tensor(c.sample_logprobs), expected, atol=ATOL, rtol=0)
