"""Reward functions written for TRL's GRPOTrainer (`f(completions, **kwargs) -> list[float]`, `trl_user_rewards.py`)
work as they are: recognised by their `completions` parameter, called on a batch of one completion with the row's
columns as one-element lists (a message for a chat prompt), their one reward made a Verdict, None a `no_answer`.

Before: such a function was taken for rlvr's `fn(completion, reference, options)`: `def f(completions, **kwargs)`
and `def f(completions, solution, **kwargs)` were refused at config load (they cannot take three positional
arguments), and `def f(prompts, completions, answer, **kwargs)` was called with the completion as `prompts`.
"""

import importlib
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from rlvr.data.config import TaskConfig
from rlvr.data.problem import Problem
from rlvr.data.tasks import load_problems
from rlvr.verifiers import registry
from rlvr.verifiers.config import VerifierSpec

M = "trl_user_rewards"
GSM8K = Path("/work/shared/data/gsm8k/test.jsonl")
pytestmark = pytest.mark.usefixtures("on_path")  # trl_user_rewards.py is imported by name (conftest.py)


@pytest.fixture
def seen():
    """What `trl_user_rewards.sees` got, call by call, in this process."""
    calls = importlib.import_module(M).SEEN
    calls.clear()
    return calls


def spec(fn: str, **options) -> VerifierSpec:
    return VerifierSpec(name=f"{M}:{fn}", options=options)


def problem(columns: dict, prompt="What is 2+3?", task="qa") -> Problem:
    return Problem(f"{task}/train/0", task, prompt, "5", {"columns": columns})


def one(fn: str, completion: str, p: Problem | None = None, **options):
    p = p or problem({"solution": "It is \\boxed{5}.", "kind": "math", "shape": "float"})
    _, verdicts = registry.score(completion, p.reference, [spec(fn, **options)], p.context())
    return verdicts[f"{M}:{fn}"]


def test_a_trl_function_gets_a_batch_of_one_with_the_prompt_and_the_rows_columns(seen):
    assert one("sees", "\\boxed{5}").reward == 1.0
    assert seen[-1] == {"completions": ["\\boxed{5}"], "prompts": ["What is 2+3?"], "solution": ["It is \\boxed{5}."],
                    "kind": ["math"], "shape": ["float"]}  # no completion_ids, no trainer_state: not held here


def test_a_chat_prompt_makes_the_completion_a_message_as_in_trls_conversational_format(seen):
    chat = [{"role": "user", "content": "What is 2+3?"}]
    one("sees", "\\boxed{5}", problem({"solution": "\\boxed{5}"}, prompt=chat))
    assert seen[-1]["completions"] == [[{"role": "assistant", "content": "\\boxed{5}"}]]
    assert seen[-1]["prompts"] == [chat]
    assert one("accuracy_reward", "\\boxed{5}", problem({"solution": "\\boxed{5}"}, prompt=chat)).status == "correct"


def test_without_kwargs_only_the_named_columns_are_passed():
    assert one("only_named", "\\boxed{5}").reward == 1.0  # kind and shape, not parameters, were left out


@pytest.mark.parametrize("fn, completion, solution, reward, status, rule", [
    ("accuracy_reward", "so \\boxed{5}", "\\boxed{5}", 1.0, "correct", "trl_score"),
    ("accuracy_reward", "so \\boxed{4}", "\\boxed{5}", 0.0, "wrong", "trl_score"),
    # the gold has no answer: TRL's accuracy_reward returns None; a recorded no_answer, not a silent 0
    ("accuracy_reward", "so \\boxed{4}", "no box here", 0.0, "no_answer", "returned_none"),
    ("format_reward", "\\boxed{4}", "\\boxed{5}", 0.5, "wrong", "trl_score"),  # a format reward: not a solved problem
])
def test_a_trl_return_becomes_a_verdict(fn, completion, solution, reward, status, rule):
    v = one(fn, completion, problem({"solution": solution}))
    assert (v.reward, v.status, v.detail["rule"]) == (reward, status, rule)


def test_none_for_a_row_it_does_not_judge_is_no_answer_with_the_reason():
    v = one("by_kind", "\\boxed{5}", problem({"kind": "code"}))
    assert (v.reward, v.status) == (0.0, "no_answer") and "returned None" in v.detail["note"]
    assert one("by_kind", "\\boxed{5}", problem({"kind": "math"})).status == "correct"


