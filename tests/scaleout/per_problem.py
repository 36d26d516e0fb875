"""A sampler wrapper for the scale-out children: one generate call per problem, problem i seeded as in one whole
call (`problem_seed`, vLLM's `seed + i * n`). The hf backend seeds once per call, so without this a rank's share of
the problems would sample differently from the same problems inside one process's batch."""

from __future__ import annotations

from rlvr.sampling.config import problem_seed


class PerProblem:
    """Wraps any sampler; `shared` (the hf backend decoding with the policy's own module) passes through."""

    def __init__(self, inner):
        self.inner, self.shared = inner, getattr(inner, "shared", False)

    def generate(self, problems, n, params):
        groups = []
        for i, p in enumerate(problems):
            groups += self.inner.generate([p], n, params.model_copy(update={"seed": problem_seed(params.seed, i, n)}))
        return groups

    def __getattr__(self, name):  # sync, sync_full, sync_lora, close
        return getattr(self.inner, name)
