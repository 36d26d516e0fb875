"""Reward functions written for verl (`compute_score(data_source, solution_str, ground_truth, extra_info=None)`,
`verl_user_rewards.py`) work as they are: recognised by their parameter names, called by keyword with the row's
data_source and extra_info, their number or {"score": ...} dict made a Verdict; 3-argument plug-ins unchanged.

Before: such a function passed the signature check (it takes three positional arguments) and was called
`fn(completion, reference, options)`: its float came back as an `error` verdict (rule `not_a_verdict`) for every
completion, and nothing of the row reached it.
"""

import json
from types import SimpleNamespace

import pytest

from rlvr.data.config import TaskConfig
from rlvr.data.problem import Problem
from rlvr.data.tasks import load_problems
from rlvr.verifiers import cli, registry
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.task_runner import TaskRunnerPool

M = "verl_user_rewards"
ROW = {"data_source": "deepscaler", "extra_info": {"index": 7, "split": "train"}, "ground_truth": "5"}


def spec(fn: str, **options) -> VerifierSpec:
    return VerifierSpec(name=f"{M}:{fn}", options=options)


def one(fn: str, completion: str, reference="5", context=ROW, **options):
    _, verdicts = registry.score(completion, reference, [spec(fn, **options)], context)
    return verdicts[f"{M}:{fn}"]


@pytest.mark.parametrize("fn, completion, reward, status", [
    ("compute_score", "so \\boxed{5}", 1.0, "correct"),  # verl's 1.0: a right answer
    ("compute_score", "so \\boxed{4}", 0.1, "wrong"),  # a format-only partial score is a reward, not a solved problem
    ("compute_score", "no box", 0.0, "wrong"),  # verl's 0.0
    ("dapo_style", "\\boxed{4}", -1.0, "wrong"),  # DAPO's -1 for a wrong answer
    ("dapo_style", "\\boxed{5}", 1.0, "correct"),
    ("scaled", "\\boxed{5}", 0.5, "correct"),  # its own scale: its `acc` (a numpy.bool_) says right
    ("scaled", "\\boxed{4}", 0.0, "wrong"),
    ("by_source", "5", 1.0, "correct"),  # data_source "deepscaler": the loose rule, extra_info has no bonus
])
def test_a_verl_return_becomes_a_verdict_with_its_reward(on_path, fn, completion, reward, status):
    v = one(fn, completion)
    assert (v.reward, v.status, v.detail["rule"], v.detail["score"]) == (reward, status, "verl_score", reward)


@pytest.mark.parametrize("fn, completion, rule, said", [
    ("raises", "x", "verifier_raised", "KeyError: 'deepscaler'"),  # raised with the row's data source
    ("not_finite", "nan", "non_finite_reward", "nan"),
    ("not_finite", "inf", "non_finite_reward", "inf"),
    ("not_finite", "dict", "non_finite_reward", "nan"),  # {"score": nan}
    ("odd_returns", "str", "not_a_score", "returned str"),  # "1.0" is text, not a score
    ("odd_returns", "none", "not_a_score", "returned NoneType"),
    ("odd_returns", "list", "not_a_score", "returned list"),
    ("odd_returns", "no_score", "no_score_key", "without 'score'"),
])
def test_a_verl_function_that_fails_gives_an_error_verdict(on_path, fn, completion, rule, said):
    v = one(fn, completion)
    assert (v.reward, v.status, v.detail["rule"]) == (0.0, "error", rule) and said in v.detail["error"]


def test_the_dict_keys_go_to_detail_and_the_row_reaches_the_function(on_path):
    v = one("dapo_style", "\\boxed{5}")
    extra = v.detail["extra"]
    assert (extra["data_source"], extra["extra_info"], extra["ground_truth"]) == ("deepscaler", ROW["extra_info"], "5")
    assert (extra["acc"], extra["pred"], extra["n"], type(extra["n"])) == (True, "5", 3, int)  # numpy int64 -> int
    assert v.detail["pred"] == "5"  # DAPO's extracted answer is the verdict's: maj@k votes on it


