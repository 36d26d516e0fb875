"""GRPO: group-relative policy optimisation on verifier rewards.

Objective, per prompt with G sampled completions o_1..o_G and rewards r_1..r_G (DESIGN.md):
    A_i = (r_i - mean(r)) / (std(r) + 1e-6)                (`scale`: group | batch | none = Dr. GRPO)
    L = -agg_t[ min(rho_t A_i, clip(rho_t, 1-eps_low, 1+eps_high) A_i) - beta * KL_k3(pi_ref || pi_theta) ]
Choices: the population std; `loss_aggregation` = dapo (token mean over the batch) by default;
beta = 0 by default, which skips the reference pass entirely; with num_iterations (mu) = 1 the ratio is
taken against the detached current log-probs (no old-policy pass); zero-variance groups are kept,
filtered, resampled (DAPO dynamic sampling, capped) or calibrated with a virtual max-reward sample
(NGRPO); truncated completions may be masked or softly penalised (DAPO overlong shaping).
The formulas are in `rlvr.trainers.losses.grpo_loss` and `rlvr.trainers.advantages`.

What this file gives the shared step (trainers/loop.py owns sample -> verify -> update -> sync -> checkpoint):
- rollout needs: `prompts_per_step`, `group_size` (G), and under `zero_variance: resample` the groups to
  `redraw` (degenerate ones, at most `redraw_rounds` times);
- `prepare`: advantages, kept rows, the padded batch and the no-grad passes (pi_old when mu > 1, pi_ref when
  beta > 0);
- `backward`: `grpo_backward`, the micro-batched forward/backward that accumulates the whole batch's gradient.
  Each micro-batch's loss is divided by the FULL batch's normalizer, so the summed gradients equal those of one
  full-batch pass for every aggregation. The loop zeroes, clips and steps.

    adv, keep = group_advantages(rewards, cfg.scale, cfg.zero_variance)     # [groups, G], [groups]
    rows = kept_rows(keep, G); batch = make_batch(prompts, completions, pad).select(rows)
    stats = grpo_backward(policy, batch, adv.flatten()[rows], None, None, cfg, micro_batch_size,
                          max_completion_length=max_tokens, truncated=truncated[rows])

DDP (`dist`, trainers/distributed.py): every rank passes the same global batch and computes only the
micro-batches it owns; the normalizer is still the full batch's, so the ranks' gradients sum (one
all-reduce in the loop) to the single-process gradient, and the returned stats are summed over ranks.

Run: `rlvr train -c configs/arith_grpo.yaml` (or `Trainer(cfg).train()` from Python).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rlvr.trainers.advantages import degenerate_groups, group_advantages, overlong_penalty
from rlvr.trainers.config import GRPOConfig
from rlvr.trainers.distributed import Dist
from rlvr.trainers.fsdp import lockstep_enumerate
from rlvr.trainers.logprobs import Batch, MicroBatchSize, make_batch, to_device
from rlvr.trainers.losses import grpo_loss, loss_normalizer, sampler_correction_weights
from rlvr.trainers.metrics import to_floats
from rlvr.trainers.policy import Policy
from rlvr.trainers.shared_prompt import micro_batches

_MEAN_STATS = ("clip_low_frac", "clip_high_frac", "clip_frac", "ratio_mean", "kl_mean")
_SAMPLER_STATS = ("sampler_weight_mean", "sampler_masked_frac")  # under sampler_correction, over forwarded tokens

@dataclass
class GRPOBatch:
    """The kept rows of a step, ready for `grpo_backward` (old_logp / ref_logp: None when not needed)."""

    batch: Batch
    advantages: Tensor  # [B]
    truncated: Tensor  # [B] bool
    old_logp: Tensor | None
    ref_logp: Tensor | None
    sample_logp: Tensor | None = None  # [B, T] the sampler's log-probs, under `sampler_correction`


class GRPO:
    def __init__(self, cfg):
        """`cfg`: the run config (rlvr.trainers.run_config.RunConfig)."""
        self.cfg: GRPOConfig = cfg.train.grpo
        self.prompts_per_step = cfg.train.prompts_per_step
        self.group_size = self.cfg.group_size
        self.redraw_rounds = self.cfg.max_resample_rounds if self.cfg.zero_variance == "resample" else 0
        self.num_iterations = self.cfg.num_iterations
        self.policy_options = {"need_reference": self.cfg.beta > 0}
        self.sample_logprobs = self.cfg.sampler_correction != "off"  # the rollout must record them
        self.micro_batch_size = MicroBatchSize.from_config(cfg.train.optim)  # rows, and tokens if set
        self.max_tokens = cfg.sampler.params.max_tokens
        self.temperature = cfg.sampler.params.temperature
        self.max_reward = sum(max(0.0, spec.weight) for spec in cfg.verifier_specs())  # NGRPO's virtual sample

    def redraw(self, rewards: list[list[float]]) -> list[int]:
        """Groups to sample again under `zero_variance: resample` (DAPO dynamic sampling): the degenerate ones."""
        return degenerate_groups(torch.tensor(rewards)).nonzero().flatten().tolist()

    def prepare(self, policy: Policy, scored, dist: Dist) -> tuple[GRPOBatch | None, dict]:
        """Advantages and the batch of kept rows, with the no-grad passes it needs; None when no group is kept."""
        cfg = self.cfg
        completions = [c for g in scored.groups for c in g.completions]
        reward = torch.tensor(scored.rewards, dtype=torch.float32)
        lengths = torch.tensor([[len(c.token_ids) for c in g.completions] for g in scored.groups])
        reward = reward + overlong_penalty(lengths, self.max_tokens, cfg.overlong_buffer, cfg.overlong_penalty)
        advantages, keep = group_advantages(reward, cfg.scale, cfg.zero_variance, max_reward=self.max_reward)
        # groups_kept: the groups the policy-gradient term learns from, kept by `zero_variance` and with a non-zero
        # advantage (under `keep`, a degenerate group stays in the loss with advantage 0: only a KL term reaches it)
        learning = keep & (advantages != 0).any(dim=1)
        stats = {
            "adv_mean": float(advantages.mean()), "adv_std": float(advantages.std()),
            "adv_abs_max": float(advantages.abs().max()), "groups_kept": float(learning.sum()),
        }
        rows = kept_rows(keep, reward.shape[1])
        if rows.numel() == 0:  # every group degenerate: nothing to learn this step
            return None, {**stats, "loss": 0.0, "clip_frac": 0.0}  # no pass ran: no kl was measured
        picked = [completions[i] for i in rows.tolist()]
        batch = make_batch([c.prompt_token_ids for c in picked], [c.token_ids for c in picked], policy.pad_id)
        mbs, temperature = self.micro_batch_size, self.temperature
        old = policy.logprobs(batch, mbs, temperature, dist=dist) if cfg.num_iterations > 1 else None
        ref = policy.logprobs(batch, mbs, temperature, reference=True, dist=dist) if cfg.beta > 0 else None
        truncated = torch.tensor([c.truncated for c in picked])
        sample = sampler_logprobs(picked, batch.completion_ids.shape[1]) if self.sample_logprobs else None
        return GRPOBatch(batch, advantages.flatten()[rows], truncated, old, ref, sample), stats

    def backward(self, policy: Policy, work: GRPOBatch, dist: Dist) -> dict[str, Tensor]:
        s = grpo_backward(
            policy, work.batch, work.advantages, work.old_logp, work.ref_logp, self.cfg, self.micro_batch_size,
            max_completion_length=self.max_tokens, truncated=work.truncated, temperature=self.temperature, dist=dist,
            as_floats=False,  # the loop reads them with the gradient norm, in one sync per optimizer step
            sample_logp=work.sample_logp,
        )
        keys = ("loss", "clip_frac", "ratio_min", "ratio_max", "skipped_rows", *_SAMPLER_STATS)
        kl = {"kl": s["kl_mean"]} if self.cfg.beta > 0 else {}  # beta 0: no reference, nothing measured (as TRL)
        return {**{k: s[k] for k in keys if k in s}, **kl}


def sampler_logprobs(completions, width: int) -> Tensor:
    """[B, width] float32: each completion's sampled-token log-probs as its sampler recorded them, 0 on padding."""
    out = torch.zeros(len(completions), width, dtype=torch.float32)
    for r, c in enumerate(completions):
        if c.sample_logprobs is None or len(c.sample_logprobs) != len(c.token_ids):
            got = "none" if c.sample_logprobs is None else f"{len(c.sample_logprobs)} for {len(c.token_ids)} tokens"
            raise ValueError(f"grpo.sampler_correction needs the sampler's log-prob of every sampled token; a "
                             f"completion of problem {c.problem_id} has {got}")
        out[r, : len(c.token_ids)] = torch.tensor(c.sample_logprobs, dtype=torch.float32)
    return out


