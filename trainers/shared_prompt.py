"""Log-probs of a group's completions with the shared prompt computed once (prefix sharing in training).

GRPO's G completions of one prompt all start with the same tokens. Instead of G rows of `prompt + completion`,
each group is written once, and all groups of a micro-batch go back to back into ONE row, without padding:

    tokens    p0 p1 p2 | a0 a1 a2 | b0 b1 | q0 q1 | c0 ...     prompt once, then every completion; next group
    positions  0  1  2 |  3  4  5 |  3  4 |  0  1 |  2 ...     each completion continues its prompt's positions

with a block attention pattern: prompt tokens are causal among themselves, and a completion's token sees its
prompt and the earlier tokens of its own completion only (trainers/segment_attention.py computes only those
scores). Each completion therefore gets exactly the activations it gets in its own row, and the
forward/backward cost drops from G * (P + C) to P + G * C tokens. Completion token j of a completion starting
at column s is predicted by column s + j - 1, except j = 0, predicted by the prompt's last column (shared by
the group's completions).

`grouped_logprobs` returns [B, T] in the layout of `rlvr.trainers.logprobs.Batch` (row r = batch row r), so the
losses are unchanged. `micro_batches` is what callers iterate: packed groups when prompts are shared, the
plain length-sorted `Batch.split` otherwise. GRPO's backward and every sharded no-grad pass (pi_old,
reference) go through it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rlvr.trainers.logprobs import Batch, MicroBatchSize, to_device, token_logprobs
from rlvr.trainers.chunked_logits import selected_logprobs
from rlvr.trainers.segment_attention import plan_segments, segment_attention, supports_segments


def group_micro_batches(prompts: list[list[int]], micro_batch_size: int | MicroBatchSize,
                        completions: list[list[int]] | None = None) -> list[list[list[int]]] | None:
    """Rows grouped by identical consecutive prompts, then groups packed into micro-batches of about
    `micro_batch_size` rows: a list (micro-batch) of lists (group) of row indices. None when no prompt is
    shared (nothing to gain: use the plain path).
    With a token budget (`MicroBatchSize.tokens`, `completions` given) a micro-batch's packed row (each prompt
    once, then its completions) also stays within that many tokens; a group too long for it alone is cut into
    parts that each carry the prompt."""
    size = MicroBatchSize.of(micro_batch_size)
    groups: list[list[int]] = []
    for r, p in enumerate(prompts):
        if groups and prompts[groups[-1][0]] == p:
            groups[-1].append(r)
        else:
            groups.append([r])
    if all(len(g) == 1 for g in groups):
        return None
    budget = size.tokens if completions is not None else None

    def tokens(g: list[int]) -> int:
        return len(prompts[g[0]]) + sum(len(completions[r]) for r in g)

    if budget is not None:
        groups = [part for g in groups for part in _cut(g, len(prompts[g[0]]), completions, budget)]
    micro, rows, used = [], 0, 0
    out: list[list[list[int]]] = []
    for g in groups:
        need = tokens(g) if budget is not None else 0
        if micro and (rows + len(g) > size.rows or (budget is not None and used + need > budget)):
            out.append(micro)
            micro, rows, used = [], 0, 0
        micro.append(g)
        rows, used = rows + len(g), used + need
    if micro:
        out.append(micro)
    return out


def _cut(group: list[int], prompt_len: int, completions: list[list[int]], budget: int) -> list[list[int]]:
    """`group` in consecutive parts whose packed length (prompt + completions) is within `budget` (a part of
    one row may exceed it: a row is never split)."""
    parts: list[list[int]] = []
    used = 0
    for r in group:
        if parts and used + len(completions[r]) <= budget:
            parts[-1].append(r)
            used += len(completions[r])
        else:
            parts.append([r])
            used = prompt_len + len(completions[r])
    return parts


def micro_batches(batch: Batch, micro_batch_size: int | MicroBatchSize, share_prompts: bool = True):
    """(row indices into `batch`, function (model, temperature) -> log-probs [rows, T']) per micro-batch."""
    plan = group_micro_batches(batch.prompts, micro_batch_size, batch.completions) if share_prompts else None
    if plan is None:
        for rows, micro in batch.split(micro_batch_size):
            yield rows, lambda model, t, micro=micro: token_logprobs(model, micro, t)[0]
        return
    for groups in plan:
        rows = torch.tensor([r for g in groups for r in g], dtype=torch.long)
        yield rows, lambda model, t, groups=groups: grouped_logprobs(model, batch, groups, t)[0]


def _pack(batch: Batch, groups: list[list[int]]):
    """All `groups` in ONE packed row, no padding: input ids (N), positions (N), the segments
    (prefix columns, own columns) -- a prompt has no prefix, a completion has its prompt's columns -- and for
    every batch row (row, predicting columns of its completion tokens)."""
    ids, pos, segments, sources = [], [], [], []
    for g in groups:
        prompt = batch.prompts[g[0]]
        p, start = len(prompt), len(ids)
        prompt_cols = list(range(start, start + p))
        ids += prompt
        pos += range(p)
        segments.append(([], prompt_cols))
        for r in g:
            c = batch.completions[r]
            own = list(range(len(ids), len(ids) + len(c)))
            ids += c
            pos += range(p, p + len(c))
            segments.append((prompt_cols, own))
            sources.append((r, [prompt_cols[-1]] + own[:-1]))
    return ids, pos, segments, sources


def _dense_mask(segments: list[tuple[list[int], list[int]]], length: int) -> Tensor:
    """[1, 1, N, N] boolean mask of the segments' pattern, for attention implementations that take a mask."""
    mask = torch.zeros((length, length), dtype=torch.bool)
    for prefix, own in segments:
        if own:
            rows = torch.tensor(own)
            if prefix:
                mask[rows[:, None], torch.tensor(prefix)[None, :]] = True
            mask[rows[:, None], rows[None, :]] = torch.ones(len(own), len(own), dtype=torch.bool).tril()
    return mask[None, None]


def grouped_logprobs(model: torch.nn.Module, batch: Batch, groups: list[list[int]], temperature: float = 1.0) -> tuple[Tensor, list[int]]:
    """Log-probs [len(rows), T] for the rows of `groups` (each group: rows of `batch` sharing one prompt), in
    the order of the flattened groups, T = `batch`'s completion width; and that row order. With gradient.
    Block-sparse segment attention where the model allows it (trainers/segment_attention.py), else a dense
    [N, N] mask."""
    device = next(model.parameters()).device
    ids, pos, segments, sources = _pack(batch, groups)
    n, width_c = len(ids), batch.completion_ids.shape[1]
    column, targets, out_at = [], [], []  # per scored token: predicting column, its token, its cell of the output
    for j, (r, cols) in enumerate(sources):
        c = batch.completions[r]
        column += cols[: len(c)]
        targets += c
        out_at += range(j * width_c, j * width_c + len(c))
    k = len(targets)
    # every index the micro-batch needs, in one host->device copy
    host = torch.tensor(ids + pos + column + targets + out_at, dtype=torch.long)
    ids_d, pos_d, column_d, targets_d, out_at_d = to_device(host, device).split([n, n, k, k, k])
    # the LM head and the log-softmax run only at the columns that predict a completion token
    inputs = dict(input_ids=ids_d[None], position_ids=pos_d[None], use_cache=False, logits_to_keep=column_d)
    if supports_segments(model):
        with segment_attention(model):
            logits = model(**inputs, rlvr_segments=plan_segments(segments, n, device=device).to(device)).logits
    else:
        logits = model(**inputs, attention_mask=_dense_mask(segments, n).to(device)).logits
    out = torch.zeros(len(sources) * width_c, dtype=torch.float32, device=device)
    if k:
        out = out.index_put((out_at_d,), selected_logprobs(logits[0], targets_d, temperature))
    return out.view(len(sources), width_c), [r for r, _ in sources]
