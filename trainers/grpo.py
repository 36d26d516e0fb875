"""GRPO: group-relative policy optimisation on verifier rewards.

Objective, per prompt with G sampled completions o_1..o_G and rewards r_1..r_G (DESIGN.md):
    A_i = (r_i - mean(r)) / (std(r) + 1e-6)                (`scale`: group | batch | none = Dr. GRPO)
    L = -agg_t[ min(rho_t A_i, clip(rho_t, 1-eps_low, 1+eps_high) A_i) - beta * KL_k3(pi_ref || pi_theta) ]
Choices: the population std; `loss_aggregation` = dapo (token mean over the batch) by default;
beta = 0 by default, which skips the reference pass entirely; with num_iterations (mu) = 1 the ratio is
taken against the detached current log-probs (no old-policy pass); zero-variance groups are kept,
filtered, resampled (DAPO dynamic sampling, capped) or calibrated with a virtual max-reward sample
(NGRPO); truncated completions may be masked or softly penalised (DAPO overlong shaping).

Run: `rlvr train -c configs/arith_grpo.yaml` (or `Trainer(cfg).train()` from Python).
"""

from __future__ import annotations

import torch

from rlvr.trainers.advantages import degenerate_groups, group_advantages, overlong_penalty
from rlvr.trainers.distributed import reference_logprobs, sharded_logprobs
from rlvr.trainers.grpo_step import grpo_backward, kept_rows
from rlvr.trainers.logprobs import make_batch


class GRPOAlgorithm:
    def __init__(self, cfg):
        self.cfg = cfg.train.grpo
        self.prompts_per_step = cfg.train.prompts_per_step
        self.micro_batch_size = cfg.train.optim.micro_batch_size
        self.max_tokens = cfg.sampler.params.max_tokens
        self.temperature = cfg.sampler.params.temperature
        from rlvr.trainers.loop import verifier_specs

        self.max_reward = sum(max(0.0, spec.weight) for spec in verifier_specs(cfg))  # NGRPO's virtual sample

    def policy_options(self) -> dict:
        return {"need_reference": self.cfg.beta > 0}

    def rollout(self, trainer):
        """Sample G completions for the step's prompts; under `resample`, redraw degenerate groups."""
        groups, rewards, verdicts = trainer.sample_and_score(trainer.next_problems(self.prompts_per_step), self.cfg.group_size)
        if self.cfg.zero_variance != "resample":
            return groups, rewards, verdicts
        base = trainer.sampling_params()
        for round_ in range(1, self.cfg.max_resample_rounds + 1):
            dead = degenerate_groups(torch.tensor(rewards)).nonzero().flatten().tolist()
            if not dead:
                break
            params = base.model_copy(update={"seed": base.seed + 104_729 * round_})
            fresh = trainer.sample_and_score(trainer.next_problems(len(dead)), self.cfg.group_size, params)
            for slot, g, r, v in zip(dead, *fresh):
                groups[slot], rewards[slot], verdicts[slot] = g, r, v
        return groups, rewards, verdicts

    def update(self, trainer, groups, rewards) -> dict:
        policy, cfg = trainer.policy, self.cfg
        completions = [c for g in groups for c in g.completions]
        reward = torch.tensor(rewards, dtype=torch.float32)
        lengths = torch.tensor([[len(c.token_ids) for c in g.completions] for g in groups])
        reward = reward + overlong_penalty(lengths, self.max_tokens, cfg.overlong_buffer, cfg.overlong_penalty)
        advantages, keep = group_advantages(reward, cfg.scale, cfg.zero_variance, max_reward=self.max_reward)
        stats = {
            "adv_mean": float(advantages.mean()), "adv_std": float(advantages.std()),
            "adv_abs_max": float(advantages.abs().max()), "groups_kept": float(keep.sum()),
        }
        rows = kept_rows(keep, reward.shape[1])
        if rows.numel() == 0:  # every group degenerate: nothing to learn this step
            trainer.scheduler.step()
            return {**stats, "loss": 0.0, "kl": 0.0, "clip_frac": 0.0, "grad_norm": 0.0}
        picked = [completions[i] for i in rows.tolist()]
        batch = make_batch([c.prompt_token_ids for c in picked], [c.token_ids for c in picked], policy.pad_id)
        adv = advantages.flatten()[rows]
        truncated = torch.tensor([c.truncated for c in picked])
        policy.train()
        old_logp, ref_logp, dist = None, None, trainer.dist
        # DDP: every rank holds the global batch; these no-grad passes and the backward are split by micro-batch
        # over ranks (trainers/distributed.py). One process: batched_logprobs / reference_logprobs as before.
        if cfg.num_iterations > 1:
            old_logp = sharded_logprobs(policy.model, batch, self.micro_batch_size, self.temperature, dist)
        if cfg.beta > 0:
            ref_logp = reference_logprobs(policy, batch, self.micro_batch_size, self.temperature, dist)
        for _ in range(cfg.num_iterations):
            step_stats = grpo_backward(
                policy, batch, adv, old_logp, ref_logp, cfg, self.micro_batch_size,
                max_completion_length=self.max_tokens, truncated=truncated, temperature=self.temperature, dist=dist,
            )
            trainer.check_finite(step_stats["loss"], "GRPO loss")
            stats["grad_norm"] = trainer.optimizer_step()
        trainer.scheduler.step()
        policy.train(False)
        stats.update({k: step_stats[k] for k in ("loss", "clip_frac", "ratio_min", "ratio_max", "skipped_rows")})
        stats["kl"] = step_stats["kl_mean"]
        return stats

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
