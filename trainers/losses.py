"""Loss functions of GRPO, DPO and PPO: pure functions of tensors, no model, no optimizer.

Token tensors are [B, T] with completion token t of row b at column t and `mask[b, t] = 1` on real
tokens. Every loss takes a `normalizer`: the denominator of the FULL batch. A caller that splits a
batch into micro-batches and passes the same normalizer to each gets losses that sum exactly to the
full-batch loss (so accumulated gradients equal full-batch gradients). `normalizer=None` computes it
from this call's own tensors (the right value when the call sees the whole batch).

GRPO per token:  rho = exp(logp - old_logp)
                 l_t = -w_t * min(rho * A, clip(rho, 1 - eps_low, 1 + eps_high) * A) + beta * k3_t
                 k3_t = exp(ref - logp) - (ref - logp) - 1            (beta = 0: ref is never read)
                 w_t = 1, or the sampler-mismatch weight (`sampler_correction_weights`, TRL's vLLM IS correction)
Aggregation ("grpo" | "dapo" | "dr_grpo", normalizer of the full batch):
    grpo    sum_b (sum_t l_bt / n_b) / normalizer    normalizer = number of sequences with n_b > 0
    dapo    sum_bt l_bt / normalizer                 normalizer = number of tokens
    dr_grpo sum_bt l_bt / normalizer                 normalizer = num_groups * G * max_completion_length
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

AGGREGATIONS = ("grpo", "dapo", "dr_grpo")


def loss_normalizer(mask: Tensor, aggregation: str, max_completion_length: int | None = None) -> float:
    """The full-batch denominator of `grpo_loss` for this mask (all rows that enter the loss).

    dr_grpo: rows * max_completion_length (rows = num_groups * G); `None` uses the mask's width.
    """
    if aggregation == "dapo":
        return float(mask.sum().item())
    if aggregation == "grpo":
        return float((mask.sum(dim=1) > 0).sum().item())
    if aggregation == "dr_grpo":
        return float(mask.shape[0] * (max_completion_length or mask.shape[1]))
    raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")


def _sequence_mean_sum(per_token: Tensor, mask: Tensor) -> Tensor:
    """Sum over sequences of each sequence's token mean (empty sequences add 0)."""
    lengths = mask.sum(dim=1)
    return ((per_token * mask).sum(dim=1) / lengths.clamp(min=1)).sum()


def _token_sum(per_token: Tensor, mask: Tensor) -> Tensor:
    return (per_token * mask).sum()


_NUMERATORS = {"grpo": _sequence_mean_sum, "dapo": _token_sum, "dr_grpo": _token_sum}


