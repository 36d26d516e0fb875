"""The fixed-shape decode (sampling/static_decode.py) against the ground truth: the transformers forward of each
finished row, prompt + completion in one pass without any cache. The recorded log-prob of every sampled token
must be that forward's log-softmax at the token (temperature 1, no processors), for rows of different prompt
lengths (left padding) that end at different steps (the batch shrinks as they end)."""

from __future__ import annotations

import time

import pytest
import torch
from transformers import (AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                          MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config,
                          Qwen3ForCausalLM)

from rlvr.data.config import TaskConfig
from rlvr.data.tasks import load_problems
from rlvr.sampling.config import SamplingParams
from rlvr.sampling.errors import SamplerError
from rlvr.sampling.factory import make_sampler
from rlvr.sampling.hf_decode import decode
from rlvr.sampling.prompts import prompt_token_ids
from rlvr.sampling.static_decode import decode_static, supported
from tests.sampling.sampling_helpers import cfg_for

SMALL = dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256)
FAMILY = {
    "llama": lambda: LlamaForCausalLM(LlamaConfig(**SMALL)),
    "mistral": lambda: MistralForCausalLM(MistralConfig(**SMALL, sliding_window=None)),
    "qwen2": lambda: Qwen2ForCausalLM(Qwen2Config(**SMALL)),
    "qwen3": lambda: Qwen3ForCausalLM(Qwen3Config(**SMALL, head_dim=32)),  # q/k norms; head_dim != hidden / heads
    # hub configurations: Llama 3.1's rotary scaling; Qwen2.5's tied LM head, with YaRN (its long-context setting)
    "llama3-rope": lambda: LlamaForCausalLM(LlamaConfig(**SMALL, rope_scaling={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64})),
    "qwen2-yarn-tied": lambda: Qwen2ForCausalLM(Qwen2Config(**SMALL, tie_word_embeddings=True, rope_scaling={
        "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64})),
}
PROMPTS = [[5, 9, 14, 3, 7, 22, 41], [11, 2], [60, 61, 62, 63]]


def _run(model, prompts, n, params, max_new, eos_ids):
    with torch.inference_mode():
        return decode_static(model, prompts, n, params, max_new, pad_id=0, eos_ids=eos_ids,
                             stop_hit=lambda *_: False, deadline=time.monotonic() + 120, timeout_s=120)


def _forward_logprobs(model, prompt, tokens):
    ids = torch.tensor([prompt + tokens])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()
    return torch.log_softmax(logits, -1).gather(1, ids[0, len(prompt):, None])[:, 0]


def _assert_rows_are_the_forwards(model, prompts, n, rows):
    for k, row in enumerate(rows):
        expected = _forward_logprobs(model, prompts[k // n], row.tokens)
        torch.testing.assert_close(torch.tensor(row.logprobs), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", sorted(FAMILY))
def test_every_sampled_token_has_the_log_prob_of_the_full_forward(family):
    torch.manual_seed(0)
    model = FAMILY[family]().eval()
    assert supported(model) is None
    torch.manual_seed(1)
    rows = _run(model, PROMPTS, 3, SamplingParams(max_tokens=12), 12, eos_ids={1})
    assert [len(r.tokens) for r in rows].count(12) >= 1
    _assert_rows_are_the_forwards(model, PROMPTS, 3, rows)


def test_rows_that_end_early_leave_and_the_others_continue_unchanged(warm_model, tokenizer):
    """The SFT-warm tiny model ends its answers to arith problems with EOS, at different lengths per row: most
    rows end before the longest, so the batch is cut down (to half, then a quarter ...) while the rest keep
    decoding."""
    model = AutoModelForCausalLM.from_pretrained(str(warm_model), dtype=torch.float32).eval()
    problems = [p for level in (1, 3) for p in load_problems(TaskConfig(name="arith", level=level, split="test", limit=2))]
    prompts = [prompt_token_ids(tokenizer, p) for p in problems]
    assert len(set(map(len, prompts))) > 1
    torch.manual_seed(2)
    rows = _run(model, prompts, 8, SamplingParams(max_tokens=48), 48, eos_ids={tokenizer.eos_token_id})
    lengths = sorted(len(r.tokens) for r in rows)
    assert sum(r.stopped for r in rows) >= len(rows) // 2, lengths
    assert lengths[len(rows) // 2] < lengths[-1], "at least half the rows end before the last one (a cut happens)"
    _assert_rows_are_the_forwards(model, prompts, 8, rows)


def test_greedy_rows_are_those_of_the_dynamic_decode(tiny_dir, tokenizer, problems):
    model = AutoModelForCausalLM.from_pretrained(str(tiny_dir), dtype=torch.float32).eval()
    prompts = [prompt_token_ids(tokenizer, p) for p in problems] + [[5, 9, 14]]
    params = SamplingParams(temperature=0.0, max_tokens=24, min_tokens=3)
    kw = dict(pad_id=tokenizer.pad_token_id, eos_ids={tokenizer.eos_token_id}, stop_hit=lambda *_: False,
              deadline=time.monotonic() + 120, timeout_s=120)
    with torch.inference_mode():
        static = decode_static(model, prompts, 2, params, 24, **kw)
        dynamic = decode(model, prompts, 2, params, 24, **kw)
    assert [(r.tokens, r.stopped) for r in static] == [(r.tokens, r.stopped) for r in dynamic]
    for s, d in zip(static, dynamic, strict=True):
        torch.testing.assert_close(torch.tensor(s.logprobs), torch.tensor(d.logprobs), atol=1e-4, rtol=0)


def test_models_outside_the_family_say_why_and_auto_falls_back(tiny_dir, tokenizer):
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=512, n_embd=32, n_layer=1, n_head=2))
    assert "gpt2" in supported(gpt2)
    windowed = MistralForCausalLM(MistralConfig(**SMALL, sliding_window=8))
    assert "sliding window" in supported(windowed)
    scaled = LlamaForCausalLM(LlamaConfig(**SMALL, rope_scaling={"rope_type": "dynamic", "factor": 2.0}))
    assert "dynamic" in supported(scaled)

    sampler = make_sampler(cfg_for("hf", hf_decode="auto"), tiny_dir, tokenizer, model=gpt2)
    try:
        assert sampler.decode is decode  # the transformers forward decodes what the static loop cannot
    finally:
        sampler.close()
    with pytest.raises(SamplerError, match=r"^sampler.hf_decode=static: model type 'gpt2' is not one of"):
        make_sampler(cfg_for("hf", hf_decode="static"), tiny_dir, tokenizer, model=gpt2)


def test_a_step_that_cannot_be_captured_decodes_eagerly_and_says_so_once(caplog):
    """Here no graph can be captured (no CUDA): asked for graphs, the loop says why in one line and decodes the
    same rows without them, instead of failing the rollout; the module's later calls (the next training steps)
    decode eagerly without trying again or saying it again. Another module still tries."""
    torch.manual_seed(0)
    model, other = FAMILY["qwen2"]().eval(), FAMILY["llama"]().eval()
    greedy = SamplingParams(temperature=0.0, max_tokens=10)
    with torch.inference_mode():
        kw = dict(pad_id=0, eos_ids={1}, stop_hit=lambda *_: False, deadline=time.monotonic() + 120, timeout_s=120)
        eager = decode_static(model, PROMPTS, 2, greedy, 10, graphs=False, **kw)
        with caplog.at_level("WARNING", logger="rlvr.sampling.static_decode"):
            graphed = decode_static(model, PROMPTS, 2, greedy, 10, graphs=True, **kw)
            again = decode_static(model, PROMPTS, 2, greedy, 10, graphs=True, **kw)
            decode_static(other, PROMPTS, 2, greedy, 10, graphs=True, **kw)
    assert [r.tokens for r in graphed] == [r.tokens for r in again] == [r.tokens for r in eager]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines  # the first call of each module
    assert all(line.startswith("rlvr: CUDA graph capture of the decode step failed (") for line in lines), lines
    assert lines[0].endswith("; this model decodes without graphs from now on"), lines


def test_the_cache_grows_when_rows_outlast_its_room(monkeypatch):
    """The cache starts with room for a few new tokens (256 by default; 3 here) and doubles it as rows go on:
    the rows are still those of the full forward (without the growth a token past the room has no slot)."""
    from rlvr.sampling import static_decode

    monkeypatch.setattr(static_decode, "_CACHE_CHUNK", 3)
    torch.manual_seed(0)
    model = FAMILY["qwen3"]().eval()
    torch.manual_seed(1)
    rows = _run(model, PROMPTS, 2, SamplingParams(max_tokens=14), 14, eos_ids={1, 2, 3})
    assert max(len(r.tokens) for r in rows) > 7  # past the second doubling (3 -> 6 -> 12 -> 14)
    _assert_rows_are_the_forwards(model, PROMPTS, 2, rows)
