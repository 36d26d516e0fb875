"""A config error names the input the bad key came from, and a misspelt key gets a close match. Was: an override's
error was blamed on the YAML file (`invalid configs/arith_grpo.yaml: train.stepz: unknown field; ...`, a user audit),
and nothing said `steps` was meant."""

from pathlib import Path

import pytest

from rlvr.trainers.run_config import ConfigError, load_config

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "arith_grpo.yaml"


def _refusal(path, overrides) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        load_config(path, overrides)
    return [line.strip() for line in str(refused.value).splitlines()]


def test_an_overrides_error_is_the_overrides_with_a_close_match():
    head, line = _refusal(CONFIG, ["train.steps=3", "train.stepz=3"])
    assert head == f"invalid override on {CONFIG}:"
    assert line.startswith("train.stepz: unknown field (did you mean 'steps'?); allowed: algorithm, steps, "), line
    assert line.endswith("[from the override 'train.stepz=3']"), line


@pytest.mark.parametrize("override, key, meant", [
    ("train.grpo.group_sise=4", "train.grpo.group_sise", "group_size"),
    ("eval.tasks.0.limt=3", "eval.tasks.0.limt", "limit"),  # inside a list the file holds
    ("eval.tasks=[{name: arith, limt: 3}]", "eval.tasks.0.limt", "limit"),  # set by an override of the whole list
])
def test_nested_keys_are_matched_at_their_level(override, key, meant):
    head, line = _refusal(CONFIG, [override])
    assert head == f"invalid override on {CONFIG}:"
    assert line.startswith(f"{key}: unknown field (did you mean {meant!r}?); allowed: "), line
    assert line.endswith(f"[from the override {override!r}]"), line


def test_a_wrong_value_from_an_override_names_it():
    head, line = _refusal(CONFIG, ["train.steps=three"])
    assert head == f"invalid override on {CONFIG}:" and line.endswith("[from the override 'train.steps=three']"), line
    head, line = _refusal(CONFIG, ["train.steps=yes"])  # the check of booleans given for numbers
    assert line == "train.steps: a number is expected (got true) [from the override 'train.steps=yes']", line


def test_the_files_own_error_is_the_files_and_both_are_told_apart(tmp_path):
    bad = tmp_path / "run.yaml"
    bad.write_text(CONFIG.read_text().replace("  steps:", "  stepz:", 1))
    head, line = _refusal(bad, [])
    assert head == f"invalid {bad}:" and line.startswith("train.stepz: unknown field (did you mean 'steps'?)"), line
    assert "override" not in line
    head, *lines = _refusal(bad, ["train.seed=x"])
    assert head == f"invalid {bad} and its overrides:", head
    assert any(line.startswith("train.seed:") and line.endswith("[from the override 'train.seed=x']") for line in lines)
    assert any(line.startswith("train.stepz:") and "override" not in line for line in lines), lines


def test_no_close_match_says_only_what_is_allowed():
    _, line = _refusal(CONFIG, ["train.zzzzzz=1"])
    assert "did you mean" not in line and "; allowed: algorithm, steps" in line, line


def test_rlvr_config_says_it_in_one_line(capsys):
    from rlvr.flows import cli

    assert cli.main(["config", "-c", str(CONFIG), "train.stepz=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"rlvr: invalid override on {CONFIG}: train.stepz: unknown field (did "
                                               "you mean 'steps'?)"), err
    assert "[from the override 'train.stepz=3']" in err[0], err


def test_a_flows_overrides_on_a_config_object_name_themselves():
    """The train flow's `config=` (an object or dict, no file): its `overrides` parameter is named all the same."""
    from rlvr.flows.train import resolve_config

    with pytest.raises(ConfigError) as refused:
        resolve_config({"name": "b"}, None, ["train.stepz=3"])
    head, line = [line.strip() for line in str(refused.value).splitlines()]
    assert head == "invalid config:" and line.startswith("train.stepz: unknown field (did you mean 'steps'?)"), line
    assert line.endswith("[from the override 'train.stepz=3']"), line
