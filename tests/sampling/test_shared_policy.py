"""The hf backend samples with the trainer's own module: the same parameter storage after optimizer steps,
samples that follow the new weights, LoRA through the live PEFT model, decoding without autograd and with the
model's own (SDPA, KV-cached) attention, and the module handed back in train mode, ready for the next step."""

from __future__ import annotations

import sys

import torch
from peft import LoraConfig, get_peft_model

from rlvr.sampling.config import SamplingParams
from rlvr.sampling.factory import make_sampler
from rlvr.sampling.prompts import prompt_token_ids
from tests.sampling.sampling_helpers import cfg_for, load_policy, torch_logprobs, train_a_few_steps

COMPLETION = [40, 41, 42, 43, 44, 45, 46, 47]
GREEDY = SamplingParams(max_tokens=8, temperature=0.0, logprobs=True)


def _storage(module: torch.nn.Module) -> list[int]:
    return [p.data_ptr() for p in module.parameters()]


def _greedy_matches_policy(sampler, policy, problems) -> None:
    """Every greedy sample's recorded log-probs are the policy's own, computed by the trainer's forward."""
    for group in sampler.generate(problems, 1, GREEDY):
        c = group.completions[0]
        expected = torch_logprobs(policy, c.prompt_token_ids, c.token_ids)
        torch.testing.assert_close(torch.tensor(c.sample_logprobs), expected, atol=1e-4, rtol=0)


# Every completion wrong, and NGRPO's virtual maximum in every group: each advantage is negative whatever the
# model samples, so the step always changes the weights (with the arith verifier, a host whose samples were all
# right, or all wrong, in both groups got zero advantages and no update).
NEVER_RIGHT = ("from rlvr.verifiers.verdict import Verdict\n"
               "def score(completion, reference, options=None):\n"
               "    return Verdict(0.0, 'wrong', {})\n")


def test_trainer_samples_with_its_policy_after_an_optimizer_step(tmp_path, warm_model, monkeypatch):
    from rlvr.trainers.run_config import validate_config
    from rlvr.trainers.loop import Trainer

    (tmp_path / "never_right.py").write_text(NEVER_RIGHT)
    monkeypatch.syspath_prepend(str(tmp_path))  # the verifier's worker process imports it too
    cfg = validate_config({
        "model": {"path": "tiny"}, "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "params": {"max_tokens": 16}},
        "verify": {"workers": 1, "verifiers": [{"name": "never_right:score"}]},
        "train": {"steps": 2, "prompts_per_step": 2, "grpo": {"group_size": 4, "zero_variance": "virtual_max"},
                  "optim": {"lr": 1e-3}, "checkpoint": {"dir": str(tmp_path / "run")}},
    })
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    try:
        policy = trainer.policy.model
        assert trainer.sampler.model is policy and trainer.sampler.device == trainer.policy.device
        storage = _storage(policy)
        before = [p.detach().clone() for p in policy.parameters()]
        mode = policy.training
        trainer.run_step()  # sample -> verify -> update (an optimizer step) -> sync
        assert any(not torch.equal(a, p) for a, p in zip(before, policy.parameters())), "the step changed weights"
        assert _storage(trainer.sampler.model) == storage == _storage(policy), "no copy, no re-allocation"
        assert policy.training == mode, "handed back in the mode it was in"
        problems = trainer.next_problems(2)
        _greedy_matches_policy(trainer.sampler, policy, problems)
        old = trainer.sampler.generate(problems, 1, GREEDY)
        prompt = old[0].completions[0].prompt_token_ids
        train_a_few_steps(policy, prompt, COMPLETION, lr=0.05)  # one more update, outside the loop
        trainer.sampler.sync(policy)  # nothing to copy
        _greedy_matches_policy(trainer.sampler, policy, problems)
        new = trainer.sampler.generate(problems, 1, GREEDY)
        assert new[0].completions[0].token_ids != old[0].completions[0].token_ids, "samples follow the new weights"
    finally:
        trainer.close()
        sys.modules.pop("never_right", None)


def test_lora_samples_through_the_live_peft_model(tiny_dir, tokenizer, problems):
    base = load_policy(tiny_dir)
    policy = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    sampler = make_sampler(cfg_for("hf"), tiny_dir, tokenizer, lora_rank=4, model=policy)
    try:
        assert sampler.model is policy
        prompt = prompt_token_ids(tokenizer, problems[0])
        train_a_few_steps(policy, prompt, COMPLETION)
        sampler.sync(policy)
        _greedy_matches_policy(sampler, policy, problems)  # the adapter is on while sampling
        with policy.disable_adapter():
            without = torch_logprobs(policy, prompt, COMPLETION)
        engine = torch.tensor(sampler.logprobs_of([prompt + COMPLETION])[0][len(prompt) - 1:])
        assert (engine - without).abs().max() > 1e-2, "the trained adapter changes what is sampled"
    finally:
        sampler.close()


def test_decoding_runs_without_autograd_on_sdpa_and_training_continues(tiny_dir, tokenizer, problems):
    policy = load_policy(tiny_dir).train()
    sampler = make_sampler(cfg_for("hf"), tiny_dir, tokenizer, model=policy)
    seen = []

    def record(module, args, output):
        seen.append((module.training, torch.is_inference_mode_enabled(), torch.is_grad_enabled(),
                     policy.config._attn_implementation))

    hook = policy.model.layers[0].mlp.register_forward_hook(record)  # both decode loops call every MLP
    try:
        sampler.generate(problems, 2, SamplingParams(max_tokens=6, seed=1))
    finally:
        hook.remove()
        sampler.close()
    assert len(seen) > 2 and set(seen) == {(False, True, False, "sdpa")}, seen
    assert policy.training
    prompt = prompt_token_ids(tokenizer, problems[0])
    before = torch_logprobs(policy, prompt, COMPLETION)
    train_a_few_steps(policy, prompt, COMPLETION)  # nothing from decoding leaks into autograd
    assert (torch_logprobs(policy, prompt, COMPLETION) - before).abs().max() > 1e-2


def test_share_off_loads_a_second_copy_and_copies_at_sync(tiny_dir, tokenizer, problems):
    policy = load_policy(tiny_dir)
    sampler = make_sampler(cfg_for("hf", hf_share_model=False), tiny_dir, tokenizer, model=policy)
    try:
        assert sampler.model is not policy and not set(_storage(sampler.model)) & set(_storage(policy))
        train_a_few_steps(policy, prompt_token_ids(tokenizer, problems[0]), COMPLETION)
        sampler.sync(policy)
        _greedy_matches_policy(sampler, policy, problems)
    finally:
        sampler.close()
