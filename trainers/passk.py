"""Evaluation metrics over n samples per problem: pass@1, unbiased pass@k, maj@k.

pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"): with n samples of
which c are correct, the probability that k samples drawn without replacement contain a correct one,

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n-c+1}^{n} (1 - k / i)

computed in the product form (no huge binomials); it is 1 when n - c < k.
maj@k: the most frequent normalised answer among the first k samples (ties: the answer seen first;
samples without an answer do not vote) is correct.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence


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
    """1.0 if the majority answer among the first k samples is correct, else 0.0.

    `answers[i]` is the extracted answer of sample i (None: no answer); `correct[i]` its verdict.
    The majority answer counts as correct if any of its votes was judged correct.
    """
    if len(answers) != len(correct):
        raise ValueError("answers and correct must have the same length")
    votes: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    right: set[str] = set()
    for i, (answer, ok) in enumerate(zip(answers[:k], correct[:k])):
        if answer is None:
            continue
        key = normalize(answer)
        votes[key] += 1
        first_seen.setdefault(key, i)
        if ok:
            right.add(key)
    if not votes:
        return 0.0
    winner = max(votes, key=lambda a: (votes[a], -first_seen[a]))
    return 1.0 if winner in right else 0.0
