"""pass@k / maj@k on hand-computed cases."""

import math

import pytest

from rlvr.trainers.passk import maj_at_k, mean_pass_at_k, normalize_answer, pass_at_1, pass_at_k


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (5, 2, 1, 0.4),  # c / n
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (5, 0, 3, 0.0),  # nothing correct
        (5, 3, 3, 1.0),  # n - c = 2 < k: every draw of 3 holds a correct one
        (10, 1, 5, 0.5),  # 1 - C(9,5)/C(10,5) = 1 - 126/252
        (4, 4, 4, 1.0),
    ],
)
def test_pass_at_k_by_hand(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_is_stable_for_large_n():
    # C(1000, 500) overflows a float; the product form does not
    n, c, k = 1000, 3, 500
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)  # exact integers, then one division
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12)


def test_pass_at_k_rejects_bad_arguments():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_mean_pass_at_k_and_pass_at_1():
    assert mean_pass_at_k([(5, 2), (5, 0)], 1) == pytest.approx(0.2)
    assert pass_at_1([True, False, False, True]) == 0.5


def test_maj_at_k_majority_is_correct():
    answers = ["4", "5", " 4.", "5", None]
    correct = [True, False, True, False, False]
    assert maj_at_k(answers[:3], correct[:3], k=3) == 1.0  # "4" x2 vs "5" x1
    assert maj_at_k(answers[:4], correct[:4], k=4) == 0.5  # tie 2-2: one of the two tied answers is right


def test_maj_at_k_wrong_majority_and_no_answers():
    assert maj_at_k(["7", "7", "3"], [False, False, True], k=3) == 0.0
    assert maj_at_k([None, None], [False, False], k=2) == 0.0
    # subsets of maj@k, hand-computed: tests/trainers/test_maj_at_k.py


def test_normalize_answer():
    assert normalize_answer("  The   Answer. ") == "the answer"
