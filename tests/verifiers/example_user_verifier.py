"""A user's own verifier: this one file plus one config line
(`verifiers: [{name: "example_user_verifier:score", weight: 0.5, options: {word: "please"}}]`)."""

import re
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


class CheckFailed(Exception):
    """An exception with a required extra argument: it pickles, but cannot be read back (a Python pitfall)."""

    def __init__(self, message, line):
        super().__init__(message)
        self.line = line


def unpicklable(completion, reference, options=None):
    """A right answer whose detail cannot cross processes: what it holds is chosen by the completion."""
    held = {"match": lambda: re.search(r"\w+", completion), "lambda": lambda: (lambda: 0),
            "exception": lambda: CheckFailed("no box", 3)}[completion]()
    return Verdict(1.0, "correct", {"rule": "contains", completion: held})


def string_detail(completion, reference, options=None):
    """A detail given as a string, not a dict: refused when the Verdict is built."""
    return Verdict(0.0, "timeout", "grader slow")
