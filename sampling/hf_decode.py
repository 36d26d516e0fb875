"""The hf backend's dynamic decode loop (the transformers forward with a growing cache; the fallback of the
fixed-shape loop in sampling/static_decode.py), and the per-token sampling and row bookkeeping both loops share
(`next_tokens`, `extend`): each prompt prefilled once for its n samples, finished rows dropped.

transformers `generate` with n copies of a prompt prefills the prompt n times and keeps every row of a
batch in the forward until the batch's longest row ends. Here a chunk of prompts is prefilled once
(left-padded), its KV cache and last logits are repeated n times, and after every token the rows that
ended (EOS after `min_tokens`, a stop string, `max_tokens`) leave the batch and the cache. The tokens and
their probabilities are those of `generate` with the same processors: EOS masked before `min_tokens`,
then temperature, top-k, top-p; greedy at temperature 0. The recorded log-prob of a token is taken under
that processed distribution (vLLM's "processed_logprobs").

`cache_dtype` (the autocast dtype of a mixed-precision module, else None): the KV cache is stored in it. Under
autocast RoPE's fp32 cos/sin promote the keys to fp32 (and DynamicCache gives the values the keys' dtype), and
SDPA casts the whole cache back to bf16 at every step in every layer; storing the bf16 values once gives SDPA
the same inputs without those casts, in half the memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache, TopKLogitsWarper, TopPLogitsWarper

from rlvr.sampling.config import SamplingParams
from rlvr.sampling.errors import SamplerTimeout
from rlvr.sampling.sdpa_kernels import without_cudnn

DECODE_SDPA_ENV = "RLVR_DECODE_SDPA"  # `all`: torch chooses the decode's SDPA kernels, cuDNN's included


@dataclass
class Row:
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    stopped: bool = False  # ended by EOS or a stop string (else by the length limit)


def extend(row: Row, token: int, logprob: float, step: int, params: SamplingParams, eos_ids: set[int],
           stop_hit) -> bool:
    """Append token `step` to `row`; whether the row goes on (not ended by EOS or a stop string, both only
    after `min_tokens`). Only the newest tokens are searched for a stop string: one ends in the newest token."""
    row.tokens.append(token)
    row.logprobs.append(logprob)
    if step >= params.min_tokens and token in eos_ids:
        row.stopped = True
    elif params.stop and step + 1 > params.min_tokens:
        window = max(len(s) for s in params.stop) + 8  # tokens: enough for the longest stop string
        row.stopped = stop_hit(row.tokens, max(params.min_tokens, step + 1 - window))
    return not row.stopped


def next_tokens(logits: torch.Tensor, step: int, params: SamplingParams, eos_ids: set[int], deadline: float,
                timeout_s: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Token `step` of every row [rows] and its log-prob under the processed distribution; past the deadline,
    SamplerTimeout instead."""
    if time.monotonic() > deadline:
        raise SamplerTimeout(f"hf generate exceeded timeout_s={timeout_s:.0f}; stopped cleanly")
    scores = processed_scores(logits, step, params, eos_ids)
    chosen = scores.argmax(-1) if params.temperature == 0.0 else torch.multinomial(scores.softmax(-1), 1)[:, 0]
    return chosen, torch.log_softmax(scores, -1).gather(1, chosen[:, None])[:, 0]


def processed_scores(logits: torch.Tensor, step: int, params: SamplingParams, eos_ids: set[int]) -> torch.Tensor:
    """Next-token scores [rows, V] after the processors, in the order `generate` applies them."""
    scores = logits.float()
    if step < params.min_tokens:
        scores[:, sorted(eos_ids)] = float("-inf")
    if params.temperature not in (0.0, 1.0):
        scores = scores / params.temperature
    if params.temperature != 0.0 and params.top_k > 0:
        scores = TopKLogitsWarper(params.top_k)(None, scores)
    if params.temperature != 0.0 and params.top_p < 1.0:
        scores = TopPLogitsWarper(params.top_p)(None, scores)
    return scores


class _CastCache(DynamicCache):
    """A DynamicCache that stores keys and values in one dtype."""

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.store_dtype = dtype

    def update(self, key_states, value_states, layer_idx, *args, **kwargs):
        dtype = self.store_dtype
        return super().update(key_states.to(dtype), value_states.to(dtype), layer_idx, *args, **kwargs)


def decode(model, prompts: list[list[int]], n: int, params: SamplingParams, max_new: int, *, pad_id: int,
           eos_ids: set[int], stop_hit, deadline: float, timeout_s: float,
           cache_dtype: torch.dtype | None = None) -> list[Row]:
    """n samples for each of `prompts` (rows in prompt order, n per prompt). `stop_hit(tokens, since)` says
    whether a stop string appears in the text of `tokens[since:]` (only the newest tokens are passed)."""
    device = next(model.parameters()).device
    with without_cudnn(device, DECODE_SDPA_ENV):  # the batch shrinks as rows end: a new shape at most steps
        return _decode_rows(model, prompts, n, params, max_new, pad_id=pad_id, eos_ids=eos_ids, stop_hit=stop_hit,
                            deadline=deadline, timeout_s=timeout_s, cache_dtype=cache_dtype, device=device)


@torch.no_grad()
def _decode_rows(model, prompts, n, params, max_new, *, pad_id, eos_ids, stop_hit, deadline, timeout_s, cache_dtype,
                 device) -> list[Row]:
    width = max(map(len, prompts))
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, width - len(p):] = torch.tensor(p)
        mask[r, width - len(p):] = 1
    ids, mask = ids.to(device), mask.to(device)
    cache = DynamicCache() if cache_dtype is None else _CastCache(cache_dtype)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp(min=0),
                   past_key_values=cache, use_cache=True).logits[:, -1]
    logits, mask = logits.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
    cache.batch_repeat_interleave(n)
    rows = [Row() for _ in range(len(prompts) * n)]
    active = torch.arange(len(rows))  # rows still in the batch, in batch order
    for step in range(max_new):
        chosen, logp = next_tokens(logits, step, params, eos_ids, deadline, timeout_s)
        keep = [b for b, (r, tok, lp) in enumerate(zip(active.tolist(), chosen.tolist(), logp.tolist()))
                if extend(rows[r], tok, lp, step, params, eos_ids, stop_hit)]
        if not keep or step == max_new - 1:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            mask, chosen, active = mask[index], chosen[index], active[torch.tensor(keep)]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        logits = model(input_ids=chosen[:, None], attention_mask=mask, position_ids=mask.sum(1, keepdim=True) - 1,
                       past_key_values=cache, use_cache=True).logits[:, -1]
    return rows
