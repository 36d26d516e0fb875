"""Decoding the trainer's mixed-precision module (fp32 master weights, forward under bf16 autocast) costs per
token what decoding a plain model costs, plus autocast's activation casts -- and gives the very same tokens.

Issue 15: on a GPU the trainer's module decoded 3-5x slower than a fresh model. Decode of a small model is
bound by per-op overhead there, so these tests count aten ops per generated token (a TorchDispatchMode sees
every op autocast emits), which CPU measures as a GPU would: autocast re-cast every fp32 weight to bf16 at
every token (each forward is its own autocast region, and inference mode bypasses autocast's weight cache),
and the KV cache, kept in fp32, was re-cast whole at every token in every layer."""

from __future__ import annotations

import time

import pytest
import torch
from peft import LoraConfig, get_peft_model

from rlvr.sampling.config import SamplingParams
from rlvr.sampling.factory import make_sampler
from rlvr.sampling.hf_decode import decode
from rlvr.sampling.static_decode import decode_static
from rlvr.sampling.prompts import prompt_token_ids
from rlvr.trainers.precision import autocast_forward
from tests.sampling.op_count import per_token
from tests.sampling.sampling_helpers import cfg_for, load_policy, torch_logprobs, train_a_few_steps

COMPLETION = [40, 41, 42, 43, 44, 45, 46, 47]


def _mixed(tiny_dir, lora: bool = False):
    model = autocast_forward(load_policy(tiny_dir), torch.bfloat16)  # what Policy.from_config does for bf16_mixed
    if lora:
        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    return model.train()


def test_the_trainers_mixed_precision_module_casts_no_weight_and_no_cache_per_token(tmp_path, warm_model, tokenizer,
                                                                                    problems):
    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.run_config import validate_config

    cfg = validate_config({
        "model": {"path": "tiny", "autocast": "bfloat16"}, "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 8}}, "verify": {"workers": 1},
        "train": {"steps": 1, "prompts_per_step": 2, "grpo": {"group_size": 2}, "checkpoint": {"dir": str(tmp_path)}},
    })
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    try:
        trainer.run_step()  # as the sampler sees the module mid-run: after an optimizer step, in train mode
        prompts = [prompt_token_ids(trainer.policy.tokenizer, p) for p in problems]
        policy = per_token(trainer.sampler, trainer.policy.model, prompts)
    finally:
        trainer.close()
    fresh_model = load_policy(warm_model).eval()  # a plain fp32 copy, loaded for sampling only
    sampler = make_sampler(cfg_for("hf"), warm_model, tokenizer, model=fresh_model)
    try:
        fresh = per_token(sampler, fresh_model, prompts)
    finally:
        sampler.close()
    assert policy["weight casts"] == 0, policy  # was 41 a token (every linear weight and bias, at every token)
    assert policy["cache casts"] == 0, policy  # was 8 a token (K and V of every layer, the whole cache)
    # what is left on top of a plain fp32 model: autocast's casts of the activations into each matmul (~10%)
    assert policy["all"] <= 1.15 * fresh["all"], (policy, fresh)


def test_lora_base_weights_are_cast_once_per_generate_too(tiny_dir, tokenizer, problems):
    model = _mixed(tiny_dir, lora=True)
    sampler = make_sampler(cfg_for("hf"), tiny_dir, tokenizer, model=model)
    try:
        counts = per_token(sampler, model, [prompt_token_ids(tokenizer, p) for p in problems])
    finally:
        sampler.close()
    assert counts["weight casts"] == 0 and counts["cache casts"] == 0, counts


@pytest.mark.parametrize("mode", ["static", "dynamic"])
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_samples_are_exactly_those_of_per_op_autocast(tiny_dir, tokenizer, problems, lora, mode):
    """Casting a weight once per call gives the bf16 tensor autocast makes at every op, and a bf16 KV cache
    holds what autocast fed SDPA: the tokens and log-probs are bit for bit those of the same decode loop run
    on the module as it is (fp32 weights, autocast at every op)."""
    model = _mixed(tiny_dir, lora)
    prompts = [prompt_token_ids(tokenizer, p) for p in problems]
    params = SamplingParams(max_tokens=12, seed=3, logprobs=True)
    sampler = make_sampler(cfg_for("hf", hf_decode=mode), tiny_dir, tokenizer, model=model)
    try:
        rows = sampler._generate_rows(prompts, 3, params, time.monotonic() + 120)
    finally:
        sampler.close()
    model.eval()
    kw = dict(pad_id=sampler.pad_id, eos_ids=sampler.eos_ids, stop_hit=lambda *_: False,
              deadline=time.monotonic() + 120, timeout_s=120)
    with torch.inference_mode(), torch.random.fork_rng():
        torch.manual_seed(params.seed)  # as the sampler seeds: once per call
        if mode == "dynamic":  # the module's own forward autocasts
            plain = decode(model, prompts, 3, params, 12, **kw)
        else:  # the static loop autocasts to the dtype it is given
            plain = decode_static(model, prompts, 3, params, 12, cache_dtype=torch.bfloat16, **kw)
    assert [r.tokens for r in rows] == [r.tokens for r in plain]
    assert [r.logprobs for r in rows] == [r.logprobs for r in plain]


def test_the_module_is_handed_back_unchanged_and_decoding_follows_each_update(tiny_dir, tokenizer, problems):
    model = _mixed(tiny_dir)
    params_before = [(name, p, p.data_ptr(), p.dtype) for name, p in model.named_parameters()]
    sampler = make_sampler(cfg_for("hf"), tiny_dir, tokenizer, model=model)
    greedy = SamplingParams(max_tokens=8, temperature=0.0, logprobs=True)
    prompt = prompt_token_ids(tokenizer, problems[0])
    try:
        old = sampler.generate(problems[:1], 1, greedy)[0].completions[0]
        after = [(name, p, p.data_ptr(), p.dtype) for name, p in model.named_parameters()]
        assert after == params_before, "the same Parameter objects, storage and dtype (fp32 master weights)"
        train_a_few_steps(model, prompt, COMPLETION)  # optimizer steps on the live module, then sample again
        new = sampler.generate(problems[:1], 1, greedy)[0].completions[0]
    finally:
        sampler.close()
    assert new.token_ids != old.token_ids, "samples follow the updated weights"
    expected = torch_logprobs(model, new.prompt_token_ids, new.token_ids)  # the trainer's forward (autocast)
    torch.testing.assert_close(torch.tensor(new.sample_logprobs), expected, atol=5e-2, rtol=0)
