"""PPO baseline: clipped policy gradient with a learned value baseline, reward from the verifier.

Objective, per completion token t (all terms are token means over the whole batch; formulas in
`rlvr.trainers.losses` and `rlvr.trainers.advantages`):
    rewards_t = -kl_coef * (log pi_old_t - log ref_t)  (+ the verifier score at the last token)
    A, R      = GAE(rewards, V_old; gamma, lam);  A whitened over the batch's valid tokens
    loss      = -min(rho A, clip(rho, 1 +- clip_epsilon) A)                         (policy)
              + vf_coef * 0.5 * max((V - R)^2, (clip(V, V_old +- value_clip) - R)^2)   (value, c1)
              - entropy_coef * H(pi_t)                                               (entropy bonus, c2)
V is a scalar head (`rlvr.trainers.value_head`) on the policy backbone's last hidden state, saved with the
policy (`Policy(..., value_head=True)`). No reward model: the verifier supplies the reward.

Losses logged: `loss` (the sum above), `policy_loss` and `value_loss` (the value term before vf_coef); the console line
shows the parts as `pg_loss` and `vf_loss`, not the sum (`metrics.RELABEL`). With num_iterations = 1, pg_loss reads
about 0 at every step by construction: rho = 1 and the advantages are whitened to mean 0 over the batch's tokens, so
the term's value is -mean(A) = 0 while its gradient is not; a value loss beside it is no sign that the critic's
term dominates the update.

vf_coef defaults to 0.5, the c1 of PPO implementations whose actor and critic share one network (OpenAI baselines'
ppo2, CleanRL, Stable-Baselines3), as here: V is a head on the policy's backbone. TRL's PPOTrainer defaults to 0.1
with a separate value model. The head starts at zero, so at step 1 the value loss moves only the head (dV/dh = w = 0);
once w grows, vf_coef also sets how hard the critic's regression pulls the shared backbone, and both terms share
optim.max_grad_norm.

Metrics besides the losses, each only where it is measured (never a 0 that stands for "not computed"):
    kl         KL(pi_old || ref), the divergence kl_coef penalises, as GRPO logs its `kl`: the token mean of
               the k3 estimate over the rollout (TRL's PPO logs `objective/kl` as the per-sequence sum of its
               reward's estimator, k1 by default). Absent with kl_coef = 0: there is no reference.
    approx_kl  KL(pi_old || pi), token mean of 0.5 (log pi - log pi_old)^2, at the start of the last optimizer
               pass (TRL's `policy/approxkl_avg`). Only with num_iterations > 1: the first pass compares pi_old
               with itself, so it is 0 by construction.
    entropy    token mean of H(pi_t): only with entropy_coef > 0, where the bonus needs it.

What this file gives the shared step (trainers/loop.py): rollout needs (`prompts_per_step`, `group_size`
completions per prompt), `prepare` = `ppo_rollout` (no grad, once per sampled batch: old log-probs, values,
KL-shaped rewards, GAE, whitened advantages) and `backward` = `ppo_backward` (once per optimizer pass).

    rollout = ppo_rollout(policy, batch, scores, cfg.ppo, mbs)
    for _ in range(cfg.ppo.num_iterations):
        stats = ppo_backward(policy, batch, rollout, cfg.ppo, mbs)      # the loop then clips and steps

Run: `rlvr train -c configs/arith_ppo.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rlvr.trainers.advantages import gae, ppo_token_rewards, whiten
from rlvr.trainers.config import PPOConfig
from rlvr.trainers.distributed import Dist
from rlvr.trainers.fsdp import lockstep_enumerate
from rlvr.trainers.logprobs import Batch, MicroBatchSize, forward_completions, make_batch
from rlvr.trainers.losses import mean_k3_kl, ppo_policy_loss, ppo_value_loss
from rlvr.trainers.policy import Policy


class PPO:
    def __init__(self, cfg):
        """`cfg`: the run config (rlvr.trainers.run_config.RunConfig)."""
        self.cfg: PPOConfig = cfg.train.ppo
        self.prompts_per_step = cfg.train.prompts_per_step
        self.group_size = self.cfg.group_size
        self.redraw_rounds = 0
        self.num_iterations = self.cfg.num_iterations
        self.policy_options = {"need_reference": self.cfg.kl_coef > 0, "value_head": True}
        self.sample_logprobs = False  # the rollout need not record the sampler's log-probs
        self.micro_batch_size = MicroBatchSize.from_config(cfg.train.optim)  # rows, and tokens if set
        self.temperature = cfg.sampler.params.temperature

    def prepare(self, policy: Policy, scored, dist: Dist) -> tuple[PPOBatch, dict]:
        """The batch and its rollout (DDP: forward passes split by micro-batch over ranks, then summed)."""
        completions = [c for g in scored.groups for c in g.completions]
        batch = make_batch([c.prompt_token_ids for c in completions], [c.token_ids for c in completions], policy.pad_id)
        scores = torch.tensor([r for row in scored.rewards for r in row], dtype=torch.float32)
        rollout = ppo_rollout(policy, batch, scores, self.cfg, self.micro_batch_size, temperature=self.temperature, dist=dist)
        return PPOBatch(batch, rollout), ({} if rollout.kl is None else {"kl": float(rollout.kl)})

    def backward(self, policy: Policy, work: PPOBatch, dist: Dist) -> dict[str, float]:
        stats = ppo_backward(
            policy, work.batch, work.rollout, self.cfg, self.micro_batch_size, temperature=self.temperature, dist=dist
        )
        if self.num_iterations == 1:  # measured before this only pass's update: pi_old against itself
            del stats["approx_kl"]
        return stats


@dataclass
class PPORollout:
    old_logp: Tensor  # [B, T]
    old_values: Tensor  # [B, T]
    advantages: Tensor  # [B, T] whitened
    returns: Tensor  # [B, T]
    mask: Tensor  # [B, T]
    kl: Tensor | None = None  # [] token mean of k3 KL(pi_old || ref); None without a reference


@dataclass
class PPOBatch:
    batch: Batch
    rollout: PPORollout


def _require_value_head(policy: Policy) -> None:
    if policy.value_head is None:
        raise ValueError("PPO needs a value head: build the Policy with value_head=True")


@torch.no_grad()
def ppo_rollout(
    policy: Policy,
    batch: Batch,
    scores: Tensor,
    cfg: PPOConfig,
    micro_batch_size: int | MicroBatchSize,
    *,
    ref_logp: Tensor | None = None,
    temperature: float = 1.0,
    dist: Dist = Dist(),
) -> PPORollout:
    """Old log-probs and values of `batch` under the current policy, then KL-shaped token rewards,
    GAE and whitened advantages. `scores` [B]: the verifier reward of each completion. With
    kl_coef > 0 and `ref_logp=None` the reference log-probs are computed here. DDP (`dist`): the forward
    passes are split by micro-batch over ranks and summed, so every rank gets the full rollout."""
    _require_value_head(policy)
    device = policy.device
    shape = batch.completion_mask.shape
    old_logp = torch.zeros(shape, dtype=torch.float32, device=device)
    old_values = torch.zeros(shape, dtype=torch.float32, device=device)
    for index, (rows, micro) in lockstep_enumerate(policy.model, dist, batch.split(micro_batch_size)):  # FSDP padding
        if not dist.owns(index):  # DDP: another rank's micro-batch (always owned in one process)
            continue
        out = forward_completions(policy.model, micro, temperature, with_hidden=True)
        width = out.logp.shape[1]
        old_logp[rows.to(device), :width] = out.logp
        old_values[rows.to(device), :width] = policy.value_head(out.hidden) * out.mask
    dist.all_reduce_(old_logp)
    dist.all_reduce_(old_values)
    if cfg.kl_coef > 0 and ref_logp is None:
        ref_logp = policy.logprobs(batch, micro_batch_size, temperature, reference=True, dist=dist)
    mask = batch.completion_mask.to(device)
    rewards = ppo_token_rewards(scores.to(device), old_logp, None if ref_logp is None else ref_logp.to(device), mask, cfg.kl_coef)
    advantages, returns = gae(rewards, old_values, mask, cfg.gamma, cfg.lam)
    kl = None if ref_logp is None else mean_k3_kl(old_logp, ref_logp.to(device), mask)
    return PPORollout(old_logp, old_values, whiten(advantages, mask), returns, mask, kl)


def ppo_backward(
    policy: Policy, batch: Batch, rollout: PPORollout, cfg: PPOConfig, micro_batch_size: int | MicroBatchSize, *,
    temperature: float = 1.0, dist: Dist = Dist(),
) -> dict[str, float]:
    """Accumulate gradients of the PPO loss over the whole batch (policy + value head); no step.
    DDP (`dist`): each rank computes the micro-batches it owns; stats are summed over ranks. `entropy` is in the
    stats only with entropy_coef > 0 (computed for the bonus alone)."""
    _require_value_head(policy)
    device = policy.device
    normalizer = float(rollout.mask.sum().item())
    totals = {"loss": 0.0, "policy_loss": 0.0, "value_loss": 0.0, "clip_frac": 0.0, "approx_kl": 0.0}
    if cfg.entropy_coef > 0:  # the same keys on every rank, also one that owns no micro-batch (DDP sums them)
        totals["entropy"] = 0.0
    chunks = batch.split(micro_batch_size)
    for chunk, (rows, micro) in lockstep_enumerate(policy.model, dist, chunks, backward=normalizer > 0):  # FSDP padding
        if not dist.owns(chunk):  # DDP: another rank's micro-batch (always owned in one process)
            continue
        out = forward_completions(policy.model, micro, temperature, with_entropy=cfg.entropy_coef > 0, with_hidden=True)
        width = out.logp.shape[1]
        index = rows.to(device)

        def part(x: Tensor) -> Tensor:
            return x[index, :width]

        mask = part(rollout.mask)
        values = policy.value_head(out.hidden)
        pg, pg_stats = ppo_policy_loss(
            out.logp, part(rollout.old_logp), part(rollout.advantages), mask,
            clip_epsilon=cfg.clip_epsilon, normalizer=normalizer,
        )
        vf, _ = ppo_value_loss(
            values, part(rollout.old_values), part(rollout.returns), mask,
            value_clip=cfg.value_clip, normalizer=normalizer,
        )
        loss = pg + cfg.vf_coef * vf
        if out.entropy is not None:
            entropy = (out.entropy * mask).sum() / max(normalizer, 1e-12)
            loss = loss - cfg.entropy_coef * entropy
            totals["entropy"] += float(entropy.detach())
        if normalizer > 0:
            loss.backward()
        share = float(pg_stats["tokens"]) / max(normalizer, 1e-12)
        totals["loss"] += float(loss.detach())
        totals["policy_loss"] += float(pg.detach())
        totals["value_loss"] += float(vf.detach())
        totals["clip_frac"] += float(pg_stats["clip_frac"]) * share
        totals["approx_kl"] += float(pg_stats["approx_kl"]) * share
    if dist.enabled:
        totals = dict(zip(totals, dist.sum(list(totals.values()))))
    return {**totals, "tokens": normalizer}
