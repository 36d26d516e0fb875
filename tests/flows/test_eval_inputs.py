"""What `rlvr eval`, `rlvr demo` and `rlvr serve` make of their inputs, before anything runs: pass@k values the
samples cannot give, the default config from another directory, a run directory given as a checkpoint."""

from pathlib import Path

import pytest

from rlvr.trainers.run_config import ConfigError, load_config
from tests.flows.flow_helpers import CONFIG, REPO, tiny_overrides

SHIPPED = sorted(str(p) for p in (REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config, overrides, message", [
    # the user's case: a pass@16 column from 4 samples per problem
    (CONFIG, ["eval.k=[1, 16]"], r"eval\.k: pass@16 needs eval\.n >= 16 samples per problem \(eval\.n is 4\)"),
    # the shipped config states k = [1, 4]: fewer samples used to lose its pass@4 column silently
    (CONFIG, ["eval.n=2"], r"eval\.k: pass@4 needs eval\.n >= 4 .*\(eval\.n is 2\)"),
    # k = 0 is no pass@k at all
    (CONFIG, ["eval.k=[0, 1]"], r"eval\.k: every k must be >= 1"),
])
def test_eval_k_above_n_is_refused(config, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(config, overrides)


@pytest.mark.parametrize("n, k", [(1, [1]), (2, [1]), (4, [1, 4]), (16, [1, 4])])
def test_an_unset_k_is_the_default_that_n_allows(n, k):
    assert load_config(None, [f"eval.n={n}"]).eval.k == k


@pytest.mark.parametrize("config", SHIPPED)
def test_shipped_configs_keep_k_within_n(config):
    cfg = load_config(config)
    assert max(cfg.eval.k) <= cfg.eval.n


def test_the_flow_tests_overrides_keep_k_within_n(tmp_path):
    cfg = load_config(CONFIG, tiny_overrides(tmp_path / "run", "tiny"))
    assert (cfg.eval.n, cfg.eval.k) == (2, [1, 2])


def test_an_invalid_n_is_reported_alone():
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIG, ["eval.n=0"])
    assert "eval.n" in str(caught.value) and "eval.k" not in str(caught.value)


def test_cli_refuses_k_above_n_in_one_line(capsys):
    from rlvr.flows import cli

    assert cli.main(["config", "-c", CONFIG, "eval.k=[1, 16]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "eval.k: pass@16 needs eval.n >= 16" in err[0] and "(eval.n is 4)" in err[0], err


def test_default_config_is_found_from_another_directory(tmp_path, monkeypatch):
    from rlvr.flows.demo import default_config

    monkeypatch.chdir(tmp_path)
    assert Path(default_config()) == REPO / "configs" / "arith_grpo.yaml"


def test_default_config_prefers_the_current_directory(tmp_path, monkeypatch):
    from rlvr.flows.demo import default_config

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "arith_grpo.yaml").write_text("name: mine\n")
    monkeypatch.chdir(tmp_path)
    assert default_config() == "configs/arith_grpo.yaml"


def test_default_config_missing_everywhere_says_to_pass_c(tmp_path, monkeypatch):
    from rlvr.flows import demo

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "SOURCE_ROOT", tmp_path / "site-packages" / "rlvr")  # a wheel install: no configs/
    with pytest.raises(ConfigError, match=r"config file not found: configs/arith_grpo\.yaml .*; pass -c FILE"):
        demo.default_config()


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_demo_and_serve_read_the_default_config_from_another_directory(command, tmp_path, monkeypatch, capsys):
    from rlvr.flows import cli

    monkeypatch.chdir(tmp_path)
    # a bad override stops the command right after the config is read: the file was found (not "not found")
    assert cli.main([command, "train.stepz=1"]) == 2
    err = capsys.readouterr().err
    assert f"invalid override on {REPO / 'configs' / 'arith_grpo.yaml'}" in err and "train.stepz" in err, err


def _fake_run(root: Path, steps=(20, 40, 60), best: int | None = 40) -> Path:
    """A run directory laid out as training leaves it (file contents do not matter to resolve_target)."""
    for step in steps:
        (root / "checkpoints" / f"step-{step}" / "model").mkdir(parents=True)
        (root / "checkpoints" / f"step-{step}" / "trainer_state.pt").touch()
    if best is not None:
        (root / "best").symlink_to(f"checkpoints/step-{best}")
    return root


@pytest.mark.parametrize("name, message", [
    ("runs/grpo", "runs/grpo is a run directory: evaluate one of its checkpoints (step-20, step-40, step-60), "
                  "e.g. runs/grpo/checkpoints/step-60 (newest) or runs/grpo/best"),
    ("runs/grpo/checkpoints", "runs/grpo/checkpoints holds a run's checkpoints: evaluate one of its checkpoints "
                              "(step-20, step-40, step-60), e.g. runs/grpo/checkpoints/step-60 (newest) or "
                              "runs/grpo/best"),
])
def test_a_run_directory_names_its_checkpoints(name, message, tmp_path, monkeypatch):
    from rlvr.flows.errors import BadInput
    from rlvr.flows.eval_target import resolve_target

    _fake_run(tmp_path / "runs" / "grpo")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BadInput) as caught:
        resolve_target(name)
    assert str(caught.value) == message


def test_a_run_directory_without_checkpoints_says_so(tmp_path):
    from rlvr.flows.errors import BadInput
    from rlvr.flows.eval_target import resolve_target

    run = tmp_path / "run"
    (run / "checkpoints" / ".tmp-step-20").mkdir(parents=True)  # a training killed before its first checkpoint
    with pytest.raises(BadInput, match="is a run directory with no complete checkpoint yet"):
        resolve_target(str(run))


