"""The training loop shared by GRPO, DPO and PPO: sample -> verify -> update -> sync -> checkpoint.

    trainer = Trainer(cfg)          # cfg: rlvr.flows.config.RunConfig (model, task, sampler, verify, train)
    trainer.train()                 # resumes from the latest checkpoint of cfg.train.checkpoint.dir
    trainer.close()

Each algorithm is a small object with `update(trainer, groups, rewards) -> stats` chosen through the
literal `ALGORITHMS` dict; everything else (data order, sampling, verification, optimizer, metrics,
checkpoints, NaN guard) is shared here.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from rlvr.data.tasks import load_problems, task_verifier
from rlvr.sampling.config import SamplingParams
from rlvr.trainers import checkpoint as ckpt
from rlvr.trainers import distributed
from rlvr.trainers.bootstrap import resolve_model_path
from rlvr.trainers.data_order import batch_indices
from rlvr.trainers.metrics import MetricsLog, peak_rss_mb, rollout_metrics
from rlvr.verifiers.config import VerifierSpec


class NonFiniteError(FloatingPointError):
    """A loss, gradient or reward was NaN/inf: the step is abandoned, the last checkpoint stays good."""


def _algorithms() -> dict[str, Any]:
    from rlvr.trainers.dpo import DPOAlgorithm
    from rlvr.trainers.grpo import GRPOAlgorithm
    from rlvr.trainers.ppo import PPOAlgorithm

    return {"grpo": GRPOAlgorithm, "dpo": DPOAlgorithm, "ppo": PPOAlgorithm}


def verifier_specs(cfg) -> list[VerifierSpec]:
    return cfg.verify.verifiers or [VerifierSpec(name=task_verifier(cfg.task.name))]


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7919) % (2**31 - 1)


class Trainer:
    def __init__(self, cfg, *, sampler=None, pool=None, resume: bool = True, log=print):
        from rlvr.sampling.factory import make_sampler
        from rlvr.trainers.policy import Policy
        from rlvr.verifiers.task_runner import make_pool

        self.cfg, self.log = cfg, log
        # Scale-out (trainers/distributed.py): under torchrun/accelerate this joins the process group; rank 0
        # alone logs, writes metrics and checkpoints. One process: Dist() and nothing changes.
        self.dist, self._owns_group = distributed.setup(cfg.model.device)
        if not self.dist.is_main:
            self.log = lambda _msg: None
        self.run_dir = Path(cfg.train.checkpoint.dir)
        self.model_path = resolve_model_path(cfg.model.path, log=log)
        torch.manual_seed(cfg.train.seed)
        self.problems = load_problems(cfg.task)
        self.specs = verifier_specs(cfg)
        self.primary = self.specs[0].name
        self.algorithm = _algorithms()[cfg.train.algorithm](cfg)
        self.policy = Policy.from_config(cfg.model, path=self.model_path, **self.algorithm.policy_options())
        self.optimizer = torch.optim.AdamW(
            [p for p in self.policy.trainable_parameters()], lr=cfg.train.optim.lr, weight_decay=cfg.train.optim.weight_decay
        )
        warmup = cfg.train.optim.warmup_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(1.0, (s + 1) / (warmup + 1)))
        self.step, self.cursor = 0, 0
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        self._owns_sampler, self._owns_pool = sampler is None, pool is None
        lora_rank = cfg.model.lora.r if cfg.model.lora else None
        self.sampler = sampler or make_sampler(  # hf: samples with the policy's own module, on its device
            cfg.sampler, self.model_path, self.policy.tokenizer, lora_rank=lora_rank, model=self.policy.model
        )
        self.pool = pool or make_pool(cfg.verify)  # verify.runner: pool (VerifierPool) | dask | ray
        if resume:
            self.restore_latest()
        elif ckpt.latest_checkpoint(self.run_dir) is not None:
            raise FileExistsError(f"{self.run_dir} already holds checkpoints; resume, or choose another checkpoint.dir")
        self.sampler.sync(self.policy.model)

    # -- one step -------------------------------------------------------------------------------
    def sampling_params(self) -> SamplingParams:
        params = self.cfg.sampler.params
        seed = step_seed(self.cfg.train.seed if params.seed is None else params.seed, self.step)
        return params.model_copy(update={"seed": seed, "logprobs": bool(params.logprobs)})

    def next_problems(self, count: int):
        idx = batch_indices(len(self.problems), self.cursor, count, self.cfg.train.seed)
        self.cursor += count
        return [self.problems[i] for i in idx]

    def sample_and_score(self, problems, n: int, params: SamplingParams | None = None):
        """Groups of n completions per problem, their combined rewards and per-verifier verdicts.

        Under DDP `problems` is the global batch: this rank samples and verifies its contiguous share and
        every rank gets the whole scored batch back (trainers/distributed.py)."""
        params = params or self.sampling_params()
        if not self.dist.enabled:
            groups, rewards, verdicts = self._sample_and_score(problems, n, params)
        else:
            lo, hi = self.dist.shard(len(problems))
            if params.seed is not None:  # vLLM seeds problem i with seed + i * n: keep the global i
                params = params.model_copy(update={"seed": params.seed + lo * n})
            share = self._sample_and_score(problems[lo:hi], n, params) if hi > lo else ([], [], [])
            groups, rewards, verdicts = distributed.concat_shares(self.dist.gather(share))
        flat = [r for row in rewards for r in row]
        if not all(math.isfinite(r) for r in flat):
            raise NonFiniteError(f"non-finite reward at step {self.step + 1}: {flat}")
        return groups, rewards, verdicts

    def _sample_and_score(self, problems, n: int, params: SamplingParams):
        groups = self.sampler.generate(problems, n, params)
        jobs = [(c.text, g.problem.reference, self.specs) for g in groups for c in g.completions]
        scored = self.pool.map(jobs)
        rewards, verdicts, k = [], [], 0
        for g in groups:
            rewards.append([scored[k + i][0] for i in range(len(g.completions))])
            verdicts.append([scored[k + i][1] for i in range(len(g.completions))])
            k += len(g.completions)
        return groups, rewards, verdicts

    def run_step(self) -> dict:
        started = time.perf_counter()
        rollout_started = started
        groups, rewards, verdicts = self.algorithm.rollout(self)
        rollout_s = time.perf_counter() - rollout_started
        self.optimizer.zero_grad(set_to_none=True)
        stats = self.algorithm.update(self, groups, rewards)
        self.sampler.sync(self.policy.model)
        self.step += 1
        elapsed = time.perf_counter() - started
        row = {"step": self.step, **rollout_metrics(groups, rewards, verdicts, self.primary), **stats}
        row.update(
            lr=self.scheduler.get_last_lr()[0], step_time_s=elapsed, rollout_time_s=rollout_s,
            tokens_per_s=row["generated_tokens"] / elapsed, peak_rss_mb=peak_rss_mb(),
        )
        if self.dist.is_main:  # DDP: the row already describes the global batch; rank 0 writes it
            self.metrics.append(row)
        self.last_groups, self.last_verdicts = groups, verdicts
        return row

    def check_finite(self, value: float, what: str) -> None:
        """Abandon the step (gradients dropped, nothing saved) if `value` is NaN/inf."""
        if not math.isfinite(value):
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteError(f"{what} is {value} at step {self.step + 1}; the last checkpoint is kept")

    def optimizer_step(self) -> float:
        """Clip, check for non-finite gradients, step. Called by algorithms (once per inner iteration)."""
        trainable = self.policy.trainable_parameters()
        self.dist.all_reduce_grads(trainable)  # DDP: sum the ranks' shares of the batch gradient (no-op alone)
        params = [p for p in trainable if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.train.optim.max_grad_norm)
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteError(f"non-finite gradient norm at step {self.step + 1}")
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    # -- checkpoints ----------------------------------------------------------------------------
    def save(self) -> Path:
        if not self.dist.is_main:  # DDP: rank 0 writes; the others wait until the checkpoint is complete
            self.dist.barrier()
            return ckpt.checkpoints_dir(self.run_dir) / f"step-{self.step}"
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": ckpt.rng_state(),
            "cursor": self.cursor,
            "algorithm": self.algorithm.state_dict(),
        }
        best = self.run_dir / "best"
        protect = (best.resolve(),) if best.exists() else ()
        path = ckpt.save_checkpoint(
            self.run_dir, self.step, self.policy.save, state, self.cfg.model_dump(mode="json"),
            keep=self.cfg.train.checkpoint.keep, protect=protect,
        )
        self.log(f"checkpoint saved: {path}")
        self.dist.barrier()
        return path

    def restore_latest(self) -> Path | None:
        latest = self.dist.broadcast(ckpt.latest_checkpoint(self.run_dir))  # DDP: every rank loads rank 0's pick
        if latest is None:
            return None
        state = ckpt.load_state(latest)
        self.policy.load(latest / ckpt.MODEL_DIR)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        ckpt.set_rng_state(state["rng"])
        self.algorithm.load_state_dict(state.get("algorithm", {}))
        self.step, self.cursor = state["step"], state["cursor"]
        if self.dist.is_main:
            self.metrics.truncate_after(self.step)
        self.log(f"resumed from {latest} (step {self.step})")
        return latest

    # -- driving ----------------------------------------------------------------------------------
    def train(self, steps: int | None = None, on_step=None, on_checkpoint=None) -> list[dict]:
        """Run until cfg.train.steps (or `steps` more), checkpointing every N steps and at the end."""
        target = self.cfg.train.steps if steps is None else min(self.cfg.train.steps, self.step + steps)
        rows = []
        every = self.cfg.train.checkpoint.every
        while self.step < target:
            row = self.run_step()
            rows.append(row)
            self.log(format_step(row, self.cfg.train.steps))
            if on_step:
                on_step(row)
            if self.step % every == 0 or self.step == self.cfg.train.steps:
                path = self.save()
                if on_checkpoint:
                    on_checkpoint(path, self.step)
        return rows

    def close(self) -> None:
        if self._owns_sampler:
            self.sampler.close()
        if self._owns_pool:
            self.pool.close()
        distributed.teardown(self._owns_group)


def format_step(row: dict, total: int) -> str:
    kl = row.get("kl", float("nan"))
    return (
        f"step {row['step']}/{total} reward {row['reward_mean']:.3f} acc {row['accuracy']:.3f} "
        f"kl {kl:.4f} len {row['completion_len_mean']:.1f} tok/s {row['tokens_per_s']:.0f} ({row['step_time_s']:.1f}s)"
    )
