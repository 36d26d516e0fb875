"""Reward functions as a verl user brings them: verl's signature, a number or a {"score": ...} dict back, no rlvr
import. What each one saw is in its return, so the tests can check what reached it from the row."""

import math
import re

import numpy


def _boxed(text):
    found = re.findall(r"\\boxed\{([^}]*)\}", text)
    return found[-1].strip() if found else None


def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    """verl's gsm8k/math shape: 1.0 right, 0.0 wrong, `format_score` for a box that holds a wrong answer."""
    answer = _boxed(solution_str)
    if answer is None:
        return 0.0
    return 1.0 if answer == str(ground_truth) else 0.1


def dapo_style(data_source, solution_str, ground_truth, extra_info=None, penalty=-1.0):
    """DAPO's dict: score 1 / -1 (`penalty`, an option), `acc` and `pred`; plus what the row gave it."""
    pred = _boxed(solution_str)
    ok = pred == str(ground_truth)
    return {"score": 1.0 if ok else penalty, "acc": ok, "pred": pred, "data_source": data_source,
            "extra_info": extra_info, "ground_truth": ground_truth, "n": numpy.int64(3)}


def scaled(data_source, solution_str, ground_truth, extra_info=None):
    """A reward on its own scale (0.5 for right): `acc` says which answers are right."""
    ok = _boxed(solution_str) == str(ground_truth)
    return {"score": 0.5 if ok else 0.0, "acc": numpy.bool_(ok)}


def by_source(data_source, solution_str, ground_truth, extra_info=None):
    """verl's default_compute_score pattern: the data source picks the rule; the reward says which one ran."""
    if data_source == "strict":
        return float(solution_str.strip() == str(ground_truth))
    return float(str(ground_truth) in solution_str) + (extra_info or {}).get("bonus", 0)


def raises(data_source, solution_str, ground_truth, extra_info=None):
    raise KeyError(data_source)


def not_finite(data_source, solution_str, ground_truth, extra_info=None):
    return {"nan": math.nan, "inf": math.inf, "dict": {"score": math.nan}}[solution_str]


def odd_returns(data_source, solution_str, ground_truth, extra_info=None):
    """Returns that are not a score: chosen by the completion."""
    return {"str": "1.0", "none": None, "list": [1.0], "no_score": {"acc": True}}[solution_str]


def mutates(data_source, solution_str, ground_truth, extra_info=None):
    """Adds keys to extra_info as verl's own managers do; the row's must stay as it was."""
    extra_info["seen"] = True
    return float(len(extra_info))


def no_extra_info(data_source, solution_str, ground_truth):
    """Takes no extra_info: called without it."""
    return 1.0 if data_source == "deepscaler" else 0.0


def hash_answer(solution_str, ground_truth, method="strict", format_score=0.0, score=1.0):
    """The shape of verl's own scorers (its gsm8k's): no data_source or extra_info, options as keyword arguments."""
    found = re.findall(r"#### (\-?[0-9\.,]+)", solution_str)
    if not found:
        return 0.0
    return score if found[-1].replace(",", "") == str(ground_truth) else format_score


def summed(data_source, solution_str, ground_truth, extra_info=None):
    """A composite reward whose parts add up to full marks only up to rounding: 0.3 + 0.6 + 0.1."""
    return 0.3 * ("####" in solution_str) + 0.6 * (str(ground_truth) in solution_str) + 0.1 * (len(solution_str) < 99)


def keyword_only(*, data_source, solution_str, ground_truth, **kwargs):
    return float(solution_str == ground_truth)


def countdown(solution_str, ground_truth, format_score=0.1, score=1.0):
    """TinyZero's countdown shape: `ground_truth` is {"target": 24, "numbers": [...]}; the equation in the last
    <answer>...</answer> must use each number once and reach the target; a wrong equation gets `format_score`."""
    found = re.findall(r"<answer>(.*?)</answer>", solution_str)
    if not found:
        return 0.0
    equation = found[-1]
    if not re.fullmatch(r"[\d+\-*/() .]+", equation):
        return format_score
    if sorted(int(n) for n in re.findall(r"\d+", equation)) != sorted(ground_truth["numbers"]):
        return format_score
    try:
        value = eval(equation, {"__builtins__": None}, {})
    except (SyntaxError, ZeroDivisionError, TypeError):
        return format_score
    return score if abs(value - ground_truth["target"]) < 1e-5 else format_score


def default_compute_score(data_source, solution_str, ground_truth, extra_info=None):
    """verl's dispatcher's shape: the data source picks the scorer; an unknown one raises NotImplementedError."""
    if data_source == "openai/gsm8k":
        return hash_answer(solution_str, ground_truth)
    if data_source in ("lighteval/MATH", "DigitalLearningGmbH/MATH-lighteval", "HuggingFaceH4/MATH-500"):
        return float(_boxed(solution_str) == str(ground_truth))
    raise NotImplementedError(f"Reward function is not implemented for {data_source=}")
