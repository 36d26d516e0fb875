"""Reward hacking and hostile input must give reward 0 with a status. Each is bounded by the verifier's deadline
(a killed helper, tested below by its `timeout` verdict); the wall-clock figures (every case under 2 s) are measured
by bench/verifiers.py (ADVERSARIAL), not asserted here."""

import os

from rlvr.verifiers.math import HELPER, MathOptions, verify


def _judge(completion, gold="3", options=None):
    v = verify(completion, gold, options)
    assert v.reward == 0.0 and v.status in ("wrong", "unsafe", "no_answer", "timeout"), v
    return v


def test_conflicting_boxes_are_wrong():
    assert _judge("\\boxed{3} or maybe \\boxed{5}").detail["pred"] == "5"  # the last box is the answer


def test_many_boxes_count_as_their_last_only():
    v = _judge("\\boxed{1} \\boxed{2} \\boxed{3} \\boxed{4}")
    assert v.status == "wrong" and v.detail["pred"] == "4"


def test_list_of_candidates_in_one_box_is_wrong():
    _judge("\\boxed{3, 5, 7}")


def test_or_of_equations_is_wrong():
    _judge("\\boxed{x = 3 \\text{ or } x = 5}")


def test_power_tower_is_refused():
    assert _judge("\\boxed{9^{9^{9^{9}}}}").status == "unsafe"


def test_huge_factorial_is_refused():
    assert _judge("\\boxed{1000000!}").status == "unsafe"


def test_huge_plain_power_is_refused():
    assert _judge("\\boxed{10**10**10}").status == "unsafe"


def test_100k_characters_of_noise():
    _judge("a" * 100_000)


def test_100k_characters_inside_a_box():
    assert _judge("\\boxed{" + "1+" * 50_000 + "1}").status in ("unsafe", "no_answer", "wrong")


def test_many_unclosed_boxes_stay_linear():
    _judge("\\boxed{" * 20_000)


def test_too_long_completion_is_unsafe():
    assert _judge("x" * 300_000 + "\\boxed{3}").status == "unsafe"


def test_malformed_latex_is_wrong():
    _judge("\\boxed{\\frac{1}{}")


def test_unbalanced_parentheses():
    _judge("\\boxed{((3}")


def test_null_bytes_are_unsafe():
    assert _judge("\\boxed{3}\x00").status == "unsafe"


def test_python_injection_in_plain_text_is_not_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    v = _judge(f"\\boxed{{__import__('os').system('touch {marker}')**2}}")
    assert not marker.exists() and not os.path.exists(marker), "the injected code ran"
    assert v.status == "wrong"


def test_no_answer_without_fallback():
    v = verify("I think it is three", "3", MathOptions(last_number_fallback=False))
    assert v.status == "no_answer" and v.reward == 0.0


def test_last_number_fallback_can_be_switched_off():
    assert verify("so we get 3", "3").status == "correct"
    assert verify("so we get 3", "3", MathOptions(last_number_fallback=False)).status == "no_answer"


def test_symbolic_step_has_a_hard_deadline():
    # an expensive but size-legal simplification: the helper is killed at the deadline
    hard = "\\boxed{" + "+".join(f"\\sin^{{{k}}}(x)\\cos^{{{k+1}}}(x)" for k in range(1, 13)) + "}"
    verify("\\boxed{\\sqrt{4}}", "2")  # make sure the helper is warm
    v = verify(hard, "\\tan(x)", MathOptions(timeout_s=0.02))
    assert v.reward == 0.0 and v.status == "timeout" and v.detail["rule"] == "deadline"
    assert verify("\\boxed{(x+1)^2}", "x^2+2x+1").status == "correct"  # a fresh helper took over


def test_helper_restarts_after_shutdown():
    HELPER.shutdown()
    assert verify("\\boxed{(x+1)^2}", "x^2+2x+1").status == "correct"