def kept_rows(keep: Tensor, group_size: int) -> Tensor:
    """Row indices (into the flattened [groups * G] batch) of the groups that `keep` keeps."""
    return torch.nonzero(keep.repeat_interleave(group_size), as_tuple=False).flatten()


def inert_rows(advantages: Tensor, mask: Tensor, beta: float) -> Tensor:
    """[B] bool: rows whose GRPO gradient is exactly zero. A row with no unmasked token has none; with
    beta == 0 a row with advantage 0 has none either, since min(rho * 0, clip(rho) * 0) = 0 for every rho
    (zero-variance groups: all G rows). Skipping their forward and backward changes no gradient."""
    empty = mask.sum(dim=1).cpu() == 0
    if beta > 0:
        return empty
    return empty | (advantages.cpu() == 0)


def loss_mask(batch: Batch, truncated: Tensor | None, mask_truncated: bool) -> Tensor:
    """The batch's completion mask, with rows of truncated completions zeroed when `mask_truncated`."""
    mask = batch.completion_mask
    if not mask_truncated:
        return mask
    if truncated is None:
        raise ValueError("mask_truncated=True needs `truncated` (one bool per row, finish_reason == 'length')")
    return mask * (~truncated.bool()).to(mask.dtype)[:, None]


def grpo_backward(
    policy: Policy,
    batch: Batch,
    advantages: Tensor,
    old_logp: Tensor | None,
    ref_logp: Tensor | None,
    cfg: GRPOConfig,
    micro_batch_size: int | MicroBatchSize,
    *,
    max_completion_length: int | None = None,
    truncated: Tensor | None = None,
    temperature: float = 1.0,
    dist: Dist = Dist(),
    share_prompts: bool = True,
    skip_inert: bool = True,
    as_floats: bool = True,
    sample_logp: Tensor | None = None,
) -> dict[str, float | Tensor]:
    """Accumulate GRPO gradients of the whole `batch` into the policy's parameters.

    `share_prompts`: each group's prompt is computed once and a micro-batch's groups go into one unpadded
    packed row with block-sparse attention (trainers/shared_prompt.py); same log-probs and gradients, fewer
    tokens and scores.
    `skip_inert`: rows whose gradient is exactly zero are not forwarded at all (`inert_rows`); they still
    count in the loss normaliser, so the update is the one the full batch gives.

    advantages [B]; old_logp / ref_logp [B, T] aligned with `batch` (T = its longest completion);
    `max_completion_length` is the sampler's max_tokens (dr_grpo's denominator; None = T).
    Returns floats: loss (the full-batch loss), tokens, and token-weighted clip/ratio/kl stats (with
    `old_logp` given, skipped rows' ratios are unknown: the stats then cover the forwarded rows).
    `as_floats=False`: the same stats as 0-dim tensors on the device, for a caller that reads them together with
    its own (`metrics.to_floats`). Nothing in the micro-batch loop reads a device value, so the host queues
    every micro-batch's kernels without waiting for the device.
    `sample_logp` [B, T]: the sampler's log-probs, weighted against pi_old by `cfg.sampler_correction` (pi_old =
    the detached log-probs of this pass when `old_logp` is None: no extra pass); adds the weights' token mean and
    the fraction of tokens they zero (`_SAMPLER_STATS`, over the forwarded rows).
    """
    model = policy.model
    if cfg.beta > 0 and ref_logp is None:
        ref_logp = policy.logprobs(batch, micro_batch_size, temperature, reference=True, dist=dist)
    mask = loss_mask(batch, truncated, cfg.mask_truncated)  # on the host, like `batch`
    normalizer = loss_normalizer(mask, cfg.loss_aggregation, max_completion_length)
    device = policy.device
    inert = inert_rows(advantages, mask, cfg.beta) if skip_inert else torch.zeros(batch.size, dtype=torch.bool)
    live = torch.nonzero(~inert).flatten()
    inert_tokens, inert_ratio_one = 0.0, False
    if inert.any() and dist.is_main:  # counted on one rank: the ranks' sums are added below
        inert_tokens = float(mask[inert.to(mask.device)].sum())
        inert_ratio_one = old_logp is None and inert_tokens > 0  # on-policy: ratio exactly 1, nothing clipped, KL 0
    work = batch if not inert.any() else batch.select(live.tolist()) if live.numel() else None
    chunks = list(micro_batches(work, micro_batch_size, share_prompts)) if work else []
    # once per step, not per micro-batch: every chunk's rows of `batch`, the advantages, the mask, pi_old / pi_ref
    rows_of = []
    if chunks:
        rows_of = to_device(torch.cat([live[r] for r, _ in chunks]), device).split([len(r) for r, _ in chunks])
    advantages, mask = to_device(advantages, device), to_device(mask, device)
    old_logp, ref_logp, sample_logp = (None if x is None else x.to(device) for x in (old_logp, ref_logp, sample_logp))
    # running sums on the device: loss, tokens, then token-weighted _MEAN_STATS; and the ratio's extremes
    sums = torch.zeros(2 + len(_MEAN_STATS), dtype=torch.float64, device=device)
    ratio_min = torch.full((), float("inf"), dtype=torch.float64, device=device)  # filled there, not copied
    ratio_max = torch.full((), float("-inf"), dtype=torch.float64, device=device)
    sampler_sums = torch.zeros(3, dtype=torch.float64, device=device)  # tokens, sum of weights, zeroed tokens
    for index, (_, logp_of) in lockstep_enumerate(model, dist, chunks, backward=normalizer > 0):  # FSDP padding
        if not dist.owns(index):  # DDP: another rank computes this micro-batch (always owned in one process)
            continue
        logp = logp_of(model, temperature)
        rows, width = rows_of[index], logp.shape[1]  # rows of `batch`

        def part(x: Tensor | None) -> Tensor | None:
            return None if x is None else x[rows, :width]

        weights = None
        if sample_logp is not None:
            old = logp.detach() if old_logp is None else part(old_logp)
            weights = sampler_correction_weights(old, part(sample_logp), part(mask), cfg.sampler_correction,
                                                 cfg.sampler_correction_max)
            m = part(mask).double()
            w = weights.double().expand_as(m)
            sampler_sums += torch.stack([m.sum(), (w * m).sum(), ((w == 0).double() * m).sum()])
        loss, stats = grpo_loss(
            logp, part(old_logp), part(ref_logp) if cfg.beta > 0 else None, advantages[rows], part(mask),
            epsilon_low=cfg.epsilon_low, epsilon_high=cfg.epsilon_high, beta=cfg.beta,
            aggregation=cfg.loss_aggregation, normalizer=normalizer, token_weights=weights,
        )
        if normalizer > 0:  # an all-masked batch has nothing to learn from
            loss.backward()
        n = stats["tokens"].double()
        sums += torch.stack([loss.detach().double(), n, *(stats[k].double() * n for k in _MEAN_STATS)])
        ratio_min = torch.where(n > 0, torch.minimum(ratio_min, stats["ratio_min"].double()), ratio_min)
        ratio_max = torch.where(n > 0, torch.maximum(ratio_max, stats["ratio_max"].double()), ratio_max)
    loss_sum, tokens = sums[0], sums[1] + inert_tokens
    stat_tokens, totals = sums[1], dict(zip(_MEAN_STATS, sums[2:]))
    if inert_ratio_one:
        stat_tokens = stat_tokens + inert_tokens
        totals["ratio_mean"] = totals["ratio_mean"] + inert_tokens
        ratio_min, ratio_max = ratio_min.clamp(max=1.0), ratio_max.clamp(min=1.0)
    if dist.enabled:  # DDP: sums and extremes over the ranks' micro-batches (collectives: they sync anyway)
        values = dist.sum(torch.stack([loss_sum, tokens, stat_tokens, *totals.values(), *sampler_sums]).tolist())
        loss_sum, tokens, stat_tokens, *rest = (torch.tensor(v, dtype=torch.float64) for v in values)
        totals, sampler_sums = dict(zip(totals, rest[: len(totals)])), torch.stack(rest[len(totals):])
        extremes = dist.min(float(ratio_min)), dist.max(float(ratio_max))
        ratio_min, ratio_max = (torch.tensor(v, dtype=torch.float64) for v in extremes)
    counted = stat_tokens > 0
    out = {"loss": loss_sum, "tokens": tokens, "sequences": float(batch.size), "skipped_rows": float(inert.sum())}
    out.update({k: torch.where(counted, v / stat_tokens, 0.0) for k, v in totals.items()})
    out["ratio_min"] = torch.where(counted, ratio_min, 1.0)
    out["ratio_max"] = torch.where(counted, ratio_max, 1.0)
    if sample_logp is not None:
        seen = sampler_sums[0] > 0
        out["sampler_weight_mean"] = torch.where(seen, sampler_sums[1] / sampler_sums[0], 1.0)
        out["sampler_masked_frac"] = torch.where(seen, sampler_sums[2] / sampler_sums[0], 0.0)
    return to_floats(out) if as_floats else out
