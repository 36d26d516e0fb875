"""The flows' task logic as plain functions: config resolution, chunking, events, artifacts, deployments, CLI."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from rlvr.flows.artifacts import artifact_key, image_markdown, metrics_markdown, plot_curves, sample_rows
from rlvr.trainers.run_config import ConfigError, validate_config
from rlvr.flows.demo import before_after_markdown
from rlvr.flows.events import CHECKPOINT_SAVED, checkpoint_event
from rlvr.flows.train import resolve_config

REPO = Path(__file__).resolve().parents[2]


def test_resolve_config_from_object_dict_or_file():
    cfg = validate_config({"name": "a"})
    assert resolve_config(cfg, None, ["train.steps=3"]).train.steps == 3
    assert resolve_config({"name": "b"}, None, []).name == "b"
    assert resolve_config(None, str(REPO / "configs/arith_grpo.yaml"), ["name=c"]).name == "c"
    with pytest.raises(ConfigError, match="train.steps: Input should be greater than or equal to 1"):
        resolve_config({"train": {"steps": 0}}, None, [])
    with pytest.raises(ConfigError, match="either config or config_path"):
        resolve_config({"name": "b"}, "x.yaml", [])


def test_checkpoint_event_names_the_checkpoint(tmp_path):
    ckpt = tmp_path / "run" / "checkpoints" / "step-10"
    event = checkpoint_event(ckpt, 10, "arith-grpo")
    assert event["event"] == CHECKPOINT_SAVED == "rlvr.checkpoint.saved"
    assert event["resource"]["prefect.resource.id"] == f"rlvr.checkpoint.{ckpt.resolve()}"
    assert event["payload"] == {"path": str(ckpt.resolve()), "step": 10, "run": "arith-grpo",
                                "run_dir": str((tmp_path / "run").resolve())}
    json.dumps(event)  # goes over the wire as JSON


ROWS = [
    {"step": 1, "reward_mean": 0.25, "accuracy": 0.25, "kl": float("nan"), "completion_len_mean": 20.0,
     "truncation_rate": 0.0, "zero_variance_frac": 0.5, "tokens_per_s": 100.0, "step_time_s": 2.0},
    {"step": 2, "reward_mean": 0.5, "accuracy": 0.5, "completion_len_mean": 18.5, "tokens_per_s": 120.0},
]


def test_metrics_markdown_has_one_row_per_step_and_dashes_for_missing_values():
    text = metrics_markdown(ROWS)
    assert "| step | loss | reward | accuracy | kl |" in text
    assert "| 1 | - | 0.250 | 0.250 | - | 20.0 | 0.00 | 0.50 | 100 | 2.0 |" in text
    assert "| 2 | - | 0.500 | 0.500 | - | 18.5 | - | - | 120 | - |" in text


def test_plot_curves_writes_a_png(tmp_path):
    png = plot_curves(ROWS, tmp_path / "curves.png", title="t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "data:image/png;base64," in image_markdown(png, "curve") and str(png) in image_markdown(png, "curve")


def test_sample_rows_take_one_completion_per_group_first():
    from rlvr.data.problem import Problem
    from rlvr.sampling.types import Completion, Group
    from rlvr.verifiers.verdict import Verdict

    groups = [Group(Problem(f"p{g}", "arith", "q", str(g)),
                    [Completion(f"p{g}", f"answer {g}.{i}", [1], [1], None, "stop") for i in range(3)]) for g in range(2)]
    verdicts = [[{"math": Verdict(float(i == 0), "correct" if i == 0 else "wrong", {"pred": str(i), "rule": "number"})}
                 for i in range(3)] for _ in range(2)]
    rows = sample_rows(groups, verdicts, "math", limit=3)
    assert [(r["problem"], r["completion"]) for r in rows] == [("p0", "answer 0.0"), ("p1", "answer 1.0"),
                                                               ("p0", "answer 0.1")]
    assert rows[0]["status"] == "correct" and rows[2]["status"] == "wrong" and rows[1]["gold"] == "1"


def test_artifact_keys_are_prefect_safe():
    assert artifact_key("Arith GRPO_v2", "metrics") == "arith-grpo-v2-metrics"


def test_before_after_table():
    before = {"suites": {"arith-l2-test": {"pass@1": 0.25, "maj@4": None, "greedy_accuracy": 0.2}}}
    after = {"suites": {"arith-l2-test": {"pass@1": 0.5, "maj@4": None, "greedy_accuracy": 0.6}}}
    text = before_after_markdown(before, after)
    assert "| arith-l2-test | pass@1 | 0.250 | 0.500 | +0.250 |" in text
    assert "| arith-l2-test | maj@4 | - | - | - |" in text
    assert "| arith-l2-test | greedy_accuracy | 0.200 | 0.600 | +0.400 |" in text


def test_prefect_yaml_declares_the_scheduled_training_and_the_triggered_evaluation():
    from prefect.events import DeploymentEventTrigger

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    by_name = {d["name"]: d for d in spec["deployments"]}
    train, evaluate = by_name["arith-grpo"], by_name["on-checkpoint"]
    assert train["entrypoint"] == "flows/train.py:train_flow" and train["schedules"][0]["cron"]
    assert (REPO / train["parameters"]["config_path"]).is_file()
    assert evaluate["entrypoint"] == "flows/evaluate.py:evaluate_flow"
    trigger = DeploymentEventTrigger(**{k: v for k, v in evaluate["triggers"][0].items() if k != "type"})
    assert trigger.expect == {CHECKPOINT_SAVED} and trigger.parameters == {"checkpoint": "{{ event.payload.path }}"}


def test_python_deployments_match_prefect_yaml():
    from rlvr.flows.deployments import build_deployments

    spec = {d["name"]: d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]}
    train, evaluate = build_deployments(str(REPO / "configs/arith_grpo.yaml"), ["train.steps=3"])
    assert train.name in spec and evaluate.name in spec
    assert train.parameters["serve_overrides"] == ["train.steps=3"] and train.parameters["overrides"] == []
    assert train.parameters["final_eval"] is False
    assert train.parameters["pin_for_eval"] is True is spec[train.name]["parameters"]["pin_for_eval"]
    assert train.schedules[0].schedule.cron == spec[train.name]["schedules"][0]["cron"]
    assert evaluate.parameters == {"skip_evaluated": True} == spec[evaluate.name]["parameters"]
    yaml_trigger = spec[evaluate.name]["triggers"][0]
    assert evaluate.triggers[0].expect == set(yaml_trigger["expect"])
    assert evaluate.triggers[0].parameters == yaml_trigger["parameters"]
    assert evaluate.triggers[0].match.model_dump() == yaml_trigger["match"]


def test_deployments_refuse_a_bad_config():
    from rlvr.flows.deployments import build_deployments

    with pytest.raises(ConfigError, match="train.stepz"):
        build_deployments(str(REPO / "configs/arith_grpo.yaml"), ["train.stepz=3"])


@pytest.mark.parametrize("argv", [["train", "-c", "configs/arith_grpo.yaml", "train.stepz=1"],
                                  ["eval", "tiny", "-c", "configs/arith_grpo.yaml", "eval.n=0"],
                                  ["demo", "train.steps=abc"]])
def test_cli_rejects_bad_configs_before_starting_prefect(argv, capsys, monkeypatch):
    from rlvr.flows import cli

    monkeypatch.chdir(REPO)
    assert cli.main(argv) == 2
    assert "invalid" in capsys.readouterr().err


def test_cli_parses_train_and_eval_options():
    from rlvr.flows.cli import build_parser

    args = build_parser().parse_args(["train", "-c", "x.yaml", "train.steps=2", "--no-resume"])
    assert args.resume is False and args.eval is True and args.overrides == ["train.steps=2"]
    args = build_parser().parse_args(["eval", "runs/x/checkpoints/step-2", "eval.n=2"])
    assert args.target == "runs/x/checkpoints/step-2" and args.config is None and args.overrides == ["eval.n=2"]
    args = build_parser().parse_args(["serve", "--no-schedule"])
    assert args.no_schedule and args.func.__name__ == "_cmd_serve"


def test_retry_on_io_retries_only_os_errors():
    from rlvr.flows.bootstrap import retry_on_io

    def state(exc):
        return SimpleNamespace(result=lambda raise_on_failure=True: exc)

    assert retry_on_io(None, None, state(OSError("disk full")))
    assert retry_on_io(None, None, state(ConnectionError("hub unreachable")))
    assert not retry_on_io(None, None, state(ValueError("a bug")))
    assert not retry_on_io(None, None, state(FileNotFoundError("no such dataset file")))


@pytest.mark.parametrize("device, expected", [
    ("gpu", "model.device 'gpu': not a torch device"),
    ("cuda:99", "model.device cuda:99: "),  # no CUDA here, or not 100 devices
])
def test_a_device_the_machine_lacks_is_bad_input_before_anything_loads(device, expected):
    """flows/bootstrap.check_device: what torch would otherwise say only when the weights move (an
    AssertionError, exit 1, after the device was taken and the data loaded)."""
    from rlvr.flows.bootstrap import check_device
    from rlvr.flows.errors import BadInput

    with pytest.raises(BadInput) as caught:
        check_device(device)
    assert str(caught.value).startswith(expected), caught.value
    check_device("cpu")  # always there
    if torch.cuda.is_available():
        check_device("cuda:0")


def test_an_eval_suite_on_the_training_rows_is_said():
    from rlvr.data.problem import Problem
    from rlvr.flows.train import _suites_on_training_rows

    train = [Problem(f"qa/train/{i}", "qa", f"{i}+1?", str(i + 1)) for i in range(4)]
    held_out = [Problem("qa/test/0", "qa", "9+1?", "10")]
    assert _suites_on_training_rows(train, {"qa-x-test": held_out}) == []
    assert _suites_on_training_rows(train, {"qa-x-test": train[:2] + held_out}) == [
        "warning: 2 of 3 problems of eval suite qa-x-test are training problems too (the same prompt): its scores are "
        "not held out; point the suite at another file"]
