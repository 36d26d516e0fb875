"""The run config type lives below the trainers; a renamed key names its new spelling."""

import pytest

from rlvr.trainers.run_config import ConfigError, load_config


def test_samples_per_prompt_was_renamed_to_group_size(tmp_path):
    old = tmp_path / "old_ppo.yaml"
    old.write_text("train:\n  algorithm: ppo\n  ppo:\n    samples_per_prompt: 4\n")
    with pytest.raises(ConfigError) as err:
        load_config(old)
    assert "train.ppo.samples_per_prompt: renamed; use train.ppo.group_size" in str(err.value)


def test_every_algorithm_calls_completions_per_prompt_group_size():
    cfg = load_config(None, ["train.grpo.group_size=3", "train.dpo.group_size=5", "train.ppo.group_size=6"])
    assert (cfg.train.grpo.group_size, cfg.train.dpo.group_size, cfg.train.ppo.group_size) == (3, 5, 6)


def test_verifier_specs_default_to_the_tasks_own():
    assert [s.name for s in load_config(None, ["task.name=arith"]).verifier_specs()] == ["math"]
    custom = load_config(None, ["verify.verifiers=[{name: format, weight: 0.5}]"])
    assert [(s.name, s.weight) for s in custom.verifier_specs()] == [("format", 0.5)]


def test_fsdp_cpu_offload_on_a_gpu_is_refused_in_one_line():
    """FSDP's CPU offload keeps the shards in host memory, where NCCL's collectives cannot reach them: refused
    before any rank starts, rather than failing at the first collective on every rank. On CPU (gloo) it runs."""
    overrides = ["train.parallel=fsdp", "train.fsdp.cpu_offload=true"]
    with pytest.raises(ConfigError) as refused:
        load_config(None, [*overrides, "model.device=cuda"])
    assert str(refused.value) == (
        "invalid config:\n  train.fsdp.cpu_offload: not supported with model.device=cuda yet (the offloaded shards are "
        "host tensors, which NCCL's collectives refuse); leave it false")
    assert load_config(None, overrides).train.fsdp.cpu_offload is True


def test_an_override_indexes_a_list_the_config_file_holds(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("eval:\n  tasks:\n    - {name: arith, split: test, limit: 100}\n    - {name: gsm8k, split: test}\n")
    cfg = load_config(str(path), ["eval.tasks.1.limit=4", "eval.tasks.0.level=3"])
    assert [(t.name, t.limit, t.level) for t in cfg.eval.tasks][0] == ("arith", 100, 3)
    assert cfg.eval.tasks[1].limit == 4
    with pytest.raises(ConfigError, match=r"eval.tasks is a list of 2 item\(s\); index it with 0-1"):
        load_config(str(path), ["eval.tasks.2.limit=4"])
    # a list the file does not hold is its default, indexed as such; a misspelt list is no field
    default = load_config(None, [])
    cfg = load_config(None, ["eval.tasks.0.limit=4"])
    assert cfg.eval.tasks[0].limit == 4 and cfg.eval.tasks[0].name == default.eval.tasks[0].name
    with pytest.raises(ConfigError, match=r"override 'eval.task.0.limit=4': eval.task is not a config field$"):
        load_config(None, ["eval.task.0.limit=4"])
    with pytest.raises(ConfigError, match=r"verify.verifiers holds no list here; give the whole list"):
        load_config(None, ["verify.verifiers.0.weight=2"])


def test_a_yes_or_true_where_a_number_is_expected_is_refused_not_read_as_1(tmp_path):
    """YAML reads `yes`/`true` as a bool, and pydantic's lax mode would take it as 1 (`steps: yes`: one step)."""
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  steps: yes\n  optim: {lr: true}\neval:\n  k: [1, true]\n  tasks: [{name: arith, level: on}]\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value) == (
        f"invalid {path}:\n  train.steps: a number is expected (got true)\n  train.optim.lr: a number is expected "
        "(got true)\n  eval.tasks.0.level: a number is expected (got true)\n  eval.k: a number is expected (got [1, true])")
    cfg = load_config(None, ["train.steps=2", "eval.greedy=1", "train.fsdp.cpu_offload=true"])  # bools stay bools
    assert cfg.train.steps == 2 and cfg.eval.greedy is True and cfg.train.fsdp.cpu_offload is True
