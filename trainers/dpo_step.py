"""DPO on preference pairs: summed response log-probs, cached reference log-probs, one backward pass.

Objective (`rlvr.trainers.losses.dpo_loss`), per pair (prompt x, chosen y_w, rejected y_l):
    h = (log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x))
    sigmoid: -log sigmoid(beta * h)        ipo: (h - 1 / (2 beta))^2
with log pi(y|x) the SUM of the response's token log-probs; the loss is the mean over pairs, computed
in micro-batches of pairs (chosen and rejected in one forward) with gradients accumulated.

Pairs come from a JSONL file (tokenised by the caller) or online, `pairs_from_groups`: per prompt
group, the highest-reward completion against the lowest-reward one. Reference log-probs of a
(prompt, response) are computed once and cached (`ReferenceCache`), so epochs over a pairs file pay
for the reference forward once.

    cache = ReferenceCache()
    ref = cache.logprob_sums(policy, pairs, micro_batch_size)          # [N, 2], no grad
    stats = dpo_backward(policy, pairs, ref, cfg.dpo, micro_batch_size) # then clip + optimizer.step()
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from rlvr.trainers.config import DPOConfig
from rlvr.trainers.distributed import Dist
from rlvr.trainers.logprobs import batched_logprobs, make_batch, sequence_logprob_sums, token_logprobs
from rlvr.trainers.losses import dpo_loss
from rlvr.trainers.policy import Policy

Pair = tuple[list[int], list[int], list[int]]  # (prompt_ids, chosen_ids, rejected_ids)


def pairs_from_groups(groups_with_rewards: Iterable[tuple[object, Sequence[float]]], min_margin: float = 0.0) -> list[Pair]:
    """One (prompt, chosen, rejected) per group whose best reward beats its worst by more than
    `min_margin`: chosen = the first completion with the highest reward, rejected = the first with the
    lowest (deterministic; with 0/1 rewards, a correct against an incorrect completion).

    Each item is `(group, rewards)`: `group.completions[i]` has `prompt_token_ids` and `token_ids`
    (a `rlvr.sampling.types.Group`), `rewards[i]` is its reward.
    """
    pairs = []
    for group, rewards in groups_with_rewards:
        completions = group.completions
        if len(completions) != len(rewards):
            raise ValueError(f"{len(completions)} completions but {len(rewards)} rewards")
        if len(completions) < 2:
            continue
        best = max(range(len(rewards)), key=lambda i: (rewards[i], -i))
        worst = min(range(len(rewards)), key=lambda i: (rewards[i], i))
        if rewards[best] - rewards[worst] <= min_margin:
            continue
        prompt = list(completions[best].prompt_token_ids)
        pairs.append((prompt, list(completions[best].token_ids), list(completions[worst].token_ids)))
    return pairs


def _pair_batch(pairs: Sequence[Pair], pad_id: int):
    """Rows 0..n-1 = chosen, n..2n-1 = rejected."""
    prompts = [p for p, _, _ in pairs] * 2
    responses = [c for _, c, _ in pairs] + [r for _, _, r in pairs]
    return make_batch(prompts, responses, pad_id)


class ReferenceCache:
    """Summed reference log-probs keyed by (prompt, response) token ids."""

    def __init__(self) -> None:
        self._sums: dict[tuple[tuple[int, ...], tuple[int, ...]], float] = {}

    def __len__(self) -> int:
        return len(self._sums)

    def logprob_sums(self, policy: Policy, pairs: Sequence[Pair], micro_batch_size: int) -> Tensor:
        """[N, 2] (chosen, rejected) summed reference log-probs; only unseen sequences are computed."""
        keys = [(tuple(p), tuple(c)) for p, c, _ in pairs] + [(tuple(p), tuple(r)) for p, _, r in pairs]
        missing = sorted({k for k in keys if k not in self._sums})
        if missing:
            batch = make_batch([list(p) for p, _ in missing], [list(y) for _, y in missing], policy.pad_id)
            with policy.reference() as ref:
                logp = batched_logprobs(ref, batch, micro_batch_size)
            sums = sequence_logprob_sums(logp, batch.completion_mask.to(logp.device))
            self._sums.update(zip(missing, sums.tolist()))
        values = torch.tensor([self._sums[k] for k in keys], dtype=torch.float32)
        return values.view(2, len(pairs)).T.contiguous()


def dpo_backward(
    policy: Policy, pairs: Sequence[Pair], ref_sums: Tensor, cfg: DPOConfig, micro_batch_size: int, dist: Dist = Dist()
) -> dict[str, float]:
    """Accumulate the gradient of the mean DPO loss over `pairs`; `ref_sums` [N, 2] from
    `ReferenceCache.logprob_sums`. `micro_batch_size` counts pairs (2 sequences each).
    DDP (`dist`): all ranks pass the same global pairs; each computes the chunks it owns (rows of `ref_sums`
    outside them are not read) and the returned stats are summed over ranks."""
    if len(pairs) == 0:
        return {"loss": 0.0, "pairs": 0.0}
    device = policy.device
    totals = {"loss": 0.0, "reward_chosen": 0.0, "reward_rejected": 0.0, "reward_accuracy": 0.0, "reward_margin": 0.0}
    for index, start in enumerate(range(0, len(pairs), micro_batch_size)):
        if not dist.owns(index):  # DDP: another rank's chunk (always owned in one process)
            continue
        chunk = pairs[start : start + micro_batch_size]
        n = len(chunk)
        batch = _pair_batch(chunk, policy.pad_id)
        logp, mask = token_logprobs(policy.model, batch)
        sums = sequence_logprob_sums(logp, mask)
        ref = ref_sums[start : start + n].to(device)
        loss, stats = dpo_loss(
            sums[:n], sums[n:], ref[:, 0], ref[:, 1], beta=cfg.beta, loss_type=cfg.loss_type, normalizer=len(pairs)
        )
        loss.backward()
        totals["loss"] += float(loss.detach())
        for key in ("reward_chosen", "reward_rejected", "reward_accuracy", "reward_margin"):
            totals[key] += float(stats[key]) * n / len(pairs)
    if dist.enabled:
        totals = dict(zip(totals, dist.sum(list(totals.values()))))
    return {**totals, "pairs": float(len(pairs))}