def test_without_a_row_it_gets_data_source_none_extra_info_empty_and_the_reference(on_path):
    extra = one("dapo_style", "\\boxed{5}", context=None).detail["extra"]
    assert (extra["data_source"], extra["extra_info"], extra["ground_truth"]) == (None, {}, "5")


def test_the_rows_extra_info_is_not_changed_by_the_function(on_path):
    context = {"data_source": "d", "extra_info": {"index": 1}}
    assert one("mutates", "x", context=context).reward == 2.0  # it saw index and its own key
    assert context["extra_info"] == {"index": 1}


def test_options_are_keyword_arguments_as_verls_reward_kwargs(on_path):
    assert one("dapo_style", "\\boxed{4}", penalty=-0.5).reward == -0.5
    with pytest.raises(ValueError, match="option.*'extra_info'.*what verl passes from the row"):
        spec("dapo_style", extra_info={})
    with pytest.raises(ValueError, match="verl's call does not fit it"):
        spec("compute_score", format_score=0.1)  # compute_score takes no such argument


def test_verls_signature_is_recognised_by_its_parameter_names(on_path):
    assert registry.takes_context(f"{M}:keyword_only")  # keyword-only parameters: refused before
    assert one("keyword_only", "5").status == "correct"
    assert not registry.takes_context("example_user_verifier:score") and not registry.takes_context("math")
    assert one("no_extra_info", "x").status == "correct"  # takes no extra_info: called without it (was refused)


def test_verls_own_scorers_take_only_the_solution_the_ground_truth_and_their_options(on_path):
    """verl.utils.reward_score.gsm8k.compute_score(solution_str, ground_truth, method, format_score, score): a user's
    first try. Was: called as fn(completion, reference, options), the options dict landed in `method`."""
    assert registry.takes_context(f"{M}:hash_answer")
    assert (one("hash_answer", "so #### 5").reward, one("hash_answer", "so #### 5").status) == (1.0, "correct")
    partial = one("hash_answer", "so #### 4", format_score=0.1)
    assert (partial.reward, partial.status) == (0.1, "wrong")
    with pytest.raises(ValueError, match="has verl's signature .* verl's call does not fit it"):
        spec("hash_answer", fromat_score=0.1)  # a misspelt option: refused as the config is loaded


def test_full_marks_summed_from_decimal_parts_are_correct(on_path):
    full = one("summed", "#### 5")
    assert full.reward == pytest.approx(1.0) and full.reward < 1.0 and full.status == "correct"
    assert one("summed", "#### 4").status == "wrong"


def test_the_row_context_reaches_the_function_through_the_pool_and_keys_the_cache(pool):
    strict = {"data_source": "strict", "extra_info": {}}
    loose = {"data_source": "loose", "extra_info": {"bonus": 0.5}}
    jobs = [(" 5 and more", "5", [spec("by_source")], ctx) for ctx in (strict, loose, strict)]
    rewards = [reward for reward, _ in pool.map(jobs)]
    assert rewards == [0.0, 1.5, 0.0]  # same completion and reference, told apart by the row
    hits = pool.stats["cache_hits"]
    assert [reward for reward, _ in pool.map(jobs)] == rewards and pool.stats["cache_hits"] == hits + 3


