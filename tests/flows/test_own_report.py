"""A checkpoint's own report (`eval.json`, its run config's evaluation settings) is what its run's best checkpoint
was chosen on, what the served evaluation skips on and what the curves plot. An evaluation with other settings
writes its report beside it (`eval-<digest>.json`) and leaves the run's record alone; and a served rerun that
would only repeat the own report finds it before it builds or waits for anything."""

import json
import re

import pytest

from rlvr.flows import eval_pins
from rlvr.flows.eval_target import eval_config, resolve_target
from rlvr.trainers.run_config import load_config
from tests.flows.flow_helpers import CONFIG, real_lora_checkpoint, tiny_overrides


def _save_run_config(ckpt, overrides):
    """The run config a trainer saves in each checkpoint (every field spelled out)."""
    cfg = load_config(CONFIG, overrides)
    (ckpt / "config.json").write_text(json.dumps(cfg.model_dump(mode="json")))
    (ckpt / "trainer_state.pt").write_bytes(b"")


def _checkpoint_with_run_config(tmp_path, overrides=()):
    ckpt = tmp_path / "run" / "checkpoints" / "step-3"
    (ckpt / "model").mkdir(parents=True)
    _save_run_config(ckpt, [*tiny_overrides(tmp_path / "run", "tiny"), *overrides])
    return ckpt


def test_a_checkpoints_report_is_named_by_its_evaluation_settings(tmp_path):
    """Was: every evaluation of a checkpoint wrote `eval.json`, whatever its settings."""
    ckpt = _checkpoint_with_run_config(tmp_path)
    target = resolve_target(ckpt)
    own = ckpt.resolve() / "eval.json"
    assert target.report_path(eval_config(target)) == own
    assert target.report_path(eval_config(target, CONFIG, tiny_overrides(tmp_path / "run", "tiny"))) == own  # -c: same
    assert target.report_path(eval_config(target, overrides=["sampler.backend=vllm"])) == own  # no eval setting
    aside = target.report_path(eval_config(target, overrides=["eval.n=1", "eval.k=[1]"]))
    assert aside.parent == ckpt.resolve() and re.fullmatch(r"eval-[0-9a-f]{8}\.json", aside.name), aside
    assert target.report_path(eval_config(target, overrides=["eval.k=[1]", "eval.n=1"])) == aside  # same settings
    assert target.report_path(eval_config(target, overrides=["eval.n=1", "eval.k=[1]", "eval.greedy=false"])) \
        not in (own, aside)
    strict = ["verify.verifiers=[{name: math, options: {last_number_fallback: false}}]"]  # how the suite is scored
    assert target.report_path(eval_config(target, overrides=strict)) not in (own, aside)


def test_a_checkpoint_whose_saved_config_does_not_load_here_keeps_other_reports_apart(tmp_path):
    """Its run's own settings cannot be told (a reward plug-in of another machine): a report goes beside its own."""
    ckpt = _checkpoint_with_run_config(tmp_path, ["verify.verifiers=[{name: math}]"])
    saved = json.loads((ckpt / "config.json").read_text())
    saved["verify"]["verifiers"].append({"name": "rewards_of_another_machine:score", "weight": 1.0, "options": {}})
    (ckpt / "config.json").write_text(json.dumps(saved))
    target = resolve_target(ckpt)
    assert target.report_path(eval_config(target, overrides=["verify.verifiers=null"])).name != "eval.json"


@pytest.fixture(scope="module")
def evaluated_lora_run(prefect_session, warm_model, tmp_path_factory):
    """A run whose LoRA checkpoint on `tiny` has its own evaluation (`eval.json`, written after the checkpoint) and is
    the run's best."""
    from rlvr.flows.evaluate import evaluate_flow

    run = tmp_path_factory.mktemp("lora-on-tiny") / "run"
    ckpt = real_lora_checkpoint(run, warm_model)
    _save_run_config(ckpt, [*tiny_overrides(run, "tiny"), "model.lora={r: 4}", "eval.greedy=false"])
    report = evaluate_flow(str(ckpt))
    assert report["saved"] == {"report": str(ckpt.resolve() / "eval.json"), "best": True}
    return run, ckpt


@pytest.mark.slow
def test_a_served_rerun_finds_the_report_before_it_builds_anything(evaluated_lora_run, monkeypatch):
    """Was: the flow built the `tiny` base model (about 6 minutes on 2 cores when absent) before it looked for the
    report that made the run a no-op. Here no tiny model can be built at all (RLVR_CACHE under /proc): a build
    attempt fails the run at once."""
    from rlvr.flows.evaluate import evaluate_flow

    run, ckpt = evaluated_lora_run
    saved = (ckpt / "eval.json").read_text()
    eval_pins.pin(ckpt)
    monkeypatch.setenv("RLVR_CACHE", "/proc/self/rlvr-cache")
    state = evaluate_flow(str(ckpt), skip_evaluated=True, return_state=True)
    assert state.is_completed(), state.message
    assert state.result()["saved"]["report"] == str(ckpt.resolve() / "eval.json")
    assert (ckpt / "eval.json").read_text() == saved and eval_pins.pending(run) == []


@pytest.mark.slow
def test_rlvr_eval_with_other_settings_leaves_the_runs_report_and_best_alone(evaluated_lora_run, capsys):
    """Was: `rlvr eval <ckpt> eval.n=1` replaced the checkpoint's eval.json (one line said so), the record its run's
    best was chosen on, and re-scored the best with it. eval.n does not change the score's basis, so the best would
    have taken the new score."""
    from rlvr.flows import cli

    run, ckpt = evaluated_lora_run
    own, best = (ckpt / "eval.json").read_text(), (run / "best.json").read_text()
    eval_pins.pin(ckpt)  # waiting for its run's own evaluation: a report with other settings is not that one
    other = ["eval.n=1", "eval.k=[1]"]
    assert cli.main(["eval", str(ckpt), *other]) == 0
    aside = resolve_target(ckpt).report_path(eval_config(resolve_target(ckpt), overrides=other))
    assert f"report: {aside}\n" in capsys.readouterr().out and aside.name != "eval.json"
    assert json.loads(aside.read_text())["n"] == 1 and (ckpt / "eval.json").read_text() == own
    assert (run / "best.json").read_text() == best and eval_pins.pending(run) == [ckpt]