def k3_kl(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """Per-token k3 estimator of KL(pi || ref): exp(ref - logp) - (ref - logp) - 1 (>= 0)."""
    diff = ref_logp - logp
    return torch.exp(diff) - diff - 1


def sampler_correction_weights(old_logp: Tensor, sample_logp: Tensor, mask: Tensor, mode: str, cap: float) -> Tensor:
    """Importance weights [B, T] (token modes) or [B, 1] (sequence modes) for tokens drawn by a sampler whose
    distribution differs from the trainer's pi_old: r = exp(pi_old - pi_sampler), of each token or of the summed
    difference of a sequence; `*_truncate`: min(r, cap); `*_mask`: r, or 0 where r > cap. Padding and a missing
    (NaN) sampler log-prob contribute a difference of 0. No gradient."""
    diff = torch.nan_to_num((old_logp.detach() - sample_logp) * mask, nan=0.0)
    if mode.startswith("sequence_"):
        diff = diff.sum(dim=1, keepdim=True)
    elif not mode.startswith("token_"):
        raise ValueError(f"sampler correction mode must be token_* or sequence_*, got {mode!r}")
    ratio = torch.exp(diff)
    if mode.endswith("_truncate"):
        return ratio.clamp(max=cap)
    if mode.endswith("_mask"):
        return ratio.masked_fill(ratio > cap, 0.0)
    raise ValueError(f"sampler correction mode must end in _truncate or _mask, got {mode!r}")


def _masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def mean_k3_kl(logp: Tensor, ref_logp: Tensor, mask: Tensor) -> Tensor:
    """Token mean of `k3_kl` over the valid tokens of `mask`: PPO's `kl` metric, KL to the reference, the quantity
    GRPO logs as `kl` (`grpo_loss`'s kl_mean)."""
    return _masked_mean(k3_kl(logp, ref_logp), mask.to(logp.dtype))


def grpo_loss(
    logp: Tensor,
    old_logp: Tensor | None,
    ref_logp: Tensor | None,
    advantages: Tensor,
    mask: Tensor,
    *,
    epsilon_low: float,
    epsilon_high: float,
    beta: float,
    aggregation: str,
    normalizer: float | None = None,
    token_weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Clipped-surrogate GRPO loss (see module doc). `advantages` is [B] (one per sequence).
    `token_weights` ([B, T] or [B, 1], no gradient): multiply each token's surrogate term, not its KL term
    (`sampler_correction_weights`).

    `old_logp=None` means pi_old = pi_theta (one optimizer pass per batch): the ratio is 1 in value and
    its gradient is the plain policy gradient. Stats are detached means over this call's tokens plus
    `tokens`, the count they are taken over (for weighting across micro-batches).
    """
    if aggregation not in _NUMERATORS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    if beta > 0 and ref_logp is None:
        raise ValueError("beta > 0 needs ref_logp")
    mask = mask.to(logp.dtype)
    old = logp.detach() if old_logp is None else old_logp
    ratio = torch.exp(logp - old)
    adv = advantages.to(logp.dtype)[:, None]
    clipped = ratio.clamp(1 - epsilon_low, 1 + epsilon_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)
    if token_weights is not None:
        per_token = per_token * token_weights.to(per_token.dtype)
    kl = None
    if beta > 0:
        kl = k3_kl(logp, ref_logp)
        per_token = per_token + beta * kl
    if normalizer is None:
        normalizer = loss_normalizer(mask, aggregation)
    loss = _NUMERATORS[aggregation](per_token, mask) / max(float(normalizer), 1e-12)

    with torch.no_grad():
        r = ratio.detach()
        low = ((r < 1 - epsilon_low) & (adv < 0)).to(mask.dtype)
        high = ((r > 1 + epsilon_high) & (adv > 0)).to(mask.dtype)
        big = torch.finfo(r.dtype).max
        any_token = mask.sum() > 0  # a tensor, not a Python bool: no device->host sync per micro-batch
        stats = {
            "tokens": mask.sum(),
            "clip_low_frac": _masked_mean(low, mask),
            "clip_high_frac": _masked_mean(high, mask),
            "clip_frac": _masked_mean(low + high, mask),
            "ratio_mean": _masked_mean(r, mask),
            "ratio_min": torch.where(any_token, torch.where(mask > 0, r, big).min(), 1.0),
            "ratio_max": torch.where(any_token, torch.where(mask > 0, r, -big).max(), 1.0),
            "kl_mean": _masked_mean(kl.detach(), mask) if kl is not None else r.new_tensor(0.0),
        }
    return loss, stats


def dpo_loss(
    policy_chosen: Tensor,
    policy_rejected: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    *,
    beta: float,
    loss_type: str = "sigmoid",
    normalizer: float | None = None,
    chosen_tokens: Tensor | None = None,
    rejected_tokens: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """DPO on summed response log-probs, each [N]; `chosen_tokens` / `rejected_tokens` [N]: each response's token
    count (IPO only).
        sigmoid: h = (pi_w - ref_w) - (pi_l - ref_l);              -log sigmoid(beta * h)
        ipo:     h = (pi_w - ref_w) / n_w - (pi_l - ref_l) / n_l;  (h - 1 / (2 beta))^2
    IPO's log-ratios are per-token means (n: the response's token count, at least 1), as TRL computes IPO (its
    authors' normalisation; on sums the loss, and so beta, would scale with the response length). Loss = sum over
    pairs / normalizer (default N, the mean). Stats: implicit rewards beta * (pi - ref) on the sums (both losses,
    as TRL), accuracy, margin."""
    if loss_type == "sigmoid":
        h = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
        per_pair = -F.logsigmoid(beta * h)
    elif loss_type == "ipo":
        if chosen_tokens is None or rejected_tokens is None:
            raise ValueError("the ipo loss needs chosen_tokens and rejected_tokens (its log-ratios are token means)")
        h = ((policy_chosen - ref_chosen) / chosen_tokens.to(policy_chosen).clamp(min=1)
             - (policy_rejected - ref_rejected) / rejected_tokens.to(policy_rejected).clamp(min=1))
        per_pair = (h - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"loss_type must be 'sigmoid' or 'ipo', got {loss_type!r}")
    loss = per_pair.sum() / (normalizer if normalizer is not None else max(h.numel(), 1))
    with torch.no_grad():
        chosen = beta * (policy_chosen - ref_chosen).detach()
        rejected = beta * (policy_rejected - ref_rejected).detach()
        stats = {
            "pairs": torch.tensor(float(h.numel())),
            "reward_chosen": chosen.mean(),
            "reward_rejected": rejected.mean(),
            "reward_accuracy": (chosen > rejected).float().mean(),
            "reward_margin": (chosen - rejected).mean(),
        }
    return loss, stats


def ppo_policy_loss(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_epsilon: float,
    normalizer: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO clipped surrogate with per-token advantages [B, T]: sum of -min(rho A, clip(rho) A) over
    valid tokens / normalizer (default: this call's token count = token mean). Stats (token means): clip_frac,
    ratio_mean, approx_kl = 0.5 (logp - old_logp)^2, an estimate of KL(pi_old || pi) (0 while pi is pi_old)."""
    mask = mask.to(logp.dtype)
    ratio = torch.exp(logp - old_logp)
    clipped = ratio.clamp(1 - clip_epsilon, 1 + clip_epsilon)
    per_token = -torch.minimum(ratio * advantages, clipped * advantages)
    normalizer = float(mask.sum().item()) if normalizer is None else normalizer
    loss = (per_token * mask).sum() / max(normalizer, 1e-12)
    with torch.no_grad():
        was_clipped = (ratio.detach() - clipped.detach()).abs() > 0
        stats = {
            "tokens": mask.sum(),
            "clip_frac": _masked_mean(was_clipped.to(mask.dtype), mask),
            "ratio_mean": _masked_mean(ratio.detach(), mask),
            "approx_kl": _masked_mean(0.5 * (logp.detach() - old_logp) ** 2, mask),
        }
    return loss, stats


def ppo_value_loss(
    values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    mask: Tensor,
    *,
    value_clip: float,
    normalizer: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Clipped value loss: 0.5 * max((V - R)^2, (clip(V, V_old - c, V_old + c) - R)^2), summed over
    valid tokens / normalizer (default: token count). The caller weights it by c1 (vf_coef)."""
    mask = mask.to(values.dtype)
    clipped = old_values + (values - old_values).clamp(-value_clip, value_clip)
    per_token = 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)
    normalizer = float(mask.sum().item()) if normalizer is None else normalizer
    loss = (per_token * mask).sum() / max(normalizer, 1e-12)
    with torch.no_grad():
        stats = {
            "tokens": mask.sum(),
            "value_clip_frac": _masked_mean(((values - returns) ** 2 < (clipped - returns) ** 2).to(mask.dtype), mask),
            "value_mean": _masked_mean(values.detach(), mask),
        }
    return loss, stats

