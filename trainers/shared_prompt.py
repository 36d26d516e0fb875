"""Log-probs of a group's completions with the shared prompt computed once (prefix sharing in training).

GRPO's G completions of one prompt all start with the same tokens. Instead of G rows of `prompt + completion`,
a group becomes ONE row:

    tokens    p0 p1 p2 | a0 a1 a2 | b0 b1 | ...        prompt once, then every completion
    positions  0  1  2 |  3  4  5 |  3  4 | ...        each completion continues the prompt's positions

with a block attention mask: prompt tokens are causal among themselves, and a completion's token sees the
prompt and the earlier tokens of its own completion only. Each completion therefore gets exactly the
activations it gets in its own row, and the forward/backward cost drops from G * (P + C) to P + G * C tokens.
Completion token j of a completion starting at column s is predicted by column s + j - 1, except j = 0,
predicted by the last prompt column (shared by all completions).

`grouped_logprobs` returns [B, T] in the layout of `trainers.logprobs.Batch` (row r = batch row r), so the
losses are unchanged. `micro_batches` is what callers iterate: packed groups when prompts are shared, the
plain length-sorted `Batch.split` otherwise. GRPO's backward and every sharded no-grad pass (pi_old,
reference) go through it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from trainers.logprobs import Batch, selected_logprobs, token_logprobs


def group_micro_batches(prompts: list[list[int]], micro_batch_size: int) -> list[list[list[int]]] | None:
    """Rows grouped by identical consecutive prompts, then groups packed into micro-batches of about
    `micro_batch_size` rows: a list (micro-batch) of lists (group) of row indices. None when no prompt is
    shared (nothing to gain: use the plain path)."""
    groups: list[list[int]] = []
    for r, p in enumerate(prompts):
        if groups and prompts[groups[-1][0]] == p:
            groups[-1].append(r)
        else:
            groups.append([r])
    if all(len(g) == 1 for g in groups):
        return None
    micro, rows = [], 0
    out: list[list[list[int]]] = []
    for g in groups:
        if micro and rows + len(g) > micro_batch_size:
            out.append(micro)
            micro, rows = [], 0
        micro.append(g)
        rows += len(g)
    if micro:
        out.append(micro)
    return out


def micro_batches(batch: Batch, micro_batch_size: int, share_prompts: bool = True):
    """(row indices into `batch`, function (model, temperature) -> log-probs [rows, T']) per micro-batch."""
    plan = group_micro_batches(batch.prompts, micro_batch_size) if share_prompts else None
    if plan is None:
        for rows, micro in batch.split(micro_batch_size):
            yield rows, lambda model, t, micro=micro: token_logprobs(model, micro, t)[0]
        return
    for groups in plan:
        rows = torch.tensor([r for g in groups for r in g], dtype=torch.long)
        yield rows, lambda model, t, groups=groups: grouped_logprobs(model, batch, groups, t)[0]


def _pack(batch: Batch, groups: list[list[int]]):
    """Packed input ids, positions, 4-D boolean mask, and for every (row, token) the column predicting it."""
    width = max(len(batch.prompts[g[0]]) + sum(len(batch.completions[r]) for r in g) for g in groups)
    n = len(groups)
    ids = torch.full((n, width), batch.pad_id, dtype=torch.long)
    pos = torch.zeros((n, width), dtype=torch.long)
    segment = torch.full((n, width), -2, dtype=torch.long)  # -1 prompt, k completion k of the group, -2 pad
    sources = []  # (row of the batch, packed row, predicting columns)
    for i, g in enumerate(groups):
        prompt = batch.prompts[g[0]]
        p = len(prompt)
        ids[i, :p] = torch.tensor(prompt)
        pos[i, :p] = torch.arange(p)
        segment[i, :p] = -1
        start = p
        for k, r in enumerate(g):
            c = batch.completions[r]
            if c:
                ids[i, start : start + len(c)] = torch.tensor(c)
                pos[i, start : start + len(c)] = torch.arange(p, p + len(c))
                segment[i, start : start + len(c)] = k
            sources.append((r, i, [p - 1] + list(range(start, start + len(c) - 1))))
            start += len(c)
    q, k = segment[:, :, None], segment[:, None, :]
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    same = (q == k) & (q != -2)
    sees_prompt = (k == -1) & (q >= 0)
    mask = (causal & same) | sees_prompt | torch.eye(width, dtype=torch.bool)  # pads see themselves: no NaN rows
    return ids, pos, mask[:, None], sources


def grouped_logprobs(model: torch.nn.Module, batch: Batch, groups: list[list[int]], temperature: float = 1.0) -> tuple[Tensor, list[int]]:
    """Log-probs [len(rows), T] for the rows of `groups` (each group: rows of `batch` sharing one prompt), in
    the order of the flattened groups, T = `batch`'s completion width; and that row order. With gradient."""
    device = next(model.parameters()).device
    ids, pos, mask, sources = _pack(batch, groups)
    logits = model(
        input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device), use_cache=False
    ).logits
    if temperature != 1.0:
        logits = logits.float() / temperature
    width_c = batch.completion_ids.shape[1]
    packed_row, column, out_row, out_col, targets = [], [], [], [], []
    for j, (r, i, cols) in enumerate(sources):
        c = batch.completions[r]
        packed_row += [i] * len(c)
        column += cols[: len(c)]
        out_row += [j] * len(c)
        out_col += range(len(c))
        targets += c
    out = torch.zeros((len(sources), width_c), dtype=torch.float32, device=device)
    if targets:
        picked = logits[torch.tensor(packed_row, device=device), torch.tensor(column, device=device)]
        logp = selected_logprobs(picked, torch.tensor(targets, device=device))
        out = out.index_put((torch.tensor(out_row, device=device), torch.tensor(out_col, device=device)), logp)
    return out, [r for r, _, _ in sources]
