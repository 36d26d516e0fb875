"""verl's reward functions on rlvr's data: the built-in tasks name the hub dataset they load (what verl's
`default_compute_score` dispatches on), and a row whose ground truth is a dict (verl's countdown) reaches a
reward function of the user's as it is, while the math verifier refuses it in one line.

Before: a built-in task's data source was its name (`gsm8k`), so verl's dispatcher raised NotImplementedError for
every completion; a dict ground truth was a bad row whatever the verifier ("should be str or int or float or list").
"""

from pathlib import Path

import pytest

from rlvr.data.config import TaskConfig
from rlvr.data.tasks import load_problems
from rlvr.verifiers.config import VerifierSpec

DATA = Path("/work/shared/data")
COUNTDOWN = [  # verl's layout of TinyZero's countdown task
    {"data_source": "countdown", "prompt": [{"role": "user", "content": f"Make {target} from {numbers}."}],
     "ability": "math", "reward_model": {"style": "rule", "ground_truth": {"target": target, "numbers": numbers}},
     "extra_info": {"index": index}}
    for index, (target, numbers) in enumerate([(13, [3, 5, 2]), (24, [4, 6, 1])])
]
ANSWER = {"answer": "reward_model.ground_truth"}


needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="no /work/shared/data on this machine")


@needs_data
@pytest.mark.parametrize("task, source, hub_id", [
    ("gsm8k", "gsm8k/test.jsonl", "openai/gsm8k"),
    ("math500", "math500/test.jsonl", "HuggingFaceH4/MATH-500"),
    ("humaneval", "humaneval/HumanEval.jsonl.gz", "openai/openai_humaneval"),
    ("mbpp", "mbpp/mbpp.jsonl", "google-research-datasets/mbpp"),
    ("mbpp", "mbpp/sanitized-mbpp.json", "google-research-datasets/mbpp"),
])
def test_a_builtin_tasks_data_source_is_the_hub_dataset_it_loads(task, source, hub_id):
    [p] = load_problems(TaskConfig(name=task, split="test", source=str(DATA / source), limit=1))
    context = p.context()
    assert context["data_source"] == hub_id  # a local copy is the same dataset
    assert context["columns"] and not {"question", "problem", "text"} & set(context["columns"])  # not the prompt


@needs_data
def test_verls_dispatcher_scores_the_builtin_gsm8k_and_math500_tasks(pool):
    gsm8k = load_problems(TaskConfig(name="gsm8k", split="test", source=str(DATA / "gsm8k/test.jsonl"), limit=3))
    all_math500 = load_problems(TaskConfig(name="math500", split="test", source=str(DATA / "math500/test.jsonl")))
    math500 = [p for p in all_math500 if "{" not in p.reference][:3]  # the test scorer's box reader: no nested braces
    scorer = [VerifierSpec(name="verl_user_rewards:default_compute_score")]
    jobs = [(f"so #### {p.reference}", p.reference, scorer, p.context()) for p in gsm8k]
    jobs += [(f"so \\boxed{{{p.reference}}}", p.reference, scorer, p.context()) for p in math500]
    verdicts = [v["verl_user_rewards:default_compute_score"] for _, v in pool.map(jobs)]
    assert [(v.reward, v.status) for v in verdicts] == [(1.0, "correct")] * 6, verdicts[0].detail


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_dict_ground_truth_reaches_a_verl_scorer_as_it_is(pool, tmp_path, suffix, write_rows):
    source = write_rows(COUNTDOWN, tmp_path / f"train{suffix}")
    problems = sorted(load_problems(TaskConfig(name="qa", source=str(source), columns=ANSWER, on_bad_row="fail",
                                               verifier="verl_user_rewards:countdown")), key=lambda p: p.id)
    assert problems[0].context()["ground_truth"] == {"target": 13, "numbers": [3, 5, 2]}
    scorer = [VerifierSpec(name="verl_user_rewards:countdown")]
    jobs = [("<answer>3 * 5 - 2</answer>", problems[0].reference, scorer, problems[0].context()),
            ("<answer>4 * 6 + 1</answer>", problems[1].reference, scorer, problems[1].context()),
            ("<answer>4 * 6 * 1</answer>", problems[1].reference, scorer, problems[1].context())]
    assert [reward for reward, _ in pool.map(jobs)] == [1.0, 0.1, 1.0]


def test_a_dict_ground_truth_reaches_a_trl_function_in_its_column(pool, tmp_path, write_rows):
    source = write_rows(COUNTDOWN, tmp_path / "train.jsonl")
    [p, _] = sorted(load_problems(TaskConfig(name="qa", source=str(source), columns=ANSWER, on_bad_row="fail",
                                             verifier="trl_user_rewards:countdown")), key=lambda p: p.id)
    scorer = [VerifierSpec(name="trl_user_rewards:countdown")]
    [(right, _), (wrong, _)] = pool.map([("<answer>3 * 5 - 2</answer>", p.reference, scorer, p.context()),
                                         ("<answer>3 + 5 + 2</answer>", p.reference, scorer, p.context())])
    assert (right, wrong) == (1.0, 0.0)


@pytest.mark.parametrize("on_bad_row, said", [
    ("fail", "1 bad row|2 bad row"),
    ("skip", "no usable row among 2 — line 1"),  # every row skipped: the error itself says why
])
def test_under_the_math_verifier_a_dict_ground_truth_is_refused_saying_it_needs_text(tmp_path, on_bad_row, said,
                                                                                     write_rows):
    source = write_rows(COUNTDOWN, tmp_path / "train.jsonl")
    with pytest.raises(ValueError, match=said) as caught:
        load_problems(TaskConfig(name="qa", source=str(source), columns=ANSWER, on_bad_row=on_bad_row))
    assert ("field 'reward_model.ground_truth' is a dict (keys target, numbers), but the math verifier needs a text "
            "or a number answer") in str(caught.value) and "task.verifier" in str(caught.value)
