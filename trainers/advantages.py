"""Advantage estimators and reward shaping: group-relative (GRPO family), GAE (PPO), whitening.

Group-relative advantage of completion i in a group of G with rewards r_1..r_G:

    A_i = (r_i - mean(r)) / (std(r) + eps)

`std` is the POPULATION standard deviation (divide by G, `unbiased=False`), a choice: it makes the
advantage of a binary-reward group depend only on its success rate p, A = (r - p) / sqrt(p (1 - p)),
whatever G is (TRL's `torch.std` is the sample std, which shrinks advantages by sqrt((G-1)/G)).

`scale`: "group" divides by the group's std, "batch" by the std of all rewards of the batch (centred
per group), "none" only centres (Dr. GRPO, arXiv 2503.20783).

`zero_variance` (groups whose rewards are all equal, hence zero advantage):
  keep        - keep them; their advantage is 0, they only feed the KL term.
  filter      - drop them from the loss (`keep[g] = False`).
  resample    - a sampling policy (DAPO dynamic sampling, done by the loop up to a cap); groups still
                degenerate when they reach here are dropped exactly as under `filter`.
  virtual_max - NGRPO (arXiv 2509.18851) advantage calibration: the mean and std of EVERY group are
                taken over its G rewards plus one virtual sample with reward `max_reward`; the virtual
                sample gets no advantage and no gradient. An all-wrong group then gets negative
                advantages; an all-`max_reward` group still gets 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

SCALES = ("group", "batch", "none")
ZERO_VARIANCE = ("keep", "filter", "resample", "virtual_max")


def degenerate_groups(rewards: Tensor) -> Tensor:
    """[num_groups] bool: True where all G rewards of the group are equal."""
    return rewards.max(dim=1).values == rewards.min(dim=1).values


def group_advantages(
    rewards: Tensor,
    scale: str = "group",
    zero_variance: str = "keep",
    eps: float = 1e-6,
    max_reward: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Advantages [num_groups, G] and `keep` [num_groups] bool for rewards [num_groups, G].

    Dropped groups (`keep == False`) also get advantage 0, so a caller that ignores `keep` loses
    nothing but compute. `max_reward` is used only by `virtual_max`.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if zero_variance not in ZERO_VARIANCE:
        raise ValueError(f"zero_variance must be one of {ZERO_VARIANCE}, got {zero_variance!r}")
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be [num_groups, G], got shape {tuple(rewards.shape)}")
    rewards = rewards.float()
    pool = rewards  # the values the mean and std are taken over
    if zero_variance == "virtual_max":
        virtual = torch.full_like(rewards[:, :1], float(max_reward))
        pool = torch.cat([rewards, virtual], dim=1)
    mean = pool.mean(dim=1, keepdim=True)
    centred = rewards - mean
    if scale == "group":
        advantages = centred / (pool.std(dim=1, unbiased=False, keepdim=True) + eps)
    elif scale == "batch":
        advantages = centred / (pool.std(unbiased=False) + eps)
    else:
        advantages = centred
    keep = torch.ones(rewards.shape[0], dtype=torch.bool, device=rewards.device)
    if zero_variance in ("filter", "resample"):
        keep = ~degenerate_groups(rewards)
        advantages = advantages * keep[:, None]
    return advantages, keep


def overlong_penalty(lengths: Tensor, max_tokens: int, buffer: int, penalty: float = 1.0) -> Tensor:
    """DAPO soft overlong punishment, added to the reward: 0 up to `max_tokens - buffer` tokens, then
    a linear ramp down to `-penalty` at `max_tokens`, and `-penalty` beyond. `buffer == 0` disables."""
    lengths = lengths.float()
    if buffer <= 0:
        return torch.zeros_like(lengths)
    start = max_tokens - buffer
    ramp = (start - lengths) / buffer * penalty  # 0 at `start`, -penalty at `max_tokens`
    return ramp.clamp(min=-penalty, max=0.0)


def gae(
    rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation over completion tokens: (advantages, returns), each [B, T].

    Token t of a row is valid where `mask` is 1; valid tokens are a prefix of the row (completions are
    left-aligned). After the last valid token the episode ends: the next value is 0.
        delta_t = r_t + gamma * V_{t+1} - V_t,   A_t = delta_t + gamma * lam * A_{t+1},   R_t = A_t + V_t
    """
    mask = mask.to(values.dtype)
    values = values * mask
    advantages = torch.zeros_like(values)
    next_value = torch.zeros_like(values[:, 0])
    next_advantage = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantages[:, t] = (delta + gamma * lam * next_advantage) * mask[:, t]
        next_value, next_advantage = values[:, t], advantages[:, t]
    return advantages, (advantages + values) * mask


def whiten(x: Tensor, mask: Tensor, shift_mean: bool = True, eps: float = 1e-8) -> Tensor:
    """(x - mean) / std over the masked entries (population std); masked-out entries become 0.
    With `shift_mean=False` the mean is added back (only the scale changes)."""
    mask = mask.to(x.dtype)
    count = mask.sum().clamp(min=1)
    mean = (x * mask).sum() / count
    var = (((x - mean) * mask) ** 2).sum() / count
    out = (x - mean) / (var.sqrt() + eps)
    if not shift_mean:
        out = out + mean
    return out * mask


def ppo_token_rewards(scores: Tensor, logp: Tensor, ref_logp: Tensor | None, mask: Tensor, kl_coef: float) -> Tensor:
    """Per-token PPO rewards [B, T]: `-kl_coef * (logp - ref_logp)` on every valid token, plus the
    sequence's verifier score on its last valid token. `ref_logp=None` or `kl_coef=0`: no penalty."""
    mask = mask.to(logp.dtype)
    rewards = torch.zeros_like(logp)
    if kl_coef > 0 and ref_logp is not None:
        rewards = -kl_coef * (logp - ref_logp) * mask
    last = (mask.sum(dim=1).long() - 1).clamp(min=0)
    has_tokens = mask.sum(dim=1) > 0
    rows = torch.arange(logp.shape[0], device=logp.device)
    rewards[rows, last] += scores.to(logp.dtype) * has_tokens
    return rewards
