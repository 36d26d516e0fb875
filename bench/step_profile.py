"""Where a training step's time goes: wall-clock per phase of `Trainer.run_step`, for benchmarks.

    from bench.step_profile import StepProfiler     # bench/grpo_vs_trl.py --profile
    with StepProfiler(trainer) as prof:
        row = trainer.run_step()
    prof.phases   # {"generate": s, "verify": s, "old_logprobs": s, "ref_logprobs": s, "forward": s,
                  #  "backward": s, "optimizer": s, "sync": s, "other": s, "total": s}

Measurement only, and kept out of the library: inside the `with` block the sampler's `generate`/`sync`, the
verifier's `map`, the optimizer's `step` and gradient clipping, the policy's no-grad pass `Policy.logprobs`
(old or reference, by its `reference` argument), the forward functions of trainers/shared_prompt.py and
`Tensor.backward` are wrapped with timers; on exit the originals are put back. `other` is the step's time outside every named phase (batching,
advantages, metrics). Only the outermost phase counts a call made inside another (the old-log-prob pass's
forwards count as `old_logprobs`, not `forward`), so the phases add up to `total`.
"""

from __future__ import annotations

import time
from collections import defaultdict

import torch

PHASES = ("generate", "verify", "old_logprobs", "ref_logprobs", "forward", "backward", "optimizer", "sync")


class StepProfiler:
    def __init__(self, trainer):
        self.trainer = trainer
        self.totals: dict[str, float] = defaultdict(float)
        self._restore: list[tuple[object, str, object]] = []
        self._open: list[str] = []  # the phase being timed, if any: inner phases are not counted twice
        self.phases: dict[str, float] = {}

    def _timed(self, phase, fn):
        """`fn` timed under `phase`: a name, or a function of the call's (args, kwargs) that gives one."""
        totals, open_phases = self.totals, self._open

        def wrapper(*args, **kwargs):
            if open_phases:  # called inside another phase (a no-grad pass's forwards): counted there
                return fn(*args, **kwargs)
            open_phases.append(phase if isinstance(phase, str) else phase(args, kwargs))
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[open_phases.pop()] += time.perf_counter() - started

        return wrapper

    def _wrap(self, owner, name: str, phase) -> None:
        original = getattr(owner, name)
        self._restore.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, self._timed(phase, original))

    def __enter__(self) -> "StepProfiler":
        import rlvr.trainers.shared_prompt as shared_prompt

        t = self.trainer
        self._wrap(t.sampler, "generate", "generate")
        self._wrap(t.sampler, "sync", "sync")
        self._wrap(t.pool, "map", "verify")
        self._wrap(t.optimizer, "step", "optimizer")
        self._wrap(torch.nn.utils, "clip_grad_norm_", "optimizer")
        self._wrap(t.policy, "logprobs", lambda _args, kwargs: "ref_logprobs" if kwargs.get("reference") else "old_logprobs")
        # the loss forward: both kinds of micro-batch (the no-grad passes above call these too, inside their own timers)
        self._wrap(shared_prompt, "token_logprobs", "forward")
        self._wrap(shared_prompt, "grouped_logprobs", "forward")
        self._wrap(torch.Tensor, "backward", "backward")
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        total = time.perf_counter() - self._started
        for owner, name, original in reversed(self._restore):
            if original is _MISSING:
                delattr(owner, name)  # it was the class's method, seen through the instance
            else:
                setattr(owner, name, original)
        self._restore.clear()
        self.phases = {p: self.totals.get(p, 0.0) for p in PHASES}
        self.phases["other"] = total - sum(self.phases.values())
        self.phases["total"] = total


_MISSING = object()
