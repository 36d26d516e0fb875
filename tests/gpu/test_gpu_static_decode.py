"""On CUDA the hf sampler's default decode (sampling/static_decode.py) replays one captured graph per token.
The graphs must give what the same loop gives eagerly, and every sampled token the log-prob of the model's own
forward, also after the batch was cut down (a new shape, a new capture) as rows ended. The CPU twin of the
loop's checks is tests/sampling/test_static_decode.py; the timings are bench/rollout_split.py's."""

from __future__ import annotations

import time

import pytest
import torch

from tests.gpu.gpu_helpers import cuda


def _mixed_cuda_model(path):
    from transformers import AutoModelForCausalLM

    from rlvr.trainers.precision import autocast_forward

    return autocast_forward(AutoModelForCausalLM.from_pretrained(str(path)).cuda().eval(), torch.bfloat16)


def _decode(model, prompts, n, params, eos_ids, graphs):
    from rlvr.sampling.static_decode import decode_static

    with torch.inference_mode():
        return decode_static(model, prompts, n, params, params.max_tokens, pad_id=0, eos_ids=eos_ids,
                             stop_hit=lambda *_: False, deadline=time.monotonic() + 120, timeout_s=120,
                             cache_dtype=torch.bfloat16, graphs=graphs)


def _with_lora(model):
    """A PEFT LoRA model over `model` whose adapter changes the outputs (B is zero at init: set it)."""
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    return model.eval()


@pytest.mark.gpu
@pytest.mark.skipif(not cuda, reason="needs a CUDA device")
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_graph_replay_decodes_what_the_eager_loop_decodes(random_model, caplog, lora):
    from rlvr.sampling.config import SamplingParams

    model = _mixed_cuda_model(random_model)
    if lora:  # the captured step runs the adapter's layers too
        model = _with_lora(model)
    prompts = [[5, 9, 14, 3, 7, 22, 41], [11, 2], [60, 61, 62, 63]]
    greedy = SamplingParams(temperature=0.0, max_tokens=20)
    # no EOS: no row ends, so both keep the one batch shape (a cut changes the GEMM shapes, hence bf16 rounding)
    eager = _decode(model, prompts, 4, greedy, set(), graphs=False)
    with caplog.at_level("WARNING", logger="rlvr.sampling.static_decode"):
        graphed = _decode(model, prompts, 4, greedy, set(), graphs=True)
    assert not caplog.records, "the graphs must really run: " + "; ".join(r.getMessage() for r in caplog.records)
    assert [r.tokens for r in graphed] == [r.tokens for r in eager]
    # bf16 logits: one bf16 step of a logit (~0.03 near 5) if a replayed kernel sums in another order
    torch.testing.assert_close(torch.tensor([r.logprobs for r in graphed]), torch.tensor([r.logprobs for r in eager]),
                               atol=3e-2, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda, reason="needs a CUDA device")
def test_rows_ending_at_different_steps_keep_the_forwards_log_probs_under_graphs(random_model, caplog):
    from rlvr.sampling.config import SamplingParams

    model = _mixed_cuda_model(random_model)
    vocab = model.config.vocab_size
    eos_ids = set(range(3, vocab, 6))  # a sixth of the vocabulary ends a row: rows end early, at different steps
    prompts = [[5, 9, 14, 3, 7, 22, 41], [11, 2], [60, 61, 62, 63]]
    torch.manual_seed(0)
    n = 32  # 96 rows: above the size below which graphs keep the batch whole (_GRAPH_MIN_CUT)
    with caplog.at_level("WARNING", logger="rlvr.sampling.static_decode"):
        rows = _decode(model, prompts, n, SamplingParams(max_tokens=24), eos_ids, graphs=True)
    assert not caplog.records, "the graphs must really run: " + "; ".join(r.getMessage() for r in caplog.records)
    lengths = sorted(len(r.tokens) for r in rows)
    assert lengths[len(rows) // 2] < lengths[-1], lengths  # the batch was cut at least once
    for k, row in enumerate(rows):
        prompt = prompts[k // n]
        ids = torch.tensor([prompt + row.tokens], device="cuda")
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()
        expected = torch.log_softmax(logits, -1).gather(1, ids[0, len(prompt):, None])[:, 0].cpu()
        torch.testing.assert_close(torch.tensor(row.logprobs), expected, atol=5e-2, rtol=0)  # bf16 logits


@pytest.mark.gpu
@pytest.mark.skipif(not cuda, reason="needs a CUDA device")
def test_the_sampler_decodes_the_policy_on_its_device_with_graphs(random_model, caplog):
    from transformers import AutoTokenizer

    from rlvr.data.problem import Problem
    from rlvr.sampling.config import SamplingParams
    from rlvr.sampling.factory import make_sampler
    from rlvr.sampling.static_decode import decode_static
    from tests.sampling.sampling_helpers import cfg_for

    model = _mixed_cuda_model(random_model)
    tokenizer = AutoTokenizer.from_pretrained(str(random_model))
    sampler = make_sampler(cfg_for("hf"), random_model, tokenizer, model=model)
    try:
        assert sampler.decode is decode_static and sampler.device.type == "cuda"
        with caplog.at_level("WARNING", logger="rlvr.sampling.static_decode"):
            groups = sampler.generate([Problem("p", "arith", "What is 2 + 3?", "5")], 4,
                                      SamplingParams(max_tokens=8, seed=0))
    finally:
        sampler.close()
    assert not caplog.records, "the graphs must really run: " + "; ".join(r.getMessage() for r in caplog.records)
    comps = groups[0].completions
    assert len(comps) == 4 and all(c.token_ids and len(c.sample_logprobs) == len(c.token_ids) for c in comps)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda, reason="needs a CUDA device")
def test_repeated_decodes_reuse_the_graph_memory(random_model, caplog):
    """Every capture of a module goes into one pool, on one side stream (static_decode._GraphMemory): once the
    first calls have sized it, the same call again (the same cuts, hence the same captures) holds no more memory
    (to a segment). Without that, each capture's private pool stayed reserved after its graph was gone, call after
    call."""
    from rlvr.sampling.config import SamplingParams

    model = _mixed_cuda_model(random_model)
    eos_ids = set(range(3, model.config.vocab_size, 6))  # rows end at different steps: the batch is cut
    prompts = [[5, 9, 14, 3, 7, 22, 41], [11, 2], [60, 61, 62, 63]]
    reserved, lengths = [], []
    with caplog.at_level("WARNING", logger="rlvr.sampling.static_decode"):
        for _ in range(5):
            torch.manual_seed(0)
            rows = _decode(model, prompts, 32, SamplingParams(max_tokens=24), eos_ids, graphs=True)
            torch.cuda.synchronize()
            reserved.append(torch.cuda.memory_reserved())
            lengths.append(sorted(len(r.tokens) for r in rows))
    assert not caplog.records, "the graphs must really run: " + "; ".join(r.getMessage() for r in caplog.records)
    print(f"\nreserved after each call: {[f'{r / 2**20:.0f} MiB' for r in reserved]}")
    assert lengths[0][len(lengths[0]) // 2] < lengths[0][-1], lengths[0]  # the batch was cut: several captures
    # a private pool per capture held at least one more 2 MiB segment per capture, ~3 captures a call: 12 MiB or
    # more over the last two calls; one pool may still take a segment as the allocator splits its blocks
    assert reserved[-1] - reserved[2] < 4 * 2**20, ([f"{r / 2**20:.0f} MiB" for r in reserved], lengths)
