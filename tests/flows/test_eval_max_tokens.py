"""An `eval.params.max_tokens` that the context cuts (prompt + max_tokens > sampler.max_model_len) is said before an
evaluation samples, in one line per suite, as training says it of `sampler.params.max_tokens`.

Before: training warned and evaluation did not; an evaluation whose completions were all cut at the end of the
context reported a low pass@k with no word of why.
"""

import json

import pytest
from transformers import AutoTokenizer

from rlvr.data.tasks import load_problems
from rlvr.flows.eval_report import fitting_problems, fitting_suites
from rlvr.trainers.run_config import validate_config


def _config(tmp_path, max_tokens: int):
    rows = [{"question": f"Tom has {n} apples and buys 2 more. How many?", "answer": f"#### {n + 2}"} for n in range(3)]
    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return validate_config({"name": "t", "sampler": {"max_model_len": 512}, "eval": {
        "params": {"max_tokens": max_tokens}, "n": 1, "k": [1],
        "tasks": [{"name": "gsm8k", "split": "test", "source": str(data)},
                  {"name": "arith", "level": 1, "split": "test", "limit": 4}]}})


@pytest.fixture(scope="module")
def tokenizer(warm_model):
    return AutoTokenizer.from_pretrained(warm_model)


def _suites(cfg):
    return {task.suite_name(): load_problems(task) for task in cfg.eval.tasks}


def test_max_tokens_past_the_context_is_said_once_per_suite(tmp_path, tokenizer):
    cfg = _config(tmp_path, max_tokens=600)
    said = []
    fitted = fitting_suites(tokenizer, cfg, _suites(cfg), log=said.append)
    assert [line.split(":")[0] for line in said] == ["warning"] * 2, said
    assert [line.split(": ")[1] for line in said] == ["eval gsm8k-test", "eval arith-l1-test"]
    assert all("eval.params.max_tokens=600 does not fit in sampler.max_model_len=512 beside the prompts" in line
               for line in said)
    assert all(fit.skipped == 0 for fit in fitted.values())  # the prompts fit: only the completions are cut


def test_an_evaluation_that_fits_says_nothing(tmp_path, tokenizer):
    cfg = _config(tmp_path, max_tokens=64)
    said = []
    fitting_suites(tokenizer, cfg, _suites(cfg), log=said.append)
    assert said == []


def test_a_suite_fitted_on_its_own_says_it_too(tmp_path, tokenizer):
    cfg = _config(tmp_path, max_tokens=600)  # `rlvr eval`: each suite fitted as it is evaluated
    said = []
    task = cfg.eval.tasks[0]
    fitting_problems(tokenizer, task, cfg, load_problems(task), log=said.append)
    assert len(said) == 1 and said[0].startswith("warning: eval gsm8k-test: eval.params.max_tokens=600 ")
