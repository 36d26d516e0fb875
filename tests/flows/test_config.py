"""Run configs: YAML + overrides validate; every kind of bad input names the field and what is allowed."""

import subprocess
import sys
from pathlib import Path

import pytest

from rlvr.trainers.run_config import ConfigError, RunConfig, load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    assert isinstance(load_config(path), RunConfig)


def test_overrides_reach_nested_fields_with_yaml_types():
    cfg = load_config(REPO / "configs" / "arith_grpo.yaml", ["train.steps=3", "train.grpo.beta=0.04", "sampler.params.stop=[a, b]"])
    assert cfg.train.steps == 3 and cfg.train.grpo.beta == 0.04 and cfg.sampler.params.stop == ["a", "b"]


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (["train.stepz=1"], "train.stepz: unknown field (did you mean 'steps'?); allowed: algorithm, steps"),  # typo
        (["nonsense=1"], "nonsense: unknown field; allowed: name, model, task"),  # unknown section
        (["train.steps=abc"], "train.steps: Input should be a valid integer"),  # wrong type
        (["train.steps=0"], "train.steps: Input should be greater than or equal to 1"),  # out of range
        (["task.name=gsm9k"], "task.name: 'gsm9k' is not allowed; allowed: 'arith', 'code', 'gsm8k'"),  # unknown task
        (["train.algorithm=a2c"], "train.algorithm: 'a2c' is not allowed; allowed: 'grpo', 'dpo' or 'ppo'"),
        (["train.grpo.loss_aggregation=sum"], "allowed: 'grpo', 'dapo' or 'dr_grpo'"),
        (["eval.tasks=[{name: arith, colour: red}]"], "eval.tasks.0.colour: unknown field"),  # inside a list
        (["verify.verifiers=[{name: maths}]"], "unknown verifier 'maths': use one of ['code', 'format', 'math']"),
        (["verify.verifiers=[{name: format, options: {kind: boxed, size: 3}}]"], "unknown option(s) ['size']"),
        (["verify.verifiers=[{name: 'no_such_pkg.rewards:score'}]"], "cannot load verifier 'no_such_pkg.rewards:score'"),
        (["steps"], "is not of the form dotted.key=value"),
        (["train.steps.x=1"], "train.steps: Input should be a valid integer"),  # a scalar used as a section
        # greedy sampling with several samples per problem: vLLM refused it only after its engine had started
        (["eval.params.temperature=0"], "eval.params.temperature: 0 (greedy) gives eval.n=4 identical samples"),
        (["sampler.params.temperature=0"], "gives train.grpo.group_size=8 identical completions per prompt"),
        (["train.algorithm=dpo", "sampler.params.temperature=0"], "train.dpo.group_size=8 identical completions"),
        (["train.dpo.pairs_path=pairs.jsonl"], "train.dpo.pairs_path: preference pairs train DPO only"),  # grpo
        (["eval.tasks=[{name: gsm8k, source: a.jsonl}, {name: gsm8k, source: b.jsonl}]"],
         "eval.tasks: two suites are named gsm8k-test"),  # they would be scored on one file's problems
        # a validator's message without pydantic's "Value error, " label
        (["verify.verifiers=[{name: maths}]"], "verify.verifiers.0: unknown verifier 'maths'"),
    ],
)
def test_bad_config_names_the_field(overrides, expected):
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides)
    assert expected in str(err.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(scalar)


@pytest.mark.parametrize("overrides", [
    ["eval.params.temperature=0", "eval.n=1", "eval.k=[1]"],  # one greedy sample per problem
    ["train.algorithm=ppo", "train.ppo.group_size=1", "sampler.params.temperature=0"],  # greedy PPO rollouts
    ["train.algorithm=dpo", "train.dpo.pairs_path=pairs.jsonl", "sampler.params.temperature=0"],  # offline pairs
])
def test_greedy_sampling_with_one_sample_is_allowed(overrides):
    load_config(None, overrides)


def test_a_key_given_twice_in_the_file_is_refused_with_its_line(tmp_path):
    """Plain YAML keeps the last of two values silently; the user wrote both."""
    path = tmp_path / "twice.yaml"
    path.write_text("name: a\ntrain:\n  steps: 3\n  steps: 5\n")
    with pytest.raises(ConfigError, match=r"twice.yaml is not valid YAML: line 4, column 3: key 'steps' is given twice$"):
        load_config(path)


def test_a_key_that_is_a_list_is_one_yaml_error(tmp_path):
    path = tmp_path / "listkey.yaml"
    path.write_text("? [a, b]\n: 1\n")
    with pytest.raises(ConfigError, match=r"line 1, column 3: a key must be a plain value, not list"):
        load_config(path)


def test_cli_exits_nonzero_with_the_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rlvr.flows.cli", "config", "train.algorithm=a2c"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 2
    assert "train.algorithm" in result.stderr and "'grpo'" in result.stderr


def test_cli_prints_the_validated_config():
    result = subprocess.run(
        [sys.executable, "-m", "rlvr.flows.cli", "config", "-c", "configs/arith_grpo.yaml", "train.steps=7"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "steps: 7" in result.stdout
