"""The training step, owned in one place: sample -> verify -> update -> sync -> checkpoint.

    trainer = Trainer(cfg)          # cfg: rlvr.trainers.run_config.RunConfig; resumes the newest valid checkpoint of
                                    # cfg.train.checkpoint.dir (else train.checkpoint.resume_from: trainers/resume.py)
    trainer.train()                 # to cfg.train.steps, checkpointing every train.checkpoint.every steps
    trainer.close()

One step (`run_step`), top-down:
    collect()   the step's problems (data order, trainers/data_order.py) -> G completions each (the sampler)
                -> rewards and verdicts (the verifier pool); groups redrawn if the algorithm asks
    update()    algorithm.prepare (advantages / pairs / rollout, no-grad passes), then per optimizer pass:
                algorithm.backward (accumulate gradients) -> all-reduce (DDP) -> clip -> optimizer step;
                gradients are dropped after every pass; the scheduler steps once per training step
    sync        the sampler gets the new weights (an algorithm that samples nothing, DPO on a pairs file, opens
                its sampler only when something asks for one, e.g. the final evaluation: `Trainer.sampler`)
    metrics     one row in metrics.jsonl; every N steps `train()` saves a checkpoint (trainers/checkpointing.py:
                what it holds of the trainer, and how a resumed run loads it back)

An algorithm (`ALGORITHMS`: trainers/grpo.py, dpo.py, ppo.py) is one file exposing only what differs: its
rollout needs (`prompts_per_step`, `group_size`, `redraw_rounds` + `redraw`, `sample_logprobs`), `policy_options`,
`num_iterations`, and `prepare(policy, scored, dist)` / `backward(policy, work, dist)` over a scored batch.
It never sees the Trainer; zero_grad, clipping, the NaN guard, optimizer and scheduler steps happen only here.
docs/training_step.md walks one GRPO step through the files.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rlvr.data.tasks import load_problems
from rlvr.sampling.config import SamplingParams, problem_seed
from rlvr.sampling.vllm_platform import release_cached_device_memory
from rlvr.trainers import checkpoint as ckpt
from rlvr.trainers import distributed, fsdp
from rlvr.trainers.bootstrap import resolve_model_path
from rlvr.trainers.checkpointing import Resumable, TrainerCheckpoints, resumable
from rlvr.trainers.data_order import batch_indices
from rlvr.trainers.dpo import DPO
from rlvr.trainers.grpo import GRPO
from rlvr.trainers.metrics import MetricsLog, format_step, peak_rss_mb, rollout_metrics, to_floats
from rlvr.trainers.optimizer import build_optimizer
from rlvr.trainers.out_of_memory import out_of_memory_names, sampling_advice, update_advice
from rlvr.trainers.policy import Policy
from rlvr.trainers.ppo import PPO
from rlvr.trainers.prompt_fit import fit_prompts
from rlvr.trainers.run_config import ConfigError
from rlvr.trainers.verifier_watch import VerifierWatch
from rlvr.verifiers.groups import score_groups

ALGORITHMS = {"grpo": GRPO, "dpo": DPO, "ppo": PPO}
REDRAW_SEED_STRIDE = 104_729  # a redraw round samples with the step's seed + round * this


class NonFiniteError(FloatingPointError):
    """A loss, gradient or reward was NaN/inf: the step is abandoned, the last checkpoint stays good."""


@dataclass
class Scored:
    """A step's scored completions: `groups[g].completions[i]` has reward `rewards[g][i]` and verdicts
    `verdicts[g][i]` (verifier name -> Verdict). `cursor`: the data position the step's problems start at.
    `verify_time_s`: the wall time of scoring them (the verifier pool), redraws included; part of the rollout's."""

    groups: list = field(default_factory=list)
    rewards: list[list[float]] = field(default_factory=list)
    verdicts: list[list[dict[str, Any]]] = field(default_factory=list)
    cursor: int = 0
    verify_time_s: float = 0.0

    def replace(self, slots: list[int], fresh: "Scored") -> None:
        for slot, g, r, v in zip(slots, fresh.groups, fresh.rewards, fresh.verdicts):
            self.groups[slot], self.rewards[slot], self.verdicts[slot] = g, r, v
        self.verify_time_s += fresh.verify_time_s  # the redraw was scored too: its time counts


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7919) % (2**31 - 1)


