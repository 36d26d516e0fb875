"""Evaluation metrics over n samples per problem: pass@1, unbiased pass@k, maj@k.

pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"): with n samples of
which c are correct, the probability that k samples drawn without replacement contain a correct one,

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n-c+1}^{n} (1 - k / i)

computed in the product form (no huge binomials); it is 1 when n - c < k.
maj@k (majority voting, "self-consistency"): the expected accuracy of the majority answer of k samples, averaged
over every size-k subset of the n samples (drawn without replacement, as pass@k's are),

    maj@k = mean over S in subsets(n, k) of vote(S)

vote(S): the most frequent normalised answer in S wins (samples without an answer do not vote); it counts as
correct if one of its votes in S was judged correct; a tie between t answers scores the fraction of them that
are correct (the expected value of breaking it at random). Averaging over subsets, not voting on the first k
samples, uses all n samples (a lower variance) and makes maj@1 the mean accuracy of the answered samples, which
is pass@1 when every correct sample has an answer. At k = n it is the plain vote of all samples. The subsets are
enumerated when there are at most MAX_SUBSETS of them, else MAX_SUBSETS are drawn with a fixed seed (the estimate
is reproducible; its standard error per problem is at most 0.5 / sqrt(MAX_SUBSETS), about 0.011).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence

import numpy as np

MAX_SUBSETS = 2000  # size-k subsets enumerated per problem (C(8, 4) = 70, C(16, 8) = 12870 is sampled)
SUBSET_SEED = 0


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with n samples, c of them correct."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    miss = 1.0
    for i in range(n - c + 1, n + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """pass@k averaged over problems given (n, c) per problem."""
    if not counts:
        return 0.0
    return sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)


def pass_at_1(correct: Sequence[bool]) -> float:
    """Fraction of correct samples (pass@k with k = 1)."""
    return sum(bool(x) for x in correct) / len(correct) if correct else 0.0


def normalize_answer(answer: str) -> str:
    """Light normalisation for voting: trim, drop a trailing period, collapse spaces, lower-case."""
    text = re.sub(r"\s+", " ", answer.strip()).rstrip(".").strip()
    return text.lower()


def maj_at_k(
    answers: Sequence[str | None],
    correct: Sequence[bool],
    k: int,
    normalize: Callable[[str], str] = normalize_answer,
) -> float:
    """Expected majority-vote accuracy of k of the n samples (module docstring), in [0, 1].

    `answers[i]` is the extracted answer of sample i (None: no answer); `correct[i]` its verdict.
    """
    if len(answers) != len(correct):
        raise ValueError("answers and correct must have the same length")
    n = len(answers)
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    ids: dict[str, int] = {}
    codes = np.array([-1 if a is None else ids.setdefault(normalize(a), len(ids)) for a in answers])
    if not ids:
        return 0.0
    if math.comb(n, k) <= MAX_SUBSETS:
        subsets = np.array(list(itertools.combinations(range(n), k)))
    else:  # k of n without replacement per row: the first k of a random permutation
        subsets = np.random.default_rng(SUBSET_SEED).random((MAX_SUBSETS, n)).argsort(axis=1)[:, :k]
    return float(_votes(codes, np.asarray(correct, dtype=bool), subsets, len(ids)).mean())


def _votes(codes: np.ndarray, correct: np.ndarray, subsets: np.ndarray, answers: int) -> np.ndarray:
    """Per subset (a row of sample indices), its majority vote: 1/0 for a correct/wrong winner, the correct fraction
    of a tie, 0 when no sample of it has an answer. `codes`: each sample's answer number, -1 for none."""
    chosen, right = codes[subsets], correct[subsets]
    row = np.broadcast_to(np.arange(len(subsets))[:, None], chosen.shape)
    cell, voted = row * answers + chosen, chosen >= 0  # (subset, answer) cells, counted by bincount
    size = len(subsets) * answers
    votes = np.bincount(cell[voted], minlength=size).reshape(-1, answers)
    hits = np.bincount(cell[voted & right], minlength=size).reshape(-1, answers) > 0
    top = votes.max(axis=1, keepdims=True)
    winners = (votes == top) & (top > 0)
    return (winners & hits).sum(axis=1) / np.maximum(winners.sum(axis=1), 1)
