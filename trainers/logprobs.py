"""Token log-probs of completions under a causal LM, padded tightly (the no-grad pass over a whole batch is `Policy.logprobs`).

Layout of a `Batch` (one row per (prompt, completion)):

    input_ids  [pad pad p0 p1 p2 | c0 c1 c2 pad]      prompt LEFT-padded to the batch's longest prompt P,
    columns     0   1   2  3  4  | 5  6  7   8        completion RIGHT-padded to its longest completion T

so every completion starts at column P and the logits that predict completion tokens are the same
slice `[P-1, P-1+T)` in every row: the model is asked for only those T positions (`logits_to_keep`),
never the prompt's. `position_ids` count real tokens only, so padding never shifts a position and a
row's log-probs do not depend on what it is batched with. Outputs are [B, T] with completion token t
at column t (`completion_mask` marks real tokens).

Log-probs are `logit[token] - logsumexp(logits)` in float32, over chunks of rows (trainers/chunked_logits.py:
no float32 copy of the logits is held, forward or backward). `split(size)` sorts rows by length so each micro-batch is padded only to its own
longest prompt and completion.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rlvr.trainers.chunked_logits import selected_logprobs, token_entropy


@dataclass(frozen=True)
class MicroBatchSize:
    """How large a micro-batch may be: at most `rows` sequences and, when `tokens` is set, at most that many tokens
    (padded prompt + completion columns times rows on the padded path; the packed row's length when prompts are
    shared). A single sequence longer than the budget still goes alone. A token budget bounds a micro-batch's
    activations whatever the completions' lengths, so short batches run in fewer, larger micro-batches and long
    ones in smaller (verl's dynamic batch size, `ppo_max_token_len_per_gpu`)."""

    rows: int
    tokens: int | None = None

    @classmethod
    def of(cls, size: int | MicroBatchSize) -> MicroBatchSize:
        return size if isinstance(size, MicroBatchSize) else cls(int(size))

    @classmethod
    def from_config(cls, optim) -> MicroBatchSize:
        return cls(optim.micro_batch_size, optim.micro_batch_tokens)


def padded_spans(widths: list[tuple[int, int]], size: int | MicroBatchSize,
                 sequences_per_item: int = 1) -> list[range]:
    """Consecutive spans of items, one per micro-batch, each item (prompt width, completion width) padded into one
    batch: at most `size.rows` items and, with a token budget, at most `size.tokens` in the padded batch
    (sequences_per_item x items x (longest prompt + longest completion)); a single item over the budget goes
    alone."""
    size = MicroBatchSize.of(size)
    if size.rows < 1:
        raise ValueError("micro_batch_size must be >= 1")
    spans: list[range] = []
    start = prompt_w = completion_w = 0
    for i, (prompt, completion) in enumerate(widths):
        p, c = max(prompt_w, prompt), max(completion_w, completion)
        n = i - start + 1
        over = size.tokens is not None and sequences_per_item * n * (p + c) > size.tokens
        if i > start and (n > size.rows or over):
            spans.append(range(start, i))
            start, p, c = i, prompt, completion
        prompt_w, completion_w = p, c
    if widths:
        spans.append(range(start, len(widths)))
    return spans


@dataclass
class Batch:
    prompts: list[list[int]]
    completions: list[list[int]]
    pad_id: int
    input_ids: Tensor  # [B, P + T]
    attention_mask: Tensor  # [B, P + T]
    position_ids: Tensor  # [B, P + T]
    completion_ids: Tensor  # [B, T]
    completion_mask: Tensor  # [B, T] float, 1 on real completion tokens

    @property
    def size(self) -> int:
        return len(self.prompts)

    @property
    def prompt_width(self) -> int:
        return self.input_ids.shape[1] - self.completion_ids.shape[1]

    def select(self, rows) -> "Batch":
        """A new, tightly padded batch of these rows (in this order)."""
        rows = [int(r) for r in rows]
        return make_batch([self.prompts[r] for r in rows], [self.completions[r] for r in rows], self.pad_id)

    def split(self, micro_batch_size: int | MicroBatchSize) -> list[tuple[Tensor, "Batch"]]:
        """(row indices into this batch, micro-batch) pairs covering every row once; rows are sorted by
        (completion length, prompt length) so each micro-batch wastes little padding. With a token budget a
        micro-batch takes rows while rows x (its longest prompt + its longest completion) stays within it."""
        order = sorted(range(self.size), key=lambda r: (len(self.completions[r]), len(self.prompts[r]), r))
        spans = padded_spans([(len(self.prompts[r]), len(self.completions[r])) for r in order], micro_batch_size)
        chunks = [order[span.start : span.stop] for span in spans]
        return [(torch.tensor(rows, dtype=torch.long), self.select(rows)) for rows in chunks]

    def to(self, device) -> "Batch":
        device = torch.device(device)
        tensors = {k: getattr(self, k) for k in _TENSORS}
        longs = [k for k, t in tensors.items() if t.dtype == torch.long and t.device.type == "cpu"]
        if device.type != "cpu" and len(longs) > 1:  # the index tensors in one copy: each copy waits for the device
            tensors.update(zip(longs, to_device_together([tensors[k] for k in longs], device)))
        tensors = {k: to_device(v, device) for k, v in tensors.items()}
        return Batch(self.prompts, self.completions, self.pad_id, **tensors)


_TENSORS = ("input_ids", "attention_mask", "position_ids", "completion_ids", "completion_mask")


def to_device(t: Tensor, device) -> Tensor:
    """`t` (on the host) on `device`; to a GPU from pinned memory without blocking, so the host does not wait
    for the queued kernels before it copies (a pageable copy does)."""
    device = torch.device(device)
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def to_device_together(tensors: list[Tensor], device) -> list[Tensor]:
    """Host tensors of one dtype on `device` in ONE copy (`to_device` of their concatenation), each in its shape."""
    flat = to_device(torch.cat([t.flatten() for t in tensors]), device)
    return [x.view(t.shape) for x, t in zip(flat.split([t.numel() for t in tensors]), tensors)]


def make_batch(prompt_ids: list[list[int]], completion_ids: list[list[int]], pad_id: int) -> Batch:
    """Pad (prompt, completion) rows into the layout of the module doc. Prompts must be non-empty."""
    if len(prompt_ids) != len(completion_ids) or not prompt_ids:
        raise ValueError("make_batch needs as many prompts as completions, at least one")
    if any(len(p) == 0 for p in prompt_ids):
        raise ValueError("every prompt needs at least one token (its last token predicts the first completion token)")
    rows = len(prompt_ids)
    width_p = max(len(p) for p in prompt_ids)
    width_c = max(1, max(len(c) for c in completion_ids))
    input_ids = torch.full((rows, width_p + width_c), pad_id, dtype=torch.long)
    attention = torch.zeros((rows, width_p + width_c), dtype=torch.long)
    completion = torch.full((rows, width_c), pad_id, dtype=torch.long)
    completion_mask = torch.zeros((rows, width_c), dtype=torch.float32)
    for r, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        input_ids[r, width_p - len(p) : width_p] = torch.tensor(p, dtype=torch.long)
        attention[r, width_p - len(p) : width_p] = 1
        if c:
            input_ids[r, width_p : width_p + len(c)] = torch.tensor(c, dtype=torch.long)
            attention[r, width_p : width_p + len(c)] = 1
            completion[r, : len(c)] = torch.tensor(c, dtype=torch.long)
            completion_mask[r, : len(c)] = 1.0
    position_ids = (attention.cumsum(dim=1) - 1).clamp(min=0)
    return Batch(
        [list(p) for p in prompt_ids], [list(c) for c in completion_ids], pad_id,
        input_ids, attention, position_ids, completion, completion_mask,
    )


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@dataclass
class CompletionOutput:
    logp: Tensor  # [B, T] float32, 0 on padding
    mask: Tensor  # [B, T] float32
    entropy: Tensor | None = None  # [B, T] float32 when asked for
    hidden: Tensor | None = None  # [B, T, H] last hidden state at the positions that predict each token


def forward_completions(
    model: torch.nn.Module,
    batch: Batch,
    temperature: float = 1.0,
    *,
    with_entropy: bool = False,
    with_hidden: bool = False,
) -> CompletionOutput:
    """One forward pass of `model` (any HF causal LM, PEFT-wrapped or not) over `batch`."""
    batch = batch.to(_device_of(model))
    width_c = batch.completion_ids.shape[1]
    # The value head reads what the LM head reads: the final hidden state at the kept positions, taken by a hook
    # rather than `output_hidden_states`, whose first entry (the embedding output) is a view -- FSDP2 warns on
    # every forward that a view output could skip its all-gather -- and which returns every layer's state.
    head_inputs: list[Tensor] = []
    hook = None
    if with_hidden:
        hook = model.get_output_embeddings().register_forward_hook(lambda _m, args, _o: head_inputs.append(args[0]))
    try:
        out = model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            logits_to_keep=width_c + 1,  # positions P-1 .. P+T-1; the last one predicts nothing we score
            use_cache=False,
        )
    finally:
        if hook is not None:
            hook.remove()
    # scored on the whole (contiguous) logits, the last column against a dummy target, then dropped: its
    # gradient is zero, and the log-softmax runs in long chunks rather than one pass per row
    mask = batch.completion_mask
    targets = torch.nn.functional.pad(batch.completion_ids, (0, 1))
    logp = selected_logprobs(out.logits, targets, temperature)[:, :-1] * mask
    entropy = token_entropy(out.logits, temperature)[:, :-1] * mask if with_entropy else None
    hidden = head_inputs[0][:, :width_c] if with_hidden else None
    return CompletionOutput(logp, mask, entropy, hidden)


def token_logprobs(model: torch.nn.Module, batch: Batch, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """(log-probs [B, T] of each completion token given its prefix, completion mask [B, T])."""
    out = forward_completions(model, batch, temperature)
    return out.logp, out.mask


def sequence_logprob_sums(logp: Tensor, mask: Tensor) -> Tensor:
    """Summed log-prob of each completion: [B]."""
    return (logp * mask).sum(dim=1)
