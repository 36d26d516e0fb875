"""What the verifiers give, watched across a run's steps (the per-step counts are trainers/metrics.py's):

- `FailingStreak`: a verifier whose every verdict is error/timeout on `train.stop_after_failing_steps` consecutive
  steps stops the run with `VerifierFailing` (exit 1, one line): it is failing, not the policy, and the run would
  otherwise train to its end on no signal (TRL stops at a reward function's first exception).
- `lost_rewards`: a verifier whose reward differences within a group are below float32's resolution next to the
  group's largest weighted reward (another verifier's 1e30): they vanish from the combined reward, the group's
  advantages are 0, and nothing says why. The Trainer says it once per run and verifier.
- `no_signal_warning`: a step on which every group's completions got one reward (TRL's `frac_reward_zero_std` at 1)
  learns nothing from the reward; its line shows only zeros. The Trainer says it once per run, with why where the
  step's row shows it: every completion cut at max_tokens, none correct, all correct.
"""

from __future__ import annotations

import math

from rlvr.trainers.metrics import failing_verifiers, row_failure_reason
from rlvr.verifiers.verdict import STATUSES

# float32's unit roundoff: the advantages are computed in float32 (GRPO's and PPO's rewards are float32 tensors), and
# x + d == x there when |d| <= |x| * 2**-24. A reward difference that small beside the group's largest weighted reward
# is lost to rounding, whatever the magnitudes: a rule without a magic "too large" constant, which flags 1e30 beside
# rewards in [0, 1] and leaves a verifier at 1e3 beside them alone (its neighbours still count).
FLOAT32_ROUNDOFF = 2.0**-24


class VerifierFailing(RuntimeError):
    """A verifier failed (error/timeout) on every verdict of `train.stop_after_failing_steps` consecutive steps. A
    RuntimeError from rlvr: `rlvr train` ends with its message as one line and exit 1 (flows/errors.py)."""


class FailingStreak:
    """Counts, per verifier, the consecutive steps on which every verdict was error/timeout (`failing_verifiers`,
    what the step's WARNING is based on). The count is this Trainer's: a resumed run starts it at 0."""

    def __init__(self, limit: int, primary: str):
        self.limit, self.primary = limit, primary
        self._streaks: dict[str, dict] = {}  # metric name ("" for the primary) -> steps, first step, verdicts, reason

    def observe(self, row: dict) -> str | None:
        """Count the step of `row`; the stop message when a verifier's streak reaches the limit (0: never)."""
        failing = failing_verifiers(row)
        self._streaks = {name: streak for name, streak in self._streaks.items() if name in failing}
        for name in failing:
            streak = self._streaks.setdefault(name, {"steps": 0, "first": row["step"], "verdicts": 0,
                                                     "reason": row_failure_reason(row, name)})
            streak["steps"] += 1
            streak["verdicts"] += row["completions"]
        for name in failing:  # the primary first: its failure is the one that leaves nothing to learn
            streak = self._streaks[name]
            if self.limit and streak["steps"] >= self.limit:
                who = self.primary if name == "" else name
                return (f"verifier {who!r} failed (error/timeout) on every verdict of {streak['steps']} consecutive "
                        f"steps ({streak['first']}-{row['step']}, {streak['verdicts']} verdicts; first: "
                        f"{streak['reason'] or 'no reason given'}): the verifier is failing, not the policy; stopped "
                        f"by train.stop_after_failing_steps={self.limit} (0 never stops)")
        return None


def lost_rewards(verdicts: list[list[dict]], weights: dict[str, float]) -> list[tuple[str, str, float, float]]:
    """(lost verifier, swamping verifier, the lost one's reward spread, the swamping weighted reward) for each verifier
    whose weighted rewards differ within some group by at most FLOAT32_ROUNDOFF times the group's largest weighted
    reward (|weight * reward| over every verifier and completion of the group): a difference the combined reward
    cannot hold. `verdicts[g][i]`: verifier key -> Verdict; `weights`: verifier key -> weight. One entry per lost
    verifier, from its first such group."""
    found: dict[str, tuple[str, str, float, float]] = {}
    for group in verdicts:
        terms: dict[str, list[float]] = {}
        for verdict_of in group:
            for key, verdict in verdict_of.items():
                term = weights.get(key, 0.0) * verdict.reward
                if math.isfinite(term):  # a non-finite reward stops the step elsewhere (NonFiniteError)
                    terms.setdefault(key, []).append(term)
        if not terms:
            continue
        largest_key = max(terms, key=lambda key: max(abs(t) for t in terms[key]))
        largest = max(abs(t) for t in terms[largest_key])
        for key, values in terms.items():
            spread = max(values) - min(values)
            if key not in found and 0 < spread <= largest * FLOAT32_ROUNDOFF:
                found[key] = (key, largest_key, spread, largest)
    return list(found.values())


def lost_rewards_warning(step: int, lost: str, swamping: str, spread: float, largest: float) -> str:
    beside = f"the weighted reward {largest:.3g} of verifier {swamping!r}" if swamping != lost else \
        f"its own weighted reward {largest:.3g}"
    return (f"warning: step {step}: the rewards of verifier {lost!r} differ within a group by {spread:.3g}, below "
            f"float32's resolution beside {beside} (2^-24 of it; advantages are float32): they are lost from the "
            f"combined reward, and a group they alone tell apart teaches nothing (advantages 0); scale the rewards or "
            f"weight of {swamping!r} down (said once per run and verifier)")


def no_signal_warning(row: dict, max_tokens: int) -> str | None:
    """A warning when no group of the step tells its completions apart (`zero_variance_frac` 1) and none was learned
    from (`groups_kept` 0, where the algorithm counts it: NGRPO's virtual sample still teaches an all-wrong group);
    None otherwise, and when the primary verifier failed on every verdict (the step's line says so). The cause, where
    the row shows it: every completion truncated at `max_tokens`, none correct (the primary verifier's status counts),
    or all correct."""
    if not row.get("completions") or row.get("zero_variance_frac", 0.0) < 1.0 or row.get("groups_kept", 0.0) > 0:
        return None
    if "" in failing_verifiers(row):  # the step's own line says why already: the verifier fails on everything
        return None
    if row.get("truncation_rate", 0.0) >= 1.0:
        why = f"every completion was cut at sampler.params.max_tokens={max_tokens} before it ended: raise it"
    elif row.get("accuracy") == 0.0:
        counts = ", ".join(f"{status} {round(row[f'status/{status}'] * row['completions'])}" for status in STATUSES
                           if row.get(f"status/{status}"))
        why = (f"no completion is correct ({counts}): the task is too hard for this model, or the verifier never "
               "rewards its answers (`rlvr verify` scores a file of completions)")
    elif row.get("accuracy") == 1.0:
        why = "every completion is correct: the task is too easy for this model"
    else:
        why = f"each group's rewards are equal (mean {row.get('reward_mean', 0.0):.3g})"
    return (f"warning: step {row['step']}: no group's completions got different rewards, so the step learns nothing "
            f"from the reward (zero_variance_frac 1.0): {why} (said once per run; metrics.jsonl has zero_variance_frac "
            f"and truncation_rate at every step)")
