"""Reward functions as a TRL user brings them: `f(completions, **kwargs) -> list[float]` over a batch, the dataset's
columns as keyword arguments holding lists, no rlvr import. `SEEN` keeps what each call of `sees` got, for the
tests that run it in their own process."""

import math
import re

SEEN = []


def _text(completion):
    """A completion's text: conversational datasets give it as [{"role": "assistant", "content": ...}]."""
    return completion[0]["content"] if isinstance(completion, list) else completion


def _last_box(text):
    """The content of the last \\boxed{...}, nested braces included; None without one."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, begin = 0, start + len("\\boxed{")
    for i in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth < 0:
            return text[begin:i].strip()
    return None


def accuracy_reward(completions, solution, **kwargs):
    """TRL's accuracy_reward shape: 1.0 / 0.0 against the `solution` column; None when the gold has no answer."""
    rewards = []
    for completion, gold_text in zip(completions, solution):
        gold = _last_box(gold_text)
        rewards.append(None if gold is None else float(_last_box(_text(completion)) == gold))
    return rewards


def correctness(prompts, completions, answer, **kwargs):
    """The well-known GSM8K recipe's shape: `prompts` first, the raw `answer` column (`... #### 72`), 2.0 if right."""
    golds = [a.split("####")[-1].strip().replace(",", "") for a in answer]
    said = [re.findall(r"####\s*(-?[\d,.]+)", _text(c)) for c in completions]
    return [2.0 if s and s[-1].replace(",", "") == g else 0.0 for s, g in zip(said, golds)]


def format_reward(completions, **kwargs):
    """A format reward: 0.5 for a boxed answer."""
    return [0.5 if "\\boxed{" in _text(c) else 0.0 for c in completions]


def by_kind(completions, kind, **kwargs):
    """A multi-task reward: None for the rows it does not judge."""
    return [float("\\boxed{" in _text(c)) if k == "math" else None for c, k in zip(completions, kind)]


def _countdown(equation, target, numbers):
    if not re.fullmatch(r"[\d+\-*/() .]+", equation):
        return False
    if sorted(int(n) for n in re.findall(r"\d+", equation)) != sorted(numbers):
        return False
    try:
        return abs(eval(equation, {"__builtins__": None}, {}) - target) < 1e-5
    except (SyntaxError, ZeroDivisionError, TypeError):
        return False


def countdown(completions, reward_model, **kwargs):
    """Countdown in verl's layout: `reward_model["ground_truth"]` is {"target": 24, "numbers": [...]}; the equation
    in the last <answer>...</answer> must use each number once and reach the target."""
    rewards = []
    for completion, model in zip(completions, reward_model):
        truth = model["ground_truth"]
        found = re.findall(r"<answer>(.*?)</answer>", _text(completion))
        rewards.append(float(bool(found) and _countdown(found[-1], truth["target"], truth["numbers"])))
    return rewards


def sees(completions, prompts, **kwargs):
    """Keeps what it got."""
    SEEN.append({"completions": completions, "prompts": prompts, **kwargs})
    return [1.0] * len(completions)


def only_named(completions, solution):
    """No **kwargs: gets `completions` and the one column it names."""
    return [float(_last_box(_text(c)) == _last_box(s)) for c, s in zip(completions, solution)]


def changes_its_input(completions, reward_model, **kwargs):
    """Writes into the dict it is given; the row's must stay as it was."""
    for model in reward_model:
        model["ground_truth"]["seen"] = True
    return [1.0 for _ in completions]


def returns(completions, shape, **kwargs):
    """Returns chosen by the row's `shape` column."""
    return {"float": 1.0, "two": [1.0, 1.0], "empty": [], "text": ["1"], "nan": [math.nan], "dict": {"score": 1.0},
            "tuple": (1.0,)}[shape[0]]


def raises(completions, **kwargs):
    raise KeyError("solution")


def needs_ids(completions, completion_ids, **kwargs):
    """A length penalty on token ids: a verification job has the text only."""
    return [-0.001 * len(ids) for ids in completion_ids]


def needs_step(completions, trainer_state, **kwargs):
    return [min(1.0, trainer_state.global_step / 100) for _ in completions]


def step_if_any(completions, trainer_state=None, **kwargs):
    """Takes the trainer state when there is one."""
    return [0.25 if trainer_state is None else 1.0 for _ in completions]


def scaled(completions, scale=1.0, **kwargs):
    """An extra keyword argument (an option in rlvr's config)."""
    return [scale * ("\\boxed{" in _text(c)) for c in completions]
