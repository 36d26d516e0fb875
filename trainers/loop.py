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
    metrics     one row in metrics.jsonl; every N steps `train()` saves a checkpoint

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
from rlvr.trainers import distributed, fsdp, fsdp_checkpoint
from rlvr.trainers.bootstrap import resolve_model_path
from rlvr.trainers.data_order import batch_indices
from rlvr.trainers.dpo import DPO
from rlvr.trainers.grpo import GRPO
from rlvr.trainers.metrics import MetricsLog, format_step, partial_failures, peak_rss_mb, rollout_metrics, to_floats
from rlvr.trainers.optimizer import build_optimizer, configured, keep_configured
from rlvr.trainers.out_of_memory import out_of_memory_names, sampling_advice, update_advice
from rlvr.trainers.policy import Policy
from rlvr.trainers.ppo import PPO
from rlvr.trainers.resume import checkpoints_to_resume, why_not_resumable
from rlvr.trainers.run_config import ConfigError
from rlvr.trainers.verifier_health import (FailingStreak, VerifierFailing, lost_rewards, lost_rewards_warning,
                                          no_signal_warning)

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
        self.primary = self.specs[0].name
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
        resumable = self._resumable() if resume else ([], False)  # a refusal comes before any model loads
        self.policy = Policy.from_config(cfg.model, path=self.model_path, build_on=build_on,
                                         **self.algorithm.policy_options)
        if self.algorithm.group_size:  # it samples them (DPO on a pairs file does not)
            self.problems = self._fitting_problems(self.problems)  # before an engine starts: a refusal costs nothing
        if self.sharded:
            fsdp.shard_policy(self.policy, cfg.train.fsdp)
        self.optimizer, self.scheduler = build_optimizer(self.policy.trainable_parameters(), cfg.train.optim,
                                                           cfg.train.steps)
        self.step, self.cursor = 0, 0
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        self._partly_failing: set[str] = set()  # verifiers whose partial failure was said (by this Trainer)
        self._lost_said: set[str] = set()  # verifiers whose rewards were said to be lost to another's magnitude
        self._no_signal_said = False  # a step without a reward difference in any group was said
        self._failing = FailingStreak(cfg.train.stop_after_failing_steps, self.primary)
        self._weights = dict(zip(spec_keys(self.specs), (spec.weight for spec in self.specs)))  # verdict key -> weight
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
            self.restore_latest(resumable)
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
        self._say_lost_rewards(scored)
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
        self._say_partial_failures(row)
        self._say_no_signal(row)
        self.last_groups, self.last_verdicts = scored.groups, scored.verdicts
        self._end_of_step()
        self._stop_if_verifier_failing(row)
        return row

    def _fitting_problems(self, problems: list) -> list:
        """The training problems whose prompt fits `sampler.max_model_len` (in tokens, as the sampler counts them),
        as verl's `filter_overlong_prompts`: `task.max_prompt_chars` checks characters at load, and one longer prompt
        reached at step N stopped the run there, and again at the same step on every resume. The others are
        skipped with one line (`task.on_bad_row: fail` refuses the run instead). A chat prompt on a tokenizer without
        a chat template is refused here too, before any engine starts. A `sampler.params.max_tokens` that does not fit
        beside the prompts is said once here (the samplers cut such completions at the end of the context)."""
        from rlvr.sampling.prompts import capped_completions, prompt_lengths, without_overlong

        sampler = self.cfg.sampler
        try:
            lengths = prompt_lengths(self.policy.tokenizer, problems)
            fitting, said = without_overlong(self.policy.tokenizer, problems, sampler.max_model_len,
                                             "training prompts", self.cfg.task.on_bad_row, lengths)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if said:
            self.log(f"warning: {said} (task.on_bad_row=skip)")
        kept = [length for length in lengths if length < sampler.max_model_len]
        if capped := capped_completions(kept, sampler.params.max_tokens, sampler.max_model_len, "sampler.params"):
            self.log(f"warning: {capped}")
        return fitting

    def _stop_if_verifier_failing(self, row: dict) -> None:
        """Raise VerifierFailing once a verifier failed on every verdict of `train.stop_after_failing_steps` steps in a
        row. Every DDP rank holds the same global row, so all stop together. The step's row is in metrics.jsonl, but
        no checkpoint is written of it: the exception skips the save (here in `train` as in the flow), as a
        checkpoint would move the resume point past steps that learned nothing, and its evaluation would score a
        policy that the broken verifier never judged. The checkpoints already written stay, so the same command,
        once the verifier is fixed, resumes from the newest and redoes the steps after it."""
        stop = self._failing.observe(row)
        if stop is None:
            return
        self.log(format_step(row, self.cfg.train.steps))  # the callers log the step's line after run_step returns
        kept = f"the newest checkpoint is step-{self._saved_step}" if self._saved_step else "no checkpoint was written"
        raise VerifierFailing(f"{stop}; nothing is saved of step {row['step']}: {kept}, where the same command resumes "
                              "once the verifier is fixed")

    def _say_lost_rewards(self, scored: Scored) -> None:
        """Once per Trainer and verifier: its reward differences were lost to rounding beside another verifier's
        huge rewards (`lost_rewards`), which otherwise shows only as advantages, loss and gradient norm of 0."""
        for lost, *rest in lost_rewards(scored.verdicts, self._weights):
            if lost not in self._lost_said:
                self._lost_said.add(lost)
                self.log(lost_rewards_warning(self.step + 1, lost, *rest))

    def _say_partial_failures(self, row: dict) -> None:
        """Once per Trainer (a resumed run says it again) and verifier: some of its verdicts were error/timeout, and
        why the first one was (a verifier whose every verdict fails is on each step's line instead: `format_step`)."""
        for name, warning in partial_failures(row).items():
            if name not in self._partly_failing:
                self._partly_failing.add(name)
                self.log(warning)

    def _say_no_signal(self, row: dict) -> None:
        """Once per Trainer: a step whose every group got one reward learned nothing from it (`no_signal_warning`)."""
        if not self._no_signal_said and (warning := no_signal_warning(row, self.cfg.sampler.params.max_tokens)):
            self._no_signal_said = True
            self.log(warning)

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
        jobs = [(c.text, g.problem.reference, self.specs, g.problem.context()) for g in groups for c in g.completions]
        started = time.perf_counter()
        scored = iter(self.pool.map(jobs))
        out = Scored(groups=groups, verify_time_s=time.perf_counter() - started)
        for g in groups:
            pairs = [next(scored) for _ in g.completions]
            out.rewards.append([reward for reward, _ in pairs])
            out.verdicts.append([verdicts for _, verdicts in pairs])
        return out

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

    # -- checkpoints ----------------------------------------------------------------------------
    def save(self) -> Path:
        if self.sharded:
            path = self._save_sharded()
        else:  # DDP: rank 0 writes; the others wait until the checkpoint is complete
            path = self._save_replica() if self.dist.is_main else ckpt.checkpoints_dir(self.run_dir) / f"step-{self.step}"
            self.dist.barrier()
        self._saved_step = self.step
        return path

    def _save_replica(self) -> Path:
        """The whole trainer state, written by this process alone (one process, or rank 0 of DDP's replicas)."""
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": ckpt.rng_state(),
            "cursor": self.cursor,
        }
        best = self.run_dir / "best"
        protect = (best.resolve(),) if best.exists() else ()
        path = ckpt.save_checkpoint(
            self.run_dir, self.step, self.policy.save, state, self.cfg.model_dump(mode="json"),
            keep=self.cfg.train.checkpoint.keep, protect=protect,
        )
        self.log(f"checkpoint saved: {path}")
        return path

    def _save_sharded(self) -> Path:
        """FSDP: every rank writes its shards (DCP) and joins the streamed HF export (trainers/fsdp_checkpoint.py)."""
        state = {"scheduler": self.scheduler.state_dict(), "rng": ckpt.rng_state(), "cursor": self.cursor}
        best = self.run_dir / "best"
        path = fsdp_checkpoint.save_checkpoint(
            self.run_dir, self.step, self.policy, self.optimizer, state, self.cfg.model_dump(mode="json"), self.dist,
            keep=self.cfg.train.checkpoint.keep, protect=(best.resolve(),) if best.exists() else (),
        )
        self.log(f"checkpoint saved: {path}")
        return path

    def _resumable(self) -> tuple[list[Path], bool]:
        """The checkpoints to try, oldest first, and whether they are `train.checkpoint.resume_from`'s; refused
        (CheckpointError, on every rank) when the newest cannot be resumed by this config (trainers/resume.py).
        Rank 0 looks; the others wait for its answer."""
        found, deliberate, refusal = [], False, None
        if self.dist.is_main:
            try:
                found, deliberate = checkpoints_to_resume(self.run_dir, self.cfg.train.checkpoint.resume_from)
                if found:
                    now = self.cfg.model_dump(mode="json")
                    refusal = why_not_resumable(found[-1], now, self.sharded, deliberate, self.log)
            except ckpt.CheckpointError as exc:
                refusal = str(exc)
        found, deliberate, refusal = self.dist.broadcast((found, deliberate, refusal))
        if refusal:  # on every rank: none is left waiting for the others
            raise ckpt.CheckpointError(refusal)
        return found, deliberate

    def restore_latest(self, resumable: tuple[list[Path], bool]) -> Path | None:
        """Load the newest of the `resumable` checkpoints (`_resumable`) that loads; each newer one that does not is
        skipped with one line saying why. Every rank tries the same ones in the same order (a sharded checkpoint
        loads as a collective) and all take the first that loaded on every rank. The run config's optimizer
        hyper-parameters and lr schedule replace the checkpoint's (`optimizer.keep_configured`)."""
        candidates, deliberate = resumable
        settings = configured(self.optimizer)  # as built from this config, before a checkpoint's state replaces them
        for path in reversed(candidates):
            state = self._load_on_every_rank(path)
            if state is not None:
                break
        else:
            if candidates:
                where = candidates[-1].parent
                fix = "name another train.checkpoint.resume_from" if deliberate else "move them aside to start over"
                raise ckpt.CheckpointError(f"no checkpoint in {where} loads (see above); {fix}")
            return None
        self.scheduler.load_state_dict(state["scheduler"])
        keep_configured(self.optimizer, self.scheduler, settings)
        ckpt.set_rng_state(state["rng"])
        self.step, self.cursor = state["step"], state["cursor"]
        self.log(f"resumed from {path} (step {self.step})")
        return path

    def _load_on_every_rank(self, path: Path) -> dict | None:
        """The trainer state of `path` once its weights and optimizer state are loaded on every rank; None (and one
        line saying why) when any rank's load failed. The ranks agree before the collective sharded load, so a
        checkpoint that one rank finds damaged never leaves the others waiting in it."""
        state = {}
        why = self._failed_anywhere(lambda: state.update(self._load(path)))
        if why is None and fsdp_checkpoint.is_sharded_checkpoint(path):
            why = self._failed_anywhere(lambda: fsdp_checkpoint.load_sharded(path, self.policy, self.optimizer))
        if why is not None:
            self.log(f"skipped checkpoint {path}: {why}")
            return None
        return state

    def _failed_anywhere(self, load) -> str | None:
        """Run `load()` on this rank; the first rank's CheckpointError message, or None if it succeeded on all."""
        try:
            load()
            why = None
        except ckpt.CheckpointError as exc:
            why = str(exc)
        return next((reason for reason in self.dist.gather(why) if reason), None)

    def _load(self, path: Path) -> dict:
        """The checkpoint's trainer state, after its weights and optimizer state are loaded (a sharded checkpoint's:
        only checked here, `fsdp_checkpoint.load_sharded` loads them on every rank at once); CheckpointError if any
        of them is missing or unreadable (the policy is left as it was when the state file fails)."""
        state = ckpt.load_state(path)
        if fsdp_checkpoint.is_sharded_checkpoint(path):
            fsdp_checkpoint.check(path)
            return state
        if "optimizer" not in state:  # an FSDP save keeps its optimizer state in sharded/
            raise ckpt.CheckpointError(f"{fsdp_checkpoint.SHARDED_DIR}/ is missing (this FSDP checkpoint's weights "
                                       "and optimizer state)")
        if self.sharded:
            raise ckpt.CheckpointError("it was written by one process or a ddp run; train.parallel=fsdp resumes FSDP "
                                       "checkpoints (start a new run from its model/ as model.path)")
        try:
            self.policy.load(path / ckpt.MODEL_DIR)
        except ckpt.UNREADABLE as exc:
            raise ckpt.CheckpointError(f"its weights do not load ({ckpt.describe(exc)})") from None
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except ckpt.UNREADABLE as exc:
            raise ckpt.CheckpointError(f"its optimizer state does not load ({ckpt.describe(exc)})") from None
        return state

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
        ckpt.set_rng_state(rng)  # the state as the step ended: the resumed run samples what this one would have
        path = self._save_replica()
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
