"""maj@k is the majority vote's expected accuracy over every k of the n samples. Was: the vote of the first k samples
only, so an eval report showed maj@1 0.35 beside pass@1 0.2625 on the same samples (a user audit): maj@1 was the
first sample's accuracy."""

import itertools
import random

import pytest

from rlvr.flows.eval_report import summarize_suite
from rlvr.trainers.passk import maj_at_k, pass_at_1


def _record(statuses, answers):
    return {"id": "p", "status": statuses, "answers": answers, "greedy": None}


def test_maj_at_1_is_pass_at_1_of_the_same_samples():
    # the audit's shape: the first sample is right, most of the others wrong
    records = [_record(["correct", "wrong", "wrong", "wrong"], ["4", "5", "6", "5"]),
               _record(["wrong", "correct", "correct", "wrong"], ["1", "2", "2", "3"]),
               _record(["wrong", "no_answer", "wrong", "correct"], ["8", None, "8", "9"])]
    out = summarize_suite(records, n=4, ks=[1, 2, 4])
    assert out["maj@1"] == pytest.approx(out["pass@1"]) == pytest.approx(4 / 12)


@pytest.mark.parametrize("seed", range(20))
def test_maj_at_1_equals_the_mean_accuracy_on_random_samples(seed):
    draw = random.Random(seed)
    n = draw.randint(1, 9)
    answers = [draw.choice(["1", "2", "3"]) for _ in range(n)]
    correct = [answer == "2" for answer in answers]
    assert maj_at_k(answers, correct, 1) == pytest.approx(pass_at_1(correct))


def test_maj_at_k_averages_the_vote_over_every_subset():
    answers, correct = ["4", "4", "5", "6"], [True, True, False, False]
    # hand count, the 6 pairs: {4,4} right; {4,5} x2, {4,6} x2: ties, half right; {5,6}: tie, none right -> 3/6
    assert maj_at_k(answers, correct, 2) == pytest.approx(0.5)
    # the 4 triples: {4,4,5}, {4,4,6} right; {4,5,6} x2: three-way tie, one of three right -> (2 + 2/3) / 4
    assert maj_at_k(answers, correct, 3) == pytest.approx((2 + 2 / 3) / 4)
    assert maj_at_k(answers, correct, 4) == 1.0  # all four: "4" has 2 votes


def test_maj_at_n_is_the_plain_vote_and_a_tie_scores_its_correct_fraction():
    assert maj_at_k(["7", "7", "3"], [False, False, True], 3) == 0.0
    assert maj_at_k(["5", "4", "5", "4"], [False, True, False, True], 4) == 0.5  # was 0 or 1 by which came first
    assert maj_at_k([None, None], [False, False], 2) == 0.0  # no answer, no vote


def test_many_subsets_are_sampled_reproducibly_close_to_the_exact_value():
    from rlvr.trainers.passk import MAX_SUBSETS

    answers = ["1"] * 7 + ["2"] * 5 + ["3"] * 4
    correct = [a == "2" for a in answers]
    exact = sum(_plain_vote(answers, correct, s) for s in itertools.combinations(range(16), 8)) / 12870
    assert 12870 > MAX_SUBSETS  # C(16, 8): sampled, not enumerated
    estimate = maj_at_k(answers, correct, 8)
    assert estimate == maj_at_k(answers, correct, 8)  # a fixed seed: the same report twice
    assert estimate == pytest.approx(exact, abs=0.04)


def _plain_vote(answers, correct, subset):
    votes = {}
    for i in subset:
        votes[answers[i]] = votes.get(answers[i], 0) + 1
    top = max(votes.values())
    winners = [a for a, v in votes.items() if v == top]
    return sum(any(correct[i] for i in subset if answers[i] == a) for a in winners) / len(winners)
