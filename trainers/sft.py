"""Supervised fine-tuning on (prompt, response) pairs: the warm start of the tiny model.

Objective: mean cross-entropy of the response tokens (the prompt is context only), AdamW with linear
warm-up then cosine decay. Prompts given as chat messages are rendered with the tokenizer's chat
template; the response is followed by the end-of-turn token so the model learns to stop.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rlvr.data.problem import Messages


@dataclass(frozen=True)
class SFTExample:
    prompt: Messages | str
    response: str


def encode_example(tokenizer, example: SFTExample) -> tuple[list[int], list[int]]:
    """Token ids of prompt and of response + end-of-turn (+ the template's newline)."""
    if isinstance(example.prompt, str):
        prompt_ids = tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
    else:
        prompt_ids = tokenizer.apply_chat_template(example.prompt, add_generation_prompt=True, tokenize=True)
        if isinstance(prompt_ids, dict) or hasattr(prompt_ids, "keys"):
            prompt_ids = prompt_ids["input_ids"]
    return list(prompt_ids), encode_response(tokenizer, example.response)


def encode_response(tokenizer, text: str) -> list[int]:
    """Token ids of a response: its text, then the end-of-turn (EOS) token."""
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def _collate(pairs: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(p) + len(r) for p, r in pairs)
    ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(pairs), width), -100, dtype=torch.long)
    attention = torch.zeros((len(pairs), width), dtype=torch.long)
    for row, (p, r) in enumerate(pairs):
        seq = p + r
        ids[row, : len(seq)] = torch.tensor(seq)
        labels[row, len(p) : len(seq)] = torch.tensor(r)
        attention[row, : len(seq)] = 1
    return ids, labels, attention


def _lr_factor(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def train_sft(
    model,
    tokenizer,
    examples: list[SFTExample],
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 3e-3,
    warmup: int = 20,
    seed: int = 0,
    log_every: int = 50,
    log=print,
) -> list[float]:
    """Train in place for `steps` optimizer steps over shuffled `examples`; returns the loss per step."""
    if not examples:
        raise ValueError("train_sft needs at least one example")
    encoded = [encode_example(tokenizer, ex) for ex in examples]
    rng = random.Random(seed)
    order: list[int] = []
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, steps, warmup))
    device = next(model.parameters()).device
    model.train()
    losses = []
    for step in range(steps):
        if len(order) < batch_size:
            fresh = list(range(len(encoded)))
            rng.shuffle(fresh)
            order += fresh
        batch, order = [encoded[i] for i in order[:batch_size]], order[batch_size:]
        ids, labels, attention = (t.to(device) for t in _collate(batch, tokenizer.pad_token_id))
        logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1]
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels[:, 1:].reshape(-1), ignore_index=-100)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"SFT loss is {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if log and (step % log_every == 0 or step == steps - 1):
            log(f"sft step {step + 1}/{steps} loss {loss.item():.4f}")
    model.eval()
    return losses
