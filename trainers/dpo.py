"""DPO baseline: direct preference optimisation on (chosen, rejected) pairs.

Objective (`rlvr.trainers.losses.dpo_loss`), per pair (prompt x, chosen y_w, rejected y_l):
    sigmoid: h = (log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x));  -log sigmoid(beta * h)
    ipo:     the same h with each log-ratio divided by its response's token count;      (h - 1 / (2 beta))^2
with log pi(y|x) the SUM of the response's token log-probs (IPO: their mean, as TRL's IPO); the loss is the mean
over pairs, computed in micro-batches of pairs (chosen and rejected in one forward) with gradients accumulated.
Reference = the adapter-disabled model under LoRA, a frozen copy under full fine-tuning; its summed log-probs of a
(prompt, response) are computed once and cached (`ReferenceCache`), so epochs over a pairs file pay for the
reference forward once.

Pairs come online from verifier-labelled groups (`pairs_from_groups`: per prompt, the best completion against
the worst; groups whose rewards are all equal give none) or, with `dpo.pairs_path`, from a JSONL file of
(prompt, chosen, rejected) in the layouts of TRL's preference datasets (trainers/dpo_pairs.py), read in a fixed,
seeded order (then nothing is sampled: `group_size` is 0, and the trainer opens its sampler only when something
asks for one, such as the final evaluation).

Metrics (metrics.jsonl keys; TRL's DPOTrainer names in brackets): `reward_chosen` / `reward_rejected` [rewards/chosen,
rewards/rejected], the implicit reward beta * (log pi - log ref) of each response, pair mean; `reward_margin`
[rewards/margins], their difference; `reward_accuracy` [rewards/accuracies], the share of pairs whose chosen reward
is strictly higher (0 at step 1, when the policy is the reference). The console line shows the last two under
TRL's names, and an online step's verifier reward and accuracy of its sampled completions as `verifier_reward` /
`verifier_acc` (`reward_mean`, `accuracy`), so that neither is read as the other (`metrics.RELABEL`). The file keeps
its keys: the trackers' curves and the rows of a run resumed from before go on under the same names.

What this file gives the shared step (trainers/loop.py): rollout needs (`prompts_per_step`, `group_size`),
`prepare` (the step's pairs and their cached reference sums) and `backward` (`dpo_backward`).

Run: `rlvr train -c configs/arith_dpo.yaml`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rlvr.trainers.config import DPOConfig
from rlvr.trainers.data_order import batch_indices
from rlvr.trainers.distributed import Dist
from rlvr.trainers.dpo_pairs import Pair, read_pairs_file
from rlvr.trainers.fsdp import is_sharded, lockstep_enumerate
from rlvr.trainers.logprobs import (MicroBatchSize, make_batch, padded_spans, sequence_logprob_sums,
                                   token_logprobs)
from rlvr.trainers.losses import dpo_loss
from rlvr.trainers.policy import Policy


@dataclass
class DPOBatch:
    pairs: list[Pair]
    ref_sums: Tensor  # [N, 2] summed reference log-probs (chosen, rejected)


class DPO:
    def __init__(self, cfg):
        """`cfg`: the run config (rlvr.trainers.run_config.RunConfig)."""
        self.cfg: DPOConfig = cfg.train.dpo
        self.prompts_per_step = cfg.train.prompts_per_step
        self.group_size = 0 if self.cfg.pairs_path else self.cfg.group_size  # 0: pairs from the file, no sampling
        self.redraw_rounds = 0
        self.num_iterations = 1
        self.policy_options = {"need_reference": True}
        self.sample_logprobs = False  # the rollout need not record the sampler's log-probs
        self.micro_batch_size = MicroBatchSize.from_config(cfg.train.optim)  # pairs, and tokens if set
        self.seed = cfg.train.seed
        self.reference_cache = ReferenceCache()
        self._file_pairs: list[Pair] | None = None

    def prepare(self, policy: Policy, scored, dist: Dist) -> tuple[DPOBatch | None, dict]:
        """The step's pairs (online from `scored`, or the file's at `scored.cursor`) and their reference sums."""
        pairs = self._pairs_at(scored.cursor, policy.tokenizer) if self.cfg.pairs_path else pairs_from_groups(
            zip(scored.groups, scored.rewards)
        )
        if not pairs:  # no group had a better and a worse completion
            return None, {"loss": 0.0, "pairs": 0.0}
        mbs = self.micro_batch_size
        if is_sharded(policy.model):  # FSDP: every rank runs the same lock-stepped passes (no per-rank cache)
            ref_sums = sharded_reference_sums(policy, pairs, mbs, dist)
        elif dist.enabled:  # DDP: reference sums only for the chunks this rank computes (dpo_backward's split)
            owned = [i for index, span in enumerate(pair_chunks(pairs, mbs)) if dist.owns(index) for i in span]
            ref_sums = torch.zeros(len(pairs), 2)
            if owned:
                ref_sums[owned] = self.reference_cache.logprob_sums(policy, [pairs[i] for i in owned], mbs)
        else:
            ref_sums = self.reference_cache.logprob_sums(policy, pairs, mbs)
        return DPOBatch(pairs, ref_sums), {}

    def backward(self, policy: Policy, work: DPOBatch, dist: Dist) -> dict[str, float]:
        return dpo_backward(policy, work.pairs, work.ref_sums, self.cfg, self.micro_batch_size, dist)

    def _pairs_at(self, cursor: int, tokenizer) -> list[Pair]:
        if self._file_pairs is None:
            self._file_pairs = read_pairs_file(self.cfg.pairs_path, tokenizer)
        idx = batch_indices(len(self._file_pairs), cursor, self.prompts_per_step, self.seed)
        return [self._file_pairs[i] for i in idx]


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


def pair_chunks(pairs: Sequence[Pair], size: int | MicroBatchSize) -> list[range]:
    """Consecutive spans of `pairs`, one per micro-batch: at most `size.rows` pairs and, with a token budget, at
    most that many tokens in the padded batch of both sides (2 x pairs x (longest prompt + longest response));
    a single pair over the budget goes alone."""
    widths = [(len(prompt), max(len(chosen), len(rejected))) for prompt, chosen, rejected in pairs]
    return padded_spans(widths, size, sequences_per_item=2)


def _pair_batch(pairs: Sequence[Pair], pad_id: int):
    """Rows 0..n-1 = chosen, n..2n-1 = rejected."""
    prompts = [p for p, _, _ in pairs] * 2
    responses = [c for _, c, _ in pairs] + [r for _, _, r in pairs]
    return make_batch(prompts, responses, pad_id)


def sharded_reference_sums(policy: Policy, pairs: Sequence[Pair], micro_batch_size: int | MicroBatchSize,
                           dist: Dist) -> Tensor:
    """[N, 2] (chosen, rejected) summed reference log-probs of every pair, micro-batches round-robin over the
    ranks and summed (`Policy.logprobs`); padded rows, as `ReferenceCache` computes them."""
    batch = _pair_batch(pairs, policy.pad_id)  # rows 0..n-1 chosen, n..2n-1 rejected
    logp = policy.logprobs(batch, micro_batch_size, reference=True, dist=dist, share_prompts=False)
    sums = sequence_logprob_sums(logp, batch.completion_mask.to(logp.device)).float().cpu()
    return torch.stack([sums[: len(pairs)], sums[len(pairs) :]], dim=1)


class ReferenceCache:
    """Summed reference log-probs keyed by (prompt, response) token ids."""

    def __init__(self) -> None:
        self._sums: dict[tuple[tuple[int, ...], tuple[int, ...]], float] = {}

    def __len__(self) -> int:
        return len(self._sums)

    def logprob_sums(self, policy: Policy, pairs: Sequence[Pair], micro_batch_size: int | MicroBatchSize) -> Tensor:
        """[N, 2] (chosen, rejected) summed reference log-probs; only unseen sequences are computed."""
        keys = [(tuple(p), tuple(c)) for p, c, _ in pairs] + [(tuple(p), tuple(r)) for p, _, r in pairs]
        missing = sorted({k for k in keys if k not in self._sums})
        if missing:
            batch = make_batch([list(p) for p, _ in missing], [list(y) for _, y in missing], policy.pad_id)
            # padded rows, as `dpo_backward` computes the policy side: where the policy still equals the reference,
            # h is then exactly 0 (a prompt-shared reference pass would differ by float noise)
            logp = policy.logprobs(batch, micro_batch_size, reference=True, share_prompts=False)
            sums = sequence_logprob_sums(logp, batch.completion_mask.to(logp.device))
            self._sums.update(zip(missing, sums.tolist()))
        values = torch.tensor([self._sums[k] for k in keys], dtype=torch.float32)
        return values.view(2, len(pairs)).T.contiguous()


def dpo_backward(
    policy: Policy, pairs: Sequence[Pair], ref_sums: Tensor, cfg: DPOConfig, micro_batch_size: int | MicroBatchSize,
    dist: Dist = Dist(),
) -> dict[str, float]:
    """Accumulate the gradient of the mean DPO loss over `pairs`; `ref_sums` [N, 2] from
    `ReferenceCache.logprob_sums`. `micro_batch_size` counts pairs (2 sequences each), and tokens if it sets a
    budget (`pair_chunks`).
    DDP (`dist`): all ranks pass the same global pairs; each computes the chunks it owns (rows of `ref_sums`
    outside them are not read) and the returned stats are summed over ranks."""
    if len(pairs) == 0:
        return {"loss": 0.0, "pairs": 0.0}
    device = policy.device
    totals = {"loss": 0.0, "reward_chosen": 0.0, "reward_rejected": 0.0, "reward_accuracy": 0.0, "reward_margin": 0.0}
    spans = pair_chunks(pairs, micro_batch_size)
    for index, span in lockstep_enumerate(policy.model, dist, spans, backward=True):
        if not dist.owns(index):  # DDP: another rank's chunk (always owned in one process)
            continue
        start, chunk = span.start, pairs[span.start : span.stop]
        n = len(chunk)
        batch = _pair_batch(chunk, policy.pad_id)
        logp, mask = token_logprobs(policy.model, batch)
        sums, tokens = sequence_logprob_sums(logp, mask), mask.sum(dim=1)
        ref = ref_sums[start : start + n].to(device)
        loss, stats = dpo_loss(
            sums[:n], sums[n:], ref[:, 0], ref[:, 1], beta=cfg.beta, loss_type=cfg.loss_type, normalizer=len(pairs),
            chosen_tokens=tokens[:n], rejected_tokens=tokens[n:],
        )
        loss.backward()
        totals["loss"] += float(loss.detach())
        for key in ("reward_chosen", "reward_rejected", "reward_accuracy", "reward_margin"):
            totals[key] += float(stats[key]) * n / len(pairs)
    if dist.enabled:
        totals = dict(zip(totals, dist.sum(list(totals.values()))))
    return {**totals, "pairs": float(len(pairs))}
