"""PPO baseline: clipped policy gradient with a learned value baseline, reward from the verifier.

Objective (DESIGN.md): the verifier's reward at the last completion token plus a per-token KL penalty
-kl_coef * (log pi_old - log pi_ref); GAE(gamma, lambda) advantages whitened over the batch; clipped
ratio surrogate, clipped value loss (weight vf_coef, c1), entropy bonus (entropy_coef, c2). The value
head is a scalar linear layer on the policy backbone's last hidden state, saved with the policy. No
reward model: the verifier supplies the reward.

Run: `rlvr train -c configs/arith_ppo.yaml`.
"""

from __future__ import annotations

import torch

from rlvr.trainers.logprobs import make_batch
from rlvr.trainers.ppo_step import ppo_backward, ppo_rollout


class PPOAlgorithm:
    def __init__(self, cfg):
        self.cfg = cfg.train.ppo
        self.prompts_per_step = cfg.train.prompts_per_step
        self.micro_batch_size = cfg.train.optim.micro_batch_size
        self.temperature = cfg.sampler.params.temperature

    def policy_options(self) -> dict:
        return {"need_reference": self.cfg.kl_coef > 0, "value_head": True}

    def rollout(self, trainer):
        return trainer.sample_and_score(trainer.next_problems(self.prompts_per_step), self.cfg.samples_per_prompt)

    def update(self, trainer, groups, rewards) -> dict:
        policy = trainer.policy
        completions = [c for g in groups for c in g.completions]
        batch = make_batch([c.prompt_token_ids for c in completions], [c.token_ids for c in completions], policy.pad_id)
        scores = torch.tensor([r for row in rewards for r in row], dtype=torch.float32)
        dist = trainer.dist  # DDP: rollout and backward split by micro-batch over ranks (trainers/distributed.py)
        rollout = ppo_rollout(policy, batch, scores, self.cfg, self.micro_batch_size, temperature=self.temperature, dist=dist)
        policy.train()
        for _ in range(self.cfg.num_iterations):
            stats = ppo_backward(
                policy, batch, rollout, self.cfg, self.micro_batch_size, temperature=self.temperature, dist=dist
            )
            trainer.check_finite(stats["loss"], "PPO loss")
            stats["grad_norm"] = trainer.optimizer_step()
        trainer.scheduler.step()
        policy.train(False)
        stats["kl"] = stats.pop("approx_kl")
        return stats

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
