"""What the math regression tables check per row (a module of its own: the tables live in several test files)."""

from rlvr.verifiers.math import verify


def rewarded(gold, completion) -> bool:
    """Whether `completion` is rewarded for `gold`, after checking the verifier decided (no error/timeout/unsafe)."""
    v = verify(completion, gold)
    assert v.status in ("correct", "wrong", "no_answer"), v
    return v.status == "correct"
