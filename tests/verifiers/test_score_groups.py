"""`score_groups`: the one way a training step and an evaluation score sampled groups (one pool batch, regrouped by
problem), on a real VerifierPool with the math verifier and rows whose context a TRL-style function reads."""

import os

from rlvr.data.problem import Problem
from rlvr.sampling.types import Completion, Group
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.groups import score_groups
from rlvr.verifiers.pool import VerifierPool

PLUGINS = os.path.dirname(__file__)  # trl_user_rewards.py


def _group(pid, reference, texts, columns=None):
    problem = Problem(id=pid, task="qa", prompt=f"question {pid}", reference=reference,
                      meta={"columns": columns or {}})
    return Group(problem, [Completion(pid, text, [1], [1], None, "stop") for text in texts])


def test_groups_of_different_sizes_come_back_in_their_order(monkeypatch):
    monkeypatch.syspath_prepend(PLUGINS)
    groups = [_group("a", "4", ["\\boxed{4} #### 4", "\\boxed{5} #### 5", "\\boxed{4}"], {"answer": "#### 4"}),
              _group("b", "7", ["\\boxed{7} #### 7"], {"answer": "#### 7"}),
              _group("c", "1", [])]  # a group the sampler left empty scores nothing, and keeps its place
    specs = [VerifierSpec(name="math"), VerifierSpec(name="trl_user_rewards:correctness", weight=0.5)]
    with VerifierPool(workers=1, timeout_s=10, prestart_math=False) as pool:
        rewards, verdicts = score_groups(pool, groups, specs)
    # math 1 / 0 / 1, plus half of the TRL function's 2.0 where the completion's `#### N` is the row's own answer
    assert rewards == [[2.0, 0.0, 1.0], [2.0], []]
    statuses = [[v["math"].status for v in group] for group in verdicts]
    assert statuses == [["correct", "wrong", "correct"], ["correct"], []]

