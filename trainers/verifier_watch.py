"""When a Trainer speaks about its verifiers and rewards as the steps go: each warning once per Trainer (a resumed run
says it again), and the stop after `train.stop_after_failing_steps` steps on which a verifier failed every verdict.
What each line says is decided in trainers/verifier_health.py and trainers/metrics.py; here, when it is said.

    watch = VerifierWatch(cfg, weights, primary, log)
    watch.scored(verdicts, step)          # after scoring, before the update: rewards lost to another's magnitude
    watch.stepped(row)                    # the step's metrics row: partial failures, no reward signal
    watch.stop_if_failing(row, saved)     # VerifierFailing once a verifier's streak reaches the limit
"""

from __future__ import annotations

from typing import Any, Callable

from rlvr.trainers.metrics import format_step, partial_failures
from rlvr.trainers.verifier_health import (FailingStreak, VerifierFailing, lost_rewards, lost_rewards_warning,
                                          no_signal_warning)


class VerifierWatch:
    """`weights`: verdict key -> weight (`registry.spec_keys`); `primary`: the verdict key accuracy reads."""

    def __init__(self, cfg, weights: dict[str, float], primary: str, log: Callable[[str], None]):
        self.cfg, self.weights, self.log = cfg, weights, log
        self._failing = FailingStreak(cfg.train.stop_after_failing_steps, primary)
        self._partly_failing: set[str] = set()  # verifiers whose partial failure was said
        self._lost_said: set[str] = set()  # verifiers whose rewards were said to be lost to another's magnitude
        self._no_signal_said = False  # a step without a reward difference in any group was said

    def scored(self, verdicts: list[list[dict[str, Any]]], step: int) -> None:
        """Once per verifier: its reward differences were lost to rounding beside another verifier's huge rewards
        (`lost_rewards`), which otherwise shows only as advantages, loss and gradient norm of 0. `step`: the step
        these verdicts are for."""
        for lost, *rest in lost_rewards(verdicts, self.weights):
            if lost not in self._lost_said:
                self._lost_said.add(lost)
                self.log(lost_rewards_warning(step, lost, *rest))

    def stepped(self, row: dict) -> None:
        """Once per verifier: some of its verdicts were error/timeout, and why the first one was (a verifier whose
        every verdict fails is on each step's line instead: `format_step`). Once: a step whose every group got one
        reward learned nothing from it (`no_signal_warning`)."""
        for name, warning in partial_failures(row).items():
            if name not in self._partly_failing:
                self._partly_failing.add(name)
                self.log(warning)
        if not self._no_signal_said and (warning := no_signal_warning(row, self.cfg.sampler.params.max_tokens)):
            self._no_signal_said = True
            self.log(warning)

    def stop_if_failing(self, row: dict, saved_step: int) -> None:
        """Raise VerifierFailing once a verifier failed on every verdict of `train.stop_after_failing_steps` steps in a
        row. Every DDP rank holds the same global row, so all stop together. The step's row is in metrics.jsonl, but
        no checkpoint is written of it: the exception skips the save (in `Trainer.train` as in the flow), as a
        checkpoint would move the resume point past steps that learned nothing, and its evaluation would score a
        policy that the broken verifier never judged. The checkpoints already written stay (`saved_step`: the
        newest, 0 for none), so the same command, once the verifier is fixed, resumes from it and redoes the rest."""
        stop = self._failing.observe(row)
        if stop is None:
            return
        self.log(format_step(row, self.cfg.train.steps))  # the callers log the step's line after run_step returns
        kept = f"the newest checkpoint is step-{saved_step}" if saved_step else "no checkpoint was written"
        raise VerifierFailing(f"{stop}; nothing is saved of step {row['step']}: {kept}, where the same command resumes "
                              "once the verifier is fixed")
