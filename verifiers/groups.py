"""Sampled groups of completions scored by a verification pool: what a training step and an evaluation both do.

    rewards, verdicts = score_groups(pool, groups, specs)
    rewards[g][i]    # the combined (weighted) reward of completion i of groups[g]
    verdicts[g][i]   # {verifier key: Verdict} of that completion (`registry.spec_keys`)

One job per completion, `(text, problem.reference, specs, problem.context())`, all sent in one `pool.map` (a
`VerifierPool`, or a `TaskRunnerPool` for dask/ray: anything with that `map`), so the pool spreads the whole batch
over its workers and caches repeats across it. A group is anything with `.problem` and `.completions` (each with
`.text`): `sampling.types.Group`.
"""

from __future__ import annotations

from typing import Any

from rlvr.verifiers.verdict import Verdict


def score_groups(pool, groups: list, specs: list) -> tuple[list[list[float]], list[list[dict[str, Verdict]]]]:
    """Every completion of `groups` scored by `specs` through `pool.map`, regrouped: (rewards, verdicts), each
    indexed [group][completion]."""
    jobs = [(c.text, g.problem.reference, specs, g.problem.context()) for g in groups for c in g.completions]
    results = iter(pool.map(jobs))
    rewards: list[list[float]] = []
    verdicts: list[list[dict[str, Any]]] = []
    for group in groups:
        scored = [next(results) for _ in group.completions]
        rewards.append([reward for reward, _ in scored])
        verdicts.append([by_verifier for _, by_verifier in scored])
    return rewards, verdicts