class Trainer:
    def __init__(self, cfg, *, sampler=None, pool=None, problems=None, resume: bool = True, log=print):
        from rlvr.verifiers.registry import row_lacks, spec_keys
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
        self.specs = cfg.verifier_specs()
        self.algorithm = ALGORITHMS[cfg.train.algorithm](cfg)
        if not self.algorithm.group_size:  # DPO on a pairs file: it samples nothing while it trains
            self.problems = []
        else:  # the flow loaded them already
            self.problems = load_problems(cfg.task) if problems is None else problems
        if self.problems and (lacking := row_lacks(self.specs, self.problems[0].context())):
            raise ConfigError(f"{lacking}, in training problem {self.problems[0].id}: rename the column in the data "
                              f"or the function's parameter")
        self.primary = spec_keys(self.specs)[0]  # its verdict key: what accuracy reads
        if self.algorithm.group_size and len(self.problems) < self.algorithm.prompts_per_step:
            self.log(f"warning: the task has {len(self.problems)} problems, fewer than train.prompts_per_step "
                     f"{self.algorithm.prompts_per_step}: each step's batch repeats problems")
        self.sharded = cfg.train.parallel == "fsdp" and self.dist.enabled  # FSDP2 (trainers/fsdp.py)
        # FSDP: rank 0 builds in host memory, the others on the meta device (no weights read); each layer's shard
        # moves to this rank's device as it is sharded and is filled from rank 0's copy (trainers/fsdp.py)
        build_on = ("cpu" if self.dist.is_main else "meta") if self.sharded else None
        if not resume and cfg.train.checkpoint.resume_from:  # it would be ignored without a word
            raise ConfigError("train.checkpoint.resume_from names a checkpoint to resume from, and resuming is off "
                              "(--no-resume): drop one of them")
        found = resumable(cfg, self.dist, self.sharded, self.log) if resume else ([], False)  # before any model loads
        self.policy = Policy.from_config(cfg.model, path=self.model_path, build_on=build_on,
                                         **self.algorithm.policy_options)
        if self.algorithm.group_size:  # it samples them (DPO on a pairs file does not)
            self.problems = self._fitting_problems(self.problems)  # before an engine starts: a refusal costs nothing
        if self.sharded:
            fsdp.shard_policy(self.policy, cfg.train.fsdp)
        self.optimizer, self.scheduler = build_optimizer(self.policy.trainable_parameters(), cfg.train.optim,
                                                           cfg.train.steps)
        self.checkpoints = TrainerCheckpoints(cfg, self.dist, self.sharded, self.policy, self.optimizer,
                                              self.scheduler, self.log)
        self.step, self.cursor = 0, 0
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        weights = dict(zip(spec_keys(self.specs), (spec.weight for spec in self.specs)))  # verdict key -> weight
        self.watch = VerifierWatch(cfg, weights, self.primary, self.log)  # its warnings, each once; the stop
        self._owns_sampler, self._owns_pool = sampler is None, pool is None
        self._sampler = sampler  # None until opened: see the `sampler` property
        if sampler is None and self.algorithm.group_size:  # it samples from step 1: not in step 1's time
            self._sampler = self._make_sampler()
        self.pool = pool or make_pool(cfg.verify)  # verify.runner: pool (VerifierPool) | dask | ray
        what = f"a LoRA adapter (r {cfg.model.lora.r})" if cfg.model.lora else "all weights"
        ranks = f", {'fsdp2' if self.sharded else 'ddp'} over {self.dist.world_size} ranks" if self.dist.enabled else ""
        self.log(f"training {what} on {self.policy.device} in {self.policy.precision}{ranks}; "
                 f"sampler: {self._describe_sampler()}")
        if resume:
            self.restore_latest(found)
        elif ckpt.latest_checkpoint(self.run_dir) is not None:
            raise FileExistsError(f"{self.run_dir} already holds checkpoints; resume, or choose another checkpoint.dir")
        if self.dist.is_main:  # rows past the restored step (or any, from step 0) belong to a run that died
            self.metrics.truncate_after(self.step, log=self.log)
        self._sync_sampler()  # the restored weights
        self._saved_step = self.step  # the restored checkpoint's (0: none, and nothing to save)
        self._end_of_step()

    # -- the sampler ------------------------------------------------------------------------------
    @property
    def sampler(self):
        """The sampler, opened on first use where the algorithm samples nothing while it trains (DPO on a pairs
        file: only an evaluation needs one), so that no engine holds memory or takes weight syncs for nothing.
        It opens with the policy's current weights. FSDP: opening gathers the sharded weights, a collective, so
        every rank must ask."""
        if self._sampler is None:
            release_cached_device_memory()  # the update's freed blocks: a vLLM engine sizes itself by free memory
            self._sampler = self._make_sampler()
            self._sync_sampler()
        return self._sampler

    @sampler.setter
    def sampler(self, sampler) -> None:
        self._sampler = sampler

    def _make_sampler(self):
        from rlvr.sampling.factory import make_sampler

        cfg = self.cfg
        lora_rank = cfg.model.lora.r if cfg.model.lora else None
        return make_sampler(  # hf: samples with the policy's own module, on its device
            cfg.sampler, self.model_path, self.policy.tokenizer, lora_rank=lora_rank, model=self.policy.model,
            device=str(self.policy.device),  # where an hf copy goes when the module is not shared
        )

    def _sync_sampler(self) -> None:
        """Send the policy's weights to the sampler, if one is open (one opened later gets them as it opens)."""
        if self._sampler is not None:
            fsdp.sync_sampler(self._sampler, self.policy.model)  # FSDP: streamed one layer at a time

    def _describe_sampler(self) -> str:
        if self._sampler is None:
            return f"{self.cfg.sampler.backend}, opened when first needed (nothing is sampled while training)"
        describe = getattr(self._sampler, "describe", None)  # a sampler passed in need not derive from Sampler
        return describe() if describe else type(self._sampler).__name__

    # -- one step -------------------------------------------------------------------------------
    def run_step(self) -> dict:
        started = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]  # what this step's update uses (the scheduler moves it after)
        scored = self.collect()
        rollout_s = time.perf_counter() - started
        self.watch.scored(scored.verdicts, self.step + 1)
        stats = self.update(scored)
        self._sync_sampler()
        self.step += 1
        elapsed = time.perf_counter() - started
        row = {"step": self.step, **rollout_metrics(scored.groups, scored.rewards, scored.verdicts, self.primary), **stats}
        row.update(
            lr=lr, step_time_s=elapsed, rollout_time_s=rollout_s,
            verify_time_s=scored.verify_time_s,  # within rollout_time_s: generation is the difference
            tokens_per_s=row["generated_tokens"] / elapsed, peak_rss_mb=peak_rss_mb(),
        )
        if self.dist.is_main:  # DDP: the row already describes the global batch; rank 0 writes it
            self.metrics.append(row)
        self.watch.stepped(row)
        self.last_groups, self.last_verdicts = scored.groups, scored.verdicts
        self._end_of_step()
        self.watch.stop_if_failing(row, self._saved_step)
        return row

    def _fitting_problems(self, problems: list) -> list:
        """The training problems whose prompt fits `sampler.max_model_len` (`prompt_fit.fit_prompts`); the others are
        skipped with one line (`task.on_bad_row: fail` refuses the run instead), and a chat prompt on a tokenizer
        without a chat template is refused, before any engine starts. A `sampler.params.max_tokens` that does not
        fit beside the prompts is said once here."""
        sampler = self.cfg.sampler
        fit = fit_prompts(self.policy.tokenizer, problems, sampler.max_model_len, sampler.params.max_tokens,
                          "training prompts", self.cfg.task.on_bad_row, "sampler.params")
        if fit.skipped:
            self.log(f"warning: {fit.skipped} (task.on_bad_row=skip)")
        if fit.capped:
            self.log(f"warning: {fit.capped}")
        return fit.problems

    def _end_of_step(self) -> None:
        """What a checkpoint of the step just completed holds besides the weights and optimizer (both stay as
        they are until the next optimizer step): a stop signal during the next step's rollout saves it."""
        self._completed = (self.step, self.cursor, ckpt.rng_state())
        self._weights_completed = True

    def collect(self) -> Scored:
        """Sample and verify this step's completions, as many as the algorithm needs."""
        with out_of_memory_names(f"the rollout of step {self.step + 1}", self.policy.device,
                                 lambda: sampling_advice(self.cfg)):
            return self._collect()

    def _collect(self) -> Scored:
        alg, cursor = self.algorithm, self.cursor
        if not alg.group_size:  # nothing to sample (DPO on a pairs file): the algorithm reads its data at `cursor`
            self.cursor += alg.prompts_per_step
            return Scored(cursor=cursor)
        params = self.sampling_params()
        scored = self.sample_and_score(self.next_problems(alg.prompts_per_step), alg.group_size, params)
        for round_ in range(1, alg.redraw_rounds + 1):  # GRPO's zero_variance=resample (DAPO dynamic sampling)
            slots = alg.redraw(scored.rewards)
            if not slots:
                break
            again = params.model_copy(update={"seed": params.seed + REDRAW_SEED_STRIDE * round_})
            scored.replace(slots, self.sample_and_score(self.next_problems(len(slots)), alg.group_size, again))
        scored.cursor = cursor
        return scored

    def sampling_params(self) -> SamplingParams:
        params = self.cfg.sampler.params
        seed = step_seed(self.cfg.train.seed if params.seed is None else params.seed, self.step)
        logprobs = bool(params.logprobs) or self.algorithm.sample_logprobs  # GRPO's sampler_correction reads them
        return params.model_copy(update={"seed": seed, "logprobs": logprobs})

    def next_problems(self, count: int):
        idx = batch_indices(len(self.problems), self.cursor, count, self.cfg.train.seed)
        self.cursor += count
        return [self.problems[i] for i in idx]

    def sample_and_score(self, problems, n: int, params: SamplingParams) -> Scored:
        """Groups of n completions per problem, their combined rewards and per-verifier verdicts.

        Under DDP `problems` is the global batch: this rank samples and verifies its contiguous share and
        every rank gets the whole scored batch back, in problem order."""
        if not self.dist.enabled:
            scored = self._sample_and_score(problems, n, params)
        else:
            lo, hi = self.dist.shard(len(problems))
            params = params.model_copy(update={"seed": problem_seed(params.seed, lo, n)})  # keep the global index
            with fsdp.generation_weights(self.policy.model, self.cfg.train.fsdp, self.sampler):  # FSDP + shared hf
                share = self._sample_and_score(problems[lo:hi], n, params) if hi > lo else Scored()
            scored = Scored()
            for part in self.dist.gather(share):  # rank order = problem order
                scored.groups += part.groups
                scored.rewards += part.rewards
                scored.verdicts += part.verdicts
                scored.verify_time_s = max(scored.verify_time_s, part.verify_time_s)  # the ranks score at once
        flat = [r for row in scored.rewards for r in row]
        if not all(math.isfinite(r) for r in flat):
            raise NonFiniteError(f"non-finite reward at step {self.step + 1}: {flat}")
        return scored

    def _sample_and_score(self, problems, n: int, params: SamplingParams) -> Scored:
        groups = self.sampler.generate(problems, n, params)
        started = time.perf_counter()
        rewards, verdicts = score_groups(self.pool, groups, self.specs)
        return Scored(groups, rewards, verdicts, verify_time_s=time.perf_counter() - started)

    def update(self, scored: Scored) -> dict:
        """The algorithm's update over the scored batch: `num_iterations` optimizer steps, one scheduler step."""
        with out_of_memory_names(f"the update of step {self.step + 1}", self.policy.device,
                                 lambda: update_advice(self.cfg)):
            return self._update(scored)

    def _update(self, scored: Scored) -> dict:
        alg, policy = self.algorithm, self.policy
        work, stats = alg.prepare(policy, scored, self.dist)
        if work is None:  # nothing to learn from this batch (every group degenerate, no DPO pair)
            stats["grad_norm"] = 0.0
        else:
            policy.train()
            try:
                for _ in range(alg.num_iterations):
                    stats.update(self._optimizer_step(work))
            finally:
                policy.train(False)
        with warnings.catch_warnings():
            # the schedule follows the step count, also over a step with nothing to learn; torch warns when its
            # first step comes before any optimizer step, which is then what was meant
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before",
                                    category=UserWarning)
            self.scheduler.step()
        return stats

    def _optimizer_step(self, work) -> dict:
        """backward -> all-reduce (DDP) -> clip -> step. Gradients are dropped afterwards, also when a value is
        non-finite (the step is abandoned, nothing is saved, the last checkpoint stays good)."""
        try:
            stats = self.algorithm.backward(self.policy, work, self.dist)  # floats, or tensors still on the device
            trainable = self.policy.trainable_parameters()
            # DDP: sum the ranks' shares of the batch gradient (no-op alone); FSDP reduce-scattered its shards in backward
            self.dist.all_reduce_grads([p for p in trainable if not fsdp.is_sharded_tensor(p)])
            params = [p for p in trainable if p.grad is not None]
            norm = fsdp.clip_grad_norm(params, self.cfg.train.optim.max_grad_norm)  # torch's unless grads are sharded
            # the one device->host read of the pass: its stats and the gradient norm together
            stats = to_floats({**stats, "grad_norm": norm})
            if not math.isfinite(stats["loss"]):
                raise NonFiniteError(f"{self.cfg.train.algorithm.upper()} loss is {stats['loss']} at step "
                                     f"{self.step + 1}; the last checkpoint is kept")
            if not math.isfinite(stats["grad_norm"]):
                raise NonFiniteError(f"non-finite gradient norm at step {self.step + 1}")
            self._weights_completed = False  # from here to the step's end the weights are neither step's
            self.optimizer.step()
        finally:
            self.optimizer.zero_grad(set_to_none=True)
        return stats

    # -- checkpoints (trainers/checkpointing.py) ---------------------------------------------------
    def save(self) -> Path:
        """A checkpoint of the step just completed (FSDP: every rank writes its shards; else rank 0 writes)."""
        path = self.checkpoints.save(self.step, self.cursor)
        self._saved_step = self.step
        return path

    def restore_latest(self, found: Resumable) -> Path | None:
        """Load the newest of the `found` checkpoints that loads (`TrainerCheckpoints.restore`: weights, optimizer,
        scheduler and RNG states) and go on from its step and data cursor; None when there was none."""
        restored = self.checkpoints.restore(found)
        if restored is None:
            return None
        path, self.step, self.cursor = restored
        return path

    def save_stopped(self) -> str:
        """After a stop signal (Ctrl-C, SIGTERM): checkpoint the last completed step unless it has one, and say
        where the same command will resume. Nothing is saved when the signal came during an optimizer update (the
        weights are then neither step's), under FSDP (saving is collective, and the ranks stopped at different
        points) or on a DDP rank other than 0 (rank 0 writes alone, without waiting for the others)."""
        step, cursor, rng = self._completed
        if step == self._saved_step:
            return f"the same command resumes from step {step}" + (f" (checkpoint step-{step})" if step else "")
        first = self._saved_step + 1
        lost = (f"the same command resumes from step {self._saved_step}; "
                + (f"step {step} is lost" if first == step else f"steps {first}-{step} are lost"))
        if not self._weights_completed:
            return f"stopped during an optimizer update, nothing saved: {lost}"
        if self.sharded:
            return f"FSDP saves only at checkpoint steps: {lost}"
        if not self.dist.is_main:
            return ""
        self.step, self.cursor = step, cursor
        path = self.checkpoints.save_whole(step, cursor, rng)  # as the step ended: the resumed run samples the same
        self._saved_step = step
        return f"saved {path}; the same command resumes from step {step}"

    # -- driving ----------------------------------------------------------------------------------
    def train(self, steps: int | None = None, on_step=None, on_checkpoint=None) -> list[dict]:
        """Run until cfg.train.steps (or `steps` more), checkpointing every N steps and at the end."""
        total = self.cfg.train.steps
        target = total if steps is None else min(total, self.step + steps)
        rows = []
        while self.step < target:
            due = ckpt.steps_to_checkpoint(self.step, total, self.cfg.train.checkpoint.every)
            chunk = min(due, target - self.step)
            for _ in range(chunk):
                rows.append(self.run_step())
                self.log(format_step(rows[-1], total))
                if on_step:
                    on_step(rows[-1])
            if chunk == due:  # on a checkpoint boundary (every N steps, and the last step)
                path = self.save()
                if on_checkpoint:
                    on_checkpoint(path, self.step)
        return rows

    def close(self) -> None:
        if self._owns_sampler and self._sampler is not None:  # never opened: nothing to close
            self._sampler.close()
        if self._owns_pool:
            self.pool.close()
        distributed.teardown(self._owns_group)
