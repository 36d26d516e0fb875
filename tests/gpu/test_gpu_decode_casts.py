"""On CUDA, the trainer's bf16-mixed module (autocast: auto) decodes with its linear weights cast once per
generate call and a bf16 KV cache: no weight and no whole-cache cast per token, the same ops per token as a
fresh model under the same autocast, and the greedy tokens of the per-op autocast decode (issue 15: the
trainer's module decoded 3-5x slower than a fresh model on the H200). The CPU twin of these checks is
tests/sampling/test_hf_autocast_decode.py; the timings are bench/gpu_profile.py's."""

from __future__ import annotations

import functools
import time

import pytest
import torch

from tests.gpu.gpu_helpers import cuda, trainer_config
from tests.sampling.op_count import per_token


@pytest.mark.gpu
@pytest.mark.skipif(not cuda, reason="needs a CUDA device")
def test_the_trainers_module_decodes_on_cuda_without_per_token_casts(random_model, tmp_path):
    from transformers import AutoModelForCausalLM

    from rlvr.sampling.config import SamplingParams
    from rlvr.sampling.hf_decode import decode
    from rlvr.sampling.static_decode import decode_static
    from rlvr.sampling.prompts import prompt_token_ids
    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.precision import autocast_forward

    trainer = Trainer(trainer_config(random_model, tmp_path, device="cuda", autocast="auto"), resume=False,
                      log=lambda _m: None)
    try:
        trainer.run_step()  # after an optimizer step, as the sampler meets the module mid-run
        sampler, model = trainer.sampler, trainer.policy.model
        prompts = [prompt_token_ids(sampler.tokenizer, p) for p in trainer.next_problems(2)]
        loop = sampler.decode
        if loop is decode_static:  # counted eagerly: a replayed graph runs the step's ops without dispatching them
            sampler.decode = functools.partial(decode_static, graphs=False)
        policy = per_token(sampler, model, prompts)
        fresh_model = AutoModelForCausalLM.from_pretrained(str(random_model)).cuda().eval()
        autocast_forward(fresh_model, torch.bfloat16)
        sampler.model = fresh_model  # the same sampler, decoding a model loaded for sampling only
        fresh = per_token(sampler, fresh_model, prompts)
        sampler.model, sampler.decode = model, loop
        greedy = SamplingParams(max_tokens=16, min_tokens=16, temperature=0.0, logprobs=True)
        rows = sampler._generate_rows(prompts, 1, greedy, time.monotonic() + 120)
        model.eval()
        kw = dict(pad_id=sampler.pad_id, eos_ids=sampler.eos_ids, stop_hit=lambda *_: False,
                  deadline=time.monotonic() + 120, timeout_s=120)
        with torch.inference_mode():  # the same loop without the weights cast once: autocast at every op
            if sampler.decode is decode_static:  # and without CUDA graphs
                plain = decode_static(model, prompts, 1, greedy, 16, cache_dtype=torch.bfloat16, graphs=False, **kw)
            else:
                plain = decode(model, prompts, 1, greedy, 16, **kw)
        model.train()
    finally:
        trainer.close()
    print(f"\nops per token on cuda: trainer's module {policy}, fresh {fresh}")
    assert policy["all"] > 0 and fresh["all"] > 0, (policy, fresh)  # the decode steps' ops were counted
    assert policy["weight casts"] == 0 and policy["cache casts"] == 0, policy
    assert policy["all"] <= fresh["all"] * 1.02, (policy, fresh)
    assert [r.tokens for r in rows] == [r.tokens for r in plain]
    # the logits are bf16: a kernel that sums in another order (CUDA graph vs eager, another thread's CPU kernel:
    # 0.005 measured in a CPU run of this test) moves a log-prob by up to one bf16 step of a logit (~0.03 near 5);
    # a wrong weight or cache slot moves it by far more
    torch.testing.assert_close(torch.tensor([r.logprobs for r in rows]), torch.tensor([r.logprobs for r in plain]),
                               atol=3e-2, rtol=0)
