"""A deterministic reward for benchmarks on random models: a coin flipped by the completion's text.

    verify.verifiers: [{name: "bench.coin_reward:score"}]        # rlvr, through the import-path verifier

A randomly initialised model never answers a task correctly, so every group's rewards would be equal and every
advantage zero: the update would be skipped and the benchmark would time nothing. Hashing the text gives each
completion a reward of 0 or 1 that does not depend on the process, the order or the side (rlvr or TRL), so both
sides see the same rewards for the same texts and groups with different texts get non-zero advantages.
"""

from __future__ import annotations

import hashlib

from rlvr.verifiers.verdict import Verdict


def score(completion: str, reference=None, options=None) -> Verdict:
    digest = hashlib.sha256(completion.encode("utf-8", "surrogatepass")).digest()
    heads = digest[0] & 1
    return Verdict(float(heads), "correct" if heads else "wrong", {"sha256_first_byte": digest[0]})
