"""Toy verifiers of the scale-out tests, named by import path (`scaleout_rewards:score`), so they must be importable
where verification runs: pool worker processes and Dask workers (this folder is put on their sys.path)."""

from rlvr.verifiers.verdict import Verdict


def score(completion, reference, options=None):
    """1.0 (correct) when the completion has an even number of characters, else 0.0 (wrong)."""
    return Verdict(1.0, "correct", {"rule": "even"}) if len(completion) % 2 == 0 else Verdict(0.0, "wrong", {"rule": "odd"})


def sleepy(completion, reference, options=None):
    """Sleeps `completion` seconds, then `correct`: a verifier that can overrun the pool's hard timeout."""
    import time

    time.sleep(float(completion))
    return Verdict(1.0, "correct", {"rule": "slept"})
