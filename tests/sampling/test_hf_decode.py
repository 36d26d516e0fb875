"""The hf decode loop: one prefill per prompt for its n samples, and rows that end leave the batch without
disturbing the others (their tokens and log-probs stay exactly what the model gives)."""

from __future__ import annotations

import time

import torch

from rlvr.sampling.config import SamplingParams
from rlvr.sampling.hf_decode import decode
from tests.sampling.sampling_helpers import load_policy, torch_logprobs


def test_rows_that_end_early_leave_the_batch_and_the_rest_stay_exact(tiny_dir, tokenizer):
    model = load_policy(tiny_dir).eval()
    prompts = [tokenizer("12+7=")["input_ids"], tokenizer("a much longer prompt: 3+4=")["input_ids"]]
    assert len(prompts[0]) != len(prompts[1])  # left padding in the shared prefill
    params = SamplingParams(max_tokens=20, seed=0, stop=[" "])

    def hit(tokens, since):
        return " " in tokenizer.decode(tokens[since:], skip_special_tokens=True)

    torch.manual_seed(0)
    rows = decode(model, prompts, 4, params, 20, pad_id=0, eos_ids={2}, stop_hit=hit,
                  deadline=time.monotonic() + 60, timeout_s=60)
    assert len(rows) == 8
    lengths = [len(r.tokens) for r in rows]
    assert len(set(lengths)) > 1 and min(lengths) < 20  # some rows ended (and were dropped) before others
    for k, row in enumerate(rows):
        assert row.stopped == (len(row.tokens) < 20 or hit(row.tokens, 0))
        expected = torch_logprobs(model, prompts[k // 4], row.tokens)
        torch.testing.assert_close(torch.tensor(row.logprobs), expected, atol=1e-4, rtol=0)