def test_a_run_directory_still_resolves_its_best_and_its_checkpoints(tmp_path):
    from rlvr.flows.eval_target import resolve_target

    run = _fake_run(tmp_path / "run")
    assert resolve_target(str(run / "best")).step == 40
    assert resolve_target(str(run / "checkpoints" / "step-60")).step == 60


def test_cli_eval_of_a_run_directory_exits_2_in_one_line(tmp_path, monkeypatch, capsys):
    from rlvr.flows import cli

    _fake_run(tmp_path / "runs" / "grpo")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["eval", "runs/grpo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "runs/grpo is a run directory" in err[0] and "runs/grpo/best" in err[0], err


def test_an_eval_suite_without_a_split_is_the_test_split():
    """`rlvr eval ... 'eval.tasks=[{name: mbpp, source: ...}]'` evaluated on MBPP's training range before."""
    cfg = load_config(CONFIG, ["eval.tasks=[{name: mbpp, limit: 3}, {name: gsm8k, split: train}]"])
    assert [(t.name, t.split) for t in cfg.eval.tasks] == [("mbpp", "test"), ("gsm8k", "train")]
    assert load_config(CONFIG, ["task.name=gsm8k"]).task.split == "train"  # the training task keeps its default


def test_evaluation_scores_code_with_the_sandbox_options_of_verify_verifiers():
    """A program that starts a subprocess is `unsafe` under the default sandbox; with `processes: true` in
    verify.verifiers it is run, in training and, since this change, in evaluation too."""
    from rlvr.data.config import TaskConfig
    from rlvr.verifiers.config import VerifierSpec
    from rlvr.verifiers.pool import VerifierPool

    cfg = load_config(CONFIG, ["task.name=code", "verify.verifiers=[{name: code, options: {processes: true}}]",
                               "eval.tasks=[{name: code, limit: 1}]"])
    spec = cfg.eval_verifier_spec(cfg.eval.tasks[0])
    assert spec == VerifierSpec(name="code", options={"processes": True}) == cfg.verifier_specs()[0]
    assert load_config(CONFIG, ["eval.tasks=[{name: code}]"]).eval_verifier_spec(TaskConfig(name="code")).options == {}
    reference = {"tests": "assert double(2) == 4", "entry_point": "double"}
    program = "import subprocess\nsubprocess.run(['true'])\ndef double(x):\n    return 2 * x\n"
    with VerifierPool(workers=1) as pool:
        strict, chosen = (pool.map([(program, reference, [s])])[0][1]["code"] for s in (VerifierSpec(name="code"), spec))
    assert (strict.status, chosen.status) == ("unsafe", "correct"), (strict, chosen)


def test_an_eval_suite_without_a_template_prompts_as_the_training_task_does():
    """A model trained on plain-text prompts (one without a chat template) was evaluated on chat prompts."""
    cfg = load_config(CONFIG, ["task.template=plain", "eval.tasks=[{name: arith}, {name: gsm8k, template: chat}]"])
    assert [t.template for t in cfg.eval.tasks] == ["plain", "chat"]
    assert [t.template for t in load_config(CONFIG, ["task.template=plain"]).eval.tasks] == ["plain"]
    assert [t.template for t in load_config(CONFIG).eval.tasks] == ["chat"]


def test_rlvr_eval_checks_its_inputs_once_and_a_served_evaluation_checks_them_itself(prefect_session, model_path,
                                                                                   tmp_path, monkeypatch, capsys):
    """Was: `rlvr eval` checked the adapter, the model and the report's folder before Prefect started, then its flow
    checked them all again (for a hub id, a second call to the hub). The command checks them once, before Prefect
    starts, and tells the flow; run without the command (served), the flow checks them itself."""
    from rlvr.flows import cli, eval_files
    from rlvr.flows.errors import BadInput
    from rlvr.flows.evaluate import evaluate_flow

    checked, real = [], eval_files.check_report_writable  # the last of the input checks, counted

    def counted(path):
        checked.append(path)
        return real(path)

    monkeypatch.setattr(eval_files, "check_report_writable", counted)
    # inputs that pass, and a device that the flow refuses after them: the flow runs, then ends in one line
    overrides = [*tiny_overrides(tmp_path / "run", model_path), "model.device=cuda:99"]
    assert cli.main(["eval", model_path, "-c", CONFIG, *overrides]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("rlvr: model.device cuda:99: ") and "(full log: " in last, last
    assert len(checked) == 1, checked
    with pytest.raises(BadInput, match=r"^the report cannot be written to /proc/self/run/eval-"):
        evaluate_flow(model_path, config_path=CONFIG, overrides=tiny_overrides(Path("/proc/self/run"), model_path))
    assert len(checked) == 2, checked


def test_an_evaluation_of_no_suites_is_refused_and_a_training_run_says_it_has_none(prefect_session, model_path,
                                                                                  tmp_path, capsys):
    """`eval.tasks: []`. Was: `rlvr eval` wrote a report of no suites, score 0, and marked the checkpoint its run's
    best; a training run's final evaluation did the same."""
    from rlvr.flows import cli
    from rlvr.flows.train import train_flow

    run = tmp_path / "run"
    assert cli.main(["eval", model_path, "-c", CONFIG, *tiny_overrides(run, model_path), "eval.tasks=[]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlvr: eval.tasks is empty: nothing to evaluate; name a suite"), err
    result = train_flow(config_path=CONFIG, overrides=[*tiny_overrides(run, model_path), "train.steps=1",
                                                       "eval.tasks=[]"], final_eval=True)
    assert result["eval"] is None and result["step"] == 1
    assert not list(run.glob("checkpoints/*/eval*.json")) and not (run / "best").exists()
