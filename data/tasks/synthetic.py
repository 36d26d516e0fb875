"""Shared plumbing of the synthetic tasks: deterministic, disjoint train/test splits from a seed."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from typing import TypeVar

from rlvr.data.config import TaskConfig

T = TypeVar("T")
DEFAULT_SIZE = {"train": 2000, "test": 200}
_TEST_SHARE = 10  # one key in ten belongs to the held-out split


def split_of(key: str) -> str:
    """Which split a problem belongs to, by a hash of its text, so the splits never overlap."""
    digest = int(hashlib.sha1(key.encode()).hexdigest(), 16)
    return "test" if digest % _TEST_SHARE == 0 else "train"


def generate_split(cfg: TaskConfig, make: Callable[[random.Random, int], tuple[str, T]]) -> list[tuple[str, T]]:
    """Draw distinct items `make(rng, level) -> (key, item)` whose key hashes into `cfg.split`.

    The same (seed, level, split, limit) always gives the same list, and a larger limit extends it.
    A level whose split has fewer distinct problems than asked is an error once the draws stop finding new
    problems of either split: 20 x (distinct keys seen + 100) draws in a row without one. A level with K
    problems is exhausted after ~K draws per new key at most, so the chance to give up with one still unseen is
    below e^-20; and giving up takes a fraction of a second instead of 200 draws per requested problem.
    """
    size = cfg.limit or DEFAULT_SIZE[cfg.split]
    rng = random.Random(f"{cfg.seed}:{cfg.level}:{cfg.split}")
    seen: set[str] = set()  # keys of both splits
    out: list[tuple[str, T]] = []
    attempts = misses = 0
    while len(out) < size:
        attempts += 1
        if attempts > 200 * size or misses > 20 * (len(seen) + 100):
            raise ValueError(
                f"level {cfg.level} has too few distinct {cfg.split} problems for limit={size} (found "
                f"{len(out)}); lower the limit"
            )
        key, item = make(rng, cfg.level)
        if key in seen:
            misses += 1
            continue
        misses = 0
        seen.add(key)
        if split_of(key) == cfg.split:
            out.append((key, item))
    return out