@pytest.mark.parametrize("shape, rule, said", [
    ("float", "not_a_list", "returned float"),  # TRL's functions return a list
    ("dict", "not_a_list", "returned dict"),
    ("two", "wrong_length", "2 rewards for a batch of 1"),
    ("empty", "wrong_length", "0 rewards"),
    ("text", "not_a_score", "returned str"),
    ("nan", "non_finite_reward", "nan"),
])
def test_a_return_that_is_not_one_reward_is_an_error(shape, rule, said):
    v = one("returns", "x", problem({"shape": shape}))
    assert (v.reward, v.status, v.detail["rule"]) == (0.0, "error", rule) and said in v.detail["error"]
    assert one("returns", "x", problem({"shape": "tuple"})).status == "correct"  # a tuple is a list of one


def test_a_column_the_row_lacks_is_an_error_naming_the_rows_columns():
    v = one("accuracy_reward", "\\boxed{5}", problem({"answer": "5", "level": 1}))
    assert (v.status, v.detail["rule"]) == ("error", "missing_column")
    assert "'solution'" in v.detail["error"] and "answer, level" in v.detail["error"]
    raised = one("raises", "x")
    assert (raised.detail["rule"], raised.detail["error"]) == ("verifier_raised", "KeyError: 'solution'")


@pytest.mark.parametrize("fn, said", [("needs_ids", "completion_ids"), ("needs_step", "trainer_state")])
def test_a_function_that_requires_what_rlvr_cannot_pass_is_refused_at_config_load(fn, said):
    with pytest.raises(ValidationError, match=f"requires {said}, which rlvr does not pass"):
        spec(fn)
    with pytest.raises(ValidationError, match=said):
        TaskConfig(name="gsm8k", verifier=f"{M}:{fn}")


def test_a_default_for_trainer_state_is_kept_and_options_are_keyword_arguments():
    assert one("step_if_any", "x").reward == 0.25
    assert one("scaled", "\\boxed{1}", scale=0.5).reward == 0.5
    with pytest.raises(ValidationError, match=r"option\(s\) \['prompts'\] are what TRL passes"):
        spec("scaled", prompts=["p"])
    with pytest.raises(ValidationError, match=r"takes no option\(s\) \['scale'\]"):
        spec("only_named", scale=2)


def test_it_is_recognised_by_its_completions_parameter():
    assert registry.takes_context(f"{M}:accuracy_reward") and registry.takes_context(f"{M}:correctness")
    assert not registry.takes_context("math")


def test_the_rows_values_are_not_changed_by_the_function():
    truth = {"target": 3, "numbers": [1, 2]}
    p = problem({"reward_model": {"style": "rule", "ground_truth": truth}})
    assert one("changes_its_input", "x", p).reward == 1.0
    assert truth == {"target": 3, "numbers": [1, 2]}


def test_a_trl_dataset_and_its_reward_functions_through_the_pool(pool, tmp_path):
    rows = [{"prompt": "2+3?", "solution": "\\boxed{5}"}, {"prompt": "9/3?", "solution": "so \\boxed{3}"}]
    source = tmp_path / "train.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    problems = sorted(load_problems(TaskConfig(name="qa", source=str(source), columns={"answer": "solution"},
                                               on_bad_row="fail")), key=lambda p: p.id)
    specs = [spec("accuracy_reward"), VerifierSpec(name=f"{M}:format_reward", weight=0.1)]
    jobs = [("\\boxed{5}", p.reference, specs, p.context()) for p in problems]
    (r0, v0), (r1, v1) = pool.map(jobs)
    assert (r0, v0[f"{M}:accuracy_reward"].status) == (1.05, "correct")  # the same completion, told apart by the row
    assert (r1, v1[f"{M}:accuracy_reward"].status) == (0.05, "wrong")
    hits = pool.stats["cache_hits"]
    assert pool.map(jobs) == [(r0, v0), (r1, v1)] and pool.stats["cache_hits"] == hits + 4


@pytest.mark.skipif(not GSM8K.is_file(), reason="no /work/shared/data on this machine")
def test_gsm8ks_raw_answer_column_reaches_a_gsm8k_recipes_reward(pool):
    [p] = load_problems(TaskConfig(name="gsm8k", split="test", source=str(GSM8K), limit=1))
    assert "####" in p.context()["columns"]["answer"] and "question" not in p.context()["columns"]
    [(right, _), (wrong, _)] = pool.map([(f"#### {p.reference}", p.reference, [spec("correctness")], p.context()),
                                         ("#### -1", p.reference, [spec("correctness")], p.context())])
    assert (right, wrong) == (2.0, 0.0)
