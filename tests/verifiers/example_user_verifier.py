"""A user's own verifier: this one file plus one config line
(`verifiers: [{name: "example_user_verifier:score", weight: 0.5, options: {word: "please"}}]`)."""

from dataclasses import dataclass

from rlvr.verifiers.verdict import Verdict

VERSION = "2"


@dataclass(frozen=True)
class PoliteOptions:
    word: str = "please"


def score(completion: str, reference, options: PoliteOptions | None = None) -> Verdict:
    word = (options or PoliteOptions()).word
    ok = word in completion.lower()
    return Verdict(float(ok), "correct" if ok else "wrong", {"rule": "contains", "word": word})


def broken(completion, reference, options=None):
    raise RuntimeError("bug in a user verifier")


def not_finite(completion, reference, options=None):
    """A buggy reward: NaN, +inf or -inf (chosen by the completion), with status `correct`."""
    return Verdict({"nan": float("nan"), "inf": float("inf")}.get(completion, float("-inf")), "correct")