def test_a_three_argument_plugin_and_the_builtins_see_no_context_and_keep_their_cache_keys(pool):
    specs = [VerifierSpec(name="example_user_verifier:score", options={"word": "thanks"}), VerifierSpec(name="math")]
    plain = pool.map([("Thanks: \\boxed{5}", "5", specs)])
    hits = pool.stats["cache_hits"]
    with_row = pool.map([("Thanks: \\boxed{5}", "5", specs, {"data_source": "x", "extra_info": {"i": 1}})])
    assert pool.stats["cache_hits"] == hits + 2  # the same keys as without a context: both were cache hits
    assert with_row == plain and plain[0][0] == 2.0
    assert plain[0][1]["example_user_verifier:score"].detail == {"rule": "contains", "word": "thanks"}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_verl_dataset_and_its_reward_function_end_to_end(pool, tmp_path, fmt, write_rows):
    rows = [  # verl's layout; the second row has no data_source or extra_info
        {"data_source": "openai/gsm8k", "prompt": [{"role": "user", "content": "2+3?"}],
         "reward_model": {"style": "rule", "ground_truth": "5"}, "extra_info": {"index": 0, "split": "train"}},
        {"prompt": [{"role": "user", "content": "9/2?"}], "reward_model": {"ground_truth": "\\boxed{4.5}"}},
    ]
    source = write_rows(rows, tmp_path / f"train.{fmt}")
    problems = sorted(load_problems(TaskConfig(name="qa", source=str(source), on_bad_row="fail",
                                               columns={"answer": "reward_model.ground_truth"})), key=lambda p: p.id)
    jobs = [("\\boxed{5}", p.reference, [spec("dapo_style")], p.context()) for p in problems]
    (r0, v0), (r1, v1) = [(reward, verdicts[f"{M}:dapo_style"]) for reward, verdicts in pool.map(jobs)]
    assert (r0, v0.status) == (1.0, "correct") and (r1, v1.status) == (-1.0, "wrong")
    assert v0.detail["extra"]["data_source"] == "openai/gsm8k"
    assert v0.detail["extra"]["extra_info"] == {"index": 0, "split": "train"}  # the row's dict, as it is
    # a row without those columns: the task's name and {} (parquet fills a missing struct with None)
    assert (v1.detail["extra"]["data_source"], v1.detail["extra"]["extra_info"]) == ("qa", {})
    # the answer cell as verl passes it, not the final answer rlvr's math verifier reads out of it
    assert (problems[1].reference, v1.detail["extra"]["ground_truth"]) == ("4.5", "\\boxed{4.5}")


class _InProcessRunner:
    """Stands in for Dask's runner: runs each submitted chunk here, through the real worker-side `verify_chunk`."""

    def __init__(self):
        self.sent = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def submit(self, task, parameters):
        self.sent += parameters["jobs"]
        result = task.fn(**parameters)
        return SimpleNamespace(result=lambda timeout, raise_on_failure: result)


def test_a_task_runner_ships_the_row_only_with_a_job_that_reads_it(on_path):
    runner = _InProcessRunner()
    pool = TaskRunnerPool(runner, timeout_s=10, memory_mb=None, chunk_size=1)
    row = {"data_source": "loose", "extra_info": {"bonus": 0.5}}
    out = pool.map([("5", "5", [spec("by_source")], row), ("\\boxed{5}", "5", [VerifierSpec(name="math")], row)])
    assert [reward for reward, _ in out] == [1.5, 1.0]
    assert [job[3] for job in runner.sent] == [row, None]  # the math job went without it


def test_a_problem_without_a_row_gives_its_tasks_name_and_an_empty_extra_info():
    # a built-in task's own problems name their hub dataset (test_verl_datasets.py); a synthetic one has no row
    assert Problem("arith/0", "arith", "q", "72").context() == {"data_source": "arith", "extra_info": {},
                                                                "ground_truth": "72", "prompt": "q", "columns": {}}


def test_rlvr_verify_passes_a_lines_data_source_and_extra_info(on_path, tmp_path, capsys):
    lines = [{"completion": "5", "reference": "5", "verifier": f"{M}:by_source", "data_source": "loose",
              "extra_info": {"bonus": 0.25}},
             {"completion": "5 ", "reference": "5", "verifier": f"{M}:by_source", "data_source": "strict"}]
    path, out = tmp_path / "c.jsonl", tmp_path / "out.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert cli.main([str(path), "--workers", "1", "--out", str(out)]) == 0
    assert [json.loads(line)["reward"] for line in out.read_text().splitlines()] == [1.25, 1.0]
