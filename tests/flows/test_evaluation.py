"""Evaluation as plain functions: metrics on hand-computed cases, targets, configs, reports and best marking; and
what a training run's final evaluation and `rlvr eval` on an empty cache do, run as a user runs them (slow)."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from rlvr.trainers.run_config import apply_overrides, validate_config
from rlvr.flows.eval_basis import mark_best, other_basis_than_best, scored_sampling, scored_verifiers
from rlvr.flows.eval_files import write_report
from rlvr.flows.eval_report import answer_of, evaluate_model, report_markdown, summarize_suite
from rlvr.flows.eval_target import Target, eval_config, resolve_target
from tests.flows.flow_helpers import real_lora_checkpoint


def _record(statuses, answers=None, greedy=None, pid="p"):
    return {"id": pid, "status": statuses, "answers": answers or [None] * len(statuses), "greedy": greedy}


def test_pass_at_k_matches_the_unbiased_estimator_on_hand_computed_cases():
    records = [
        _record(["correct", "wrong", "wrong", "wrong"]),  # n=4, c=1: pass@1 1/4, pass@2 1/2, pass@4 1
        _record(["correct", "correct", "wrong", "wrong"]),  # c=2: pass@1 1/2, pass@2 1 - C(2,2)/C(4,2) = 5/6
        _record(["wrong"] * 4),  # c=0: all zero
    ]
    out = summarize_suite(records, n=4, ks=[1, 2, 4])
    assert out["pass@1"] == pytest.approx((0.25 + 0.5 + 0) / 3)
    assert out["pass@2"] == pytest.approx((0.5 + 5 / 6 + 0) / 3)
    assert out["pass@4"] == pytest.approx((1 + 1 + 0) / 3)
    assert out["problems"] == 3 and out["n"] == 4


def test_k_larger_than_n_is_left_out():
    out = summarize_suite([_record(["correct", "wrong"])], n=2, ks=[1, 4])
    assert "pass@4" not in out and out["pass@1"] == 0.5


def test_maj_at_k_votes_on_extracted_answers():
    records = [
        # majority "3" is wrong although one sample ("4") is right: maj@4 = 0, pass@4 = 1
        _record(["wrong", "wrong", "correct", "wrong"], ["3", "3", "4", "5"]),
        # majority "7" is right; unanswered samples do not vote
        _record(["correct", "no_answer", "correct", "wrong"], ["7", None, "7", "8"]),
    ]
    out = summarize_suite(records, n=4, ks=[1, 4])
    assert out["maj@4"] == pytest.approx(0.5)
    assert out["maj@1"] == pytest.approx(out["pass@1"])  # the mean of every sample's vote, not the first sample's
    assert out["pass@4"] == 1.0


def test_maj_at_k_is_null_when_the_verifier_extracts_no_answers():
    out = summarize_suite([_record(["correct", "wrong"])], n=2, ks=[2])
    assert out["maj@2"] is None


def test_status_counts_and_greedy_accuracy():
    records = [
        _record(["correct", "timeout"], greedy="correct"),
        _record(["no_answer", "wrong"], greedy="wrong"),
    ]
    out = summarize_suite(records, n=2, ks=[1])
    assert out["status_counts"]["correct"] == 1 and out["status_counts"]["timeout"] == 1
    assert out["status_counts"]["no_answer"] == 1 and out["status_counts"]["unsafe"] == 0
    assert out["greedy_accuracy"] == 0.5
    assert summarize_suite([_record(["wrong"])], n=1, ks=[1])["greedy_accuracy"] is None  # greedy off


def test_answer_of_reads_the_verifier_prediction():
    assert answer_of(SimpleNamespace(detail={"pred": "42"})) == "42"
    assert answer_of(SimpleNamespace(detail={"pred": ["1", "2"]})) == "1 | 2"
    assert answer_of(SimpleNamespace(detail={"rule": "no_code"})) is None


def _checkpoint(run_dir, step):
    ckpt = run_dir / "checkpoints" / f"step-{step}"
    (ckpt / "model").mkdir(parents=True)
    (ckpt / "trainer_state.pt").write_bytes(b"")
    return ckpt


def test_resolve_target_tells_checkpoints_from_models(tmp_path):
    ckpt = _checkpoint(tmp_path / "run", 10)
    target = resolve_target(str(ckpt))
    assert target.checkpoint == ckpt.resolve() and target.step == 10 and target.run_dir == (tmp_path / "run").resolve()
    assert target.model == str(ckpt.resolve() / "model")
    assert resolve_target(str(ckpt / "model")).checkpoint == ckpt.resolve()
    assert resolve_target("tiny") == Target(model="tiny")
    with pytest.raises(FileNotFoundError, match="pruned"):  # a checkpoint path that is gone
        resolve_target(str(tmp_path / "run" / "checkpoints" / "step-5"))


def test_a_renamed_or_copied_checkpoint_has_no_step_or_run(tmp_path):
    in_run = resolve_target(_checkpoint(tmp_path / "run", 4))
    assert in_run.step == 4 and in_run.run_dir == (tmp_path / "run").resolve()
    renamed = _checkpoint(tmp_path / "run", 5).rename(tmp_path / "final")
    assert resolve_target(renamed).step is None and resolve_target(renamed).run_dir is None
    copied = _checkpoint(tmp_path / "run", 6).rename(tmp_path / "step-6")  # two levels up is no run of it
    assert resolve_target(copied).step == 6 and resolve_target(copied).run_dir is None


def test_a_checkpoint_without_its_trainer_state_is_still_one(tmp_path):
    ckpt = _checkpoint(tmp_path / "run", 3)
    (ckpt / "trainer_state.pt").unlink()
    (ckpt / "config.json").write_text("{}")
    assert resolve_target(ckpt).checkpoint == ckpt.resolve()


def test_a_damaged_saved_run_config_is_one_line_naming_it(tmp_path):
    from rlvr.flows.errors import BadInput

    ckpt = _checkpoint(tmp_path / "run", 3)
    (ckpt / "config.json").write_text('{"name": "audit", "model": {')
    with pytest.raises(BadInput, match=r"step-3/config.json: the checkpoint's run config does not read"):
        eval_config(resolve_target(ckpt))


def test_a_training_reward_plug_in_missing_here_names_the_way_to_evaluate_without_it(tmp_path):
    from rlvr.trainers.run_config import ConfigError

    ckpt = _checkpoint(tmp_path / "run", 3)
    saved = validate_config({"name": "saved"}).model_dump(mode="json")
    saved["verify"]["verifiers"] = [{"name": "math"}, {"name": "rewards_of_another_machine:score"}]
    (ckpt / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match=r"No module named 'rewards_of_another_machine'(.|\n)*add "
                                          r"verify.verifiers=null to evaluate without them"):
        eval_config(resolve_target(ckpt))
    assert eval_config(resolve_target(ckpt), overrides=["verify.verifiers=null"]).verify.verifiers is None


def test_a_report_about_to_be_replaced_is_named_with_what_it_held(tmp_path):
    from rlvr.flows.eval_files import replaced_report

    path = tmp_path / "eval.json"
    assert replaced_report(path) is None
    write_report(_report(0.5), path)
    said = replaced_report(path)
    assert said.startswith(f"replacing the earlier report {path} (written ") and "score 0.5" in said, said
    assert "suites arith-l1-test" in said, said


def test_eval_config_uses_the_checkpoints_config_with_overrides(tmp_path):
    ckpt = _checkpoint(tmp_path / "run", 3)
    saved = validate_config({"name": "saved", "eval": {"n": 2, "k": [1, 2]}}).model_dump(mode="json")
    (ckpt / "config.json").write_text(json.dumps(saved))
    cfg = eval_config(resolve_target(ckpt), overrides=["eval.n=8"])
    assert cfg.name == "saved" and cfg.eval.n == 8 and cfg.eval.k == [1, 2]
    base = eval_config(Target(model="/models/base"), overrides=["name=base"])
    assert base.model.path == "/models/base" and base.name == "base"


def test_report_paths(tmp_path):
    ckpt = _checkpoint(tmp_path / "run", 3)
    cfg = validate_config({"train": {"checkpoint": {"dir": str(tmp_path / "run")}}})
    assert resolve_target(ckpt).report_path(cfg) == ckpt.resolve() / "eval.json"
    assert Target(model="tiny").report_path(cfg) == tmp_path / "run" / "eval-tiny.json"


SAMPLING = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "max_tokens": 128, "min_tokens": 0, "stop": []}


VERIFIERS = {"arith-l1-test": {"name": "math", "options": {}}}


def _report(score, step=None, verifiers=VERIFIERS, **sampling):
    suite = summarize_suite([_record(["correct", "wrong"], ["1", "2"], greedy="correct")], n=2, ks=[1, 2])
    return {"model": "m", "step": step, "score": score, "suites": {"arith-l1-test": suite},
            "sampling": {**SAMPLING, **sampling}, "verifiers": verifiers}


def test_mark_best_keeps_the_highest_score_and_points_the_link_at_it(tmp_path):
    run = tmp_path / "run"
    a, b, c = _checkpoint(run, 10), _checkpoint(run, 20), _checkpoint(run, 30)
    assert mark_best(run, a, _report(0.3, 10))
    assert (run / "best").resolve() == a.resolve()
    assert mark_best(run, b, _report(0.5, 20))
    assert not mark_best(run, c, _report(0.5, 30))  # a tie keeps the earlier checkpoint
    assert (run / "best").resolve() == b.resolve() and (run / "best" / "trainer_state.pt").exists()
    assert json.loads((run / "best.json").read_text()) == {"checkpoint": "checkpoints/step-20", "step": 20, "score": 0.5,
                                                           "suites": {"arith-l1-test": 1}, "sampling": SAMPLING,
                                                           "verifiers": VERIFIERS}


def test_a_report_on_other_suites_is_not_compared_with_the_best(tmp_path):
    run = tmp_path / "run"
    a, b = _checkpoint(run, 10), _checkpoint(run, 20)
    assert mark_best(run, a, _report(0.3, 10))
    other = {**_report(0.9, 20), "suites": {"gsm8k-test": _report(0.9)["suites"]["arith-l1-test"]}}
    assert other_basis_than_best(run, other) == {"suites": {"arith-l1-test": 1}}
    assert not mark_best(run, b, other)  # a higher pass@1, on another task: says nothing about step 10
    assert (run / "best").resolve() == a.resolve()
    assert other_basis_than_best(run, _report(0.5, 20)) is None and mark_best(run, b, _report(0.5, 20))


def test_a_report_with_other_decoding_is_not_compared_with_the_best(tmp_path):
    """Greedy decoding (or a longer max_tokens) scores higher on its own: it said nothing against step 10's score."""
    run = tmp_path / "run"
    a, b = _checkpoint(run, 10), _checkpoint(run, 20)
    assert mark_best(run, a, _report(0.3, 10))
    greedy = _report(0.9, 20, temperature=0.0)
    assert other_basis_than_best(run, greedy) == {"sampling": SAMPLING}
    assert not mark_best(run, b, greedy) and (run / "best").resolve() == a.resolve()
    assert other_basis_than_best(run, _report(0.9, 20, max_tokens=512)) == {"sampling": SAMPLING}


def test_a_report_scored_with_other_verifier_options_is_not_compared_with_the_best(tmp_path):
    run = tmp_path / "run"
    a, b = _checkpoint(run, 10), _checkpoint(run, 20)
    assert mark_best(run, a, _report(0.3, 10))
    lenient = _report(0.9, 20, verifiers={"arith-l1-test": {"name": "math", "options": {"last_number_fallback": True}}})
    assert other_basis_than_best(run, lenient) == {"verifiers": VERIFIERS} and not mark_best(run, b, lenient)


def test_a_best_recorded_before_decoding_was_part_of_the_basis_is_compared_on_its_suites(tmp_path):
    run = tmp_path / "run"
    a, b = _checkpoint(run, 10), _checkpoint(run, 20)
    (run / "best").symlink_to("checkpoints/step-10")
    (run / "best.json").write_text(json.dumps({"checkpoint": "checkpoints/step-10", "step": 10, "score": 0.3,
                                               "suites": {"arith-l1-test": 1}}))
    assert other_basis_than_best(run, _report(0.5, 20)) is None and mark_best(run, b, _report(0.5, 20))


def test_a_new_report_of_the_best_checkpoint_updates_its_recorded_score(tmp_path):
    """Re-evaluating `best` gave 0.375 in its eval.json while best.json kept 0.5."""
    run = tmp_path / "run"
    a, b = _checkpoint(run, 10), _checkpoint(run, 20)
    mark_best(run, a, _report(0.5, 10))
    assert not mark_best(run, a, _report(0.375, 10))
    assert json.loads((run / "best.json").read_text())["score"] == 0.375
    assert mark_best(run, b, _report(0.4, 20)) and (run / "best").resolve() == b.resolve()


def test_a_report_without_samples_removes_an_earlier_evaluations_samples(tmp_path):
    path = tmp_path / "ckpt" / "eval.json"
    write_report({**_report(0.5), "samples": [{"id": "p1"}]}, path)
    assert (tmp_path / "ckpt" / "eval.samples.jsonl").is_file()
    write_report(_report(0.25), path)  # eval.save_samples=false this time
    assert not (tmp_path / "ckpt" / "eval.samples.jsonl").exists() and "samples_file" not in json.loads(path.read_text())


def test_mark_best_replaces_a_best_that_was_deleted(tmp_path):
    run = tmp_path / "run"
    a, b = _checkpoint(run, 10), _checkpoint(run, 20)
    mark_best(run, a, _report(0.9))
    (a / "trainer_state.pt").unlink()
    (a / "model").rmdir()
    a.rmdir()
    assert mark_best(run, b, _report(0.1))
    assert (run / "best").resolve() == b.resolve()


def test_write_report_and_markdown(tmp_path):
    path = write_report(_report(0.5), tmp_path / "ckpt" / "eval.json")
    assert json.loads(path.read_text())["score"] == 0.5 and not list(path.parent.glob(".*tmp"))
    text = report_markdown(_report(0.5))
    # answers "1" (right) and "2" (wrong): maj@1 is pass@1, maj@2 a 1-1 tie of which one answer is right
    assert "| arith-l1-test | 1 | 0.500 | 0.500 | 1.000 | 0.500 | 1.000 | correct 1, wrong 1 |" in text
    assert "| suite | problems | pass@1 | maj@1 | pass@2 | maj@2 | greedy_accuracy | statuses |" in text


class _WordTokenizer:
    """One token per word: the prompt lengths the evaluation checks against sampler.max_model_len."""

    chat_template = "the messages' contents, one after another"

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": list(range(len(text.split())))}

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=False):
        return " ".join(m["content"] for m in messages)


class _FakeSampler:
    """Answers '1' to every problem; the greedy sample (temperature 0) is always right."""

    def __init__(self, tokenizer=None):
        self.tokenizer = tokenizer or _WordTokenizer()

    def generate(self, problems, n, params):
        from rlvr.sampling.types import Completion, Group

        text = "The answer is \\boxed{%s}"
        return [Group(p, [Completion(p.id, text % (p.reference if params.temperature == 0 or i == 0 else "123456789"),
                                     [1], [1], None, "stop") for i in range(n)]) for p in problems]


class _InlinePool:
    def map(self, jobs):
        from rlvr.verifiers.registry import score

        return [score(*job) for job in jobs]


def test_evaluate_model_runs_every_suite_through_sampler_and_verifier():
    cfg = validate_config({"name": "t", "eval": {
        "tasks": [{"name": "arith", "level": 1, "split": "test", "limit": 5},
                  {"name": "arith", "level": 2, "split": "test", "limit": 3}],
        "n": 4, "k": [1, 4]}})
    report = evaluate_model(_FakeSampler(), _InlinePool(), cfg, label="fake", log=lambda _m: None)
    assert list(report["suites"]) == ["arith-l1-test", "arith-l2-test"]
    l1 = report["suites"]["arith-l1-test"]
    assert l1["problems"] == 5 and l1["pass@1"] == 0.25 and l1["pass@4"] == 1.0 and l1["greedy_accuracy"] == 1.0
    assert l1["status_counts"]["correct"] == 5 and l1["status_counts"]["wrong"] == 15
    assert l1["maj@4"] == 0.0  # "123456789" wins the vote 3:1
    assert report["score"] == 0.25 and report["run"] == "t"
    assert cfg.eval.tasks[1].suite_name() == "arith-l2-test"


def test_a_suite_is_scored_by_its_verifier_setting_and_unused_rewards_are_named(tmp_path, monkeypatch):
    """`eval.tasks.N.verifier` judges that suite (a plug-in too); a reward plug-in of verify.verifiers that judges
    no suite is named in one line instead of being left out without a word."""
    (tmp_path / "suite_judges.py").write_text(
        "from rlvr.verifiers.verdict import Verdict\n"
        "def always(completion, reference, options=None):\n    return Verdict(1.0, 'correct', {})\n"
        "def short(completion, reference, options=None):\n    return Verdict(float(len(completion) < 5), 'correct', {})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = validate_config({"name": "t", "verify": {"verifiers": [{"name": "math"}, {"name": "suite_judges:short"}]},
                           "eval": {"tasks": [{"name": "arith", "split": "test", "limit": 3},
                                              {"name": "arith", "level": 2, "split": "test", "limit": 3,
                                               "verifier": "suite_judges:always"}], "n": 4, "k": [1]}})
    said = []
    report = evaluate_model(_FakeSampler(), _InlinePool(), cfg, label="fake", log=said.append)
    assert report["verifiers"]["arith-l2-test"]["name"] == "suite_judges:always"
    assert report["suites"]["arith-l2-test"]["pass@1"] == 1.0 and report["suites"]["arith-l1-test"]["pass@1"] == 0.25
    assert [line for line in said if "training rewards only" in line] == [
        "verify.verifiers 'suite_judges:short': training rewards only; the suites are scored by math, "
        "suite_judges:always (eval.tasks.N.verifier=NAME scores a suite with another verifier)"]
    with pytest.raises(ValueError, match="cannot load verifier 'suite_judges:nope'"):
        validate_config({"eval": {"tasks": [{"name": "arith", "verifier": "suite_judges:nope"}]}})


def test_a_suite_whose_every_verdict_is_an_error_stops_the_evaluation(tmp_path, monkeypatch):
    """A suite judged by a verifier that fails on everything scored pass@1 0 without a word (a user audit), averaged
    into the report's score as if the model had failed it; then a warning beside a report of score 0. Now no report:
    the evaluation stops in one line (tests/flows/test_eval_verifier_down.py runs it through `rlvr eval`)."""
    from rlvr.trainers.verifier_health import VerifierFailing

    (tmp_path / "broken_judge.py").write_text(
        "def none(completion, reference, options=None):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = validate_config({"name": "t", "eval": {"tasks": [
        {"name": "arith", "split": "test", "limit": 3},
        {"name": "arith", "level": 2, "split": "test", "limit": 2, "verifier": "broken_judge:none"}], "n": 2, "k": [1]}})
    with pytest.raises(VerifierFailing) as stop:
        evaluate_model(_FakeSampler(), _InlinePool(), cfg, label="fake", log=print)
    assert str(stop.value) == (
        "eval arith-l2-test: the verifier could not run (every one of its 4 verdicts is an error; first: "
        "not_a_verdict: returned NoneType: a verifier returns rlvr.verifiers.verdict.Verdict(reward, status, detail)); "
        "no report is written: fix the suite's verifier or references and run the same command")


def test_generate_in_chunks_keeps_order_and_seeds():
    from rlvr.flows.eval_report import generate_in_chunks
    from rlvr.sampling.config import SamplingParams

    calls = []

    class Recorder:
        def generate(self, problems, n, params):
            calls.append((list(problems), n, params.seed))
            return [(p, params.seed) for p in problems]

    out = generate_in_chunks(Recorder(), list(range(10)), 4, SamplingParams(seed=7), max_sequences=16)
    assert [p for p, _ in out] == list(range(10))
    assert [(len(c[0]), c[2]) for c in calls] == [(4, 7), (4, 7 + 16), (2, 7 + 32)]  # seed + start * n
    calls.clear()
    generate_in_chunks(Recorder(), [1, 2], 64, SamplingParams(), max_sequences=16)  # n > max: one problem a call
    assert [(len(c[0]), c[2]) for c in calls] == [(1, None), (1, None)]


def test_an_hf_evaluation_decodes_on_model_device_or_says_why_it_cannot(model_path):
    """The evaluation holds `model.device`, and the hf backend's copy of the model goes there (it stayed on the CPU,
    so an evaluation on a GPU machine decoded on the CPU). Here `cpu` decodes on the CPU, and `cuda` -- no CUDA on
    this machine -- is refused in one line instead of running somewhere else."""
    from rlvr.flows.eval_report import open_sampler
    from rlvr.sampling.errors import SamplerError

    target = resolve_target(model_path)
    cfg = eval_config(target, None, ["sampler.backend=hf", "model.device=cpu"])
    with open_sampler(target, cfg) as sampler:
        assert sampler.device == torch.device("cpu")
    if not torch.cuda.is_available():
        cfg = eval_config(target, None, ["sampler.backend=hf", "model.device=cuda"])
        with pytest.raises(SamplerError, match=r"^could not put the sampler's model on device 'cuda': "):
            open_sampler(target, cfg)


def test_a_finished_runs_report_is_reused_only_for_the_same_decoding(tmp_path):
    """A rerun of a finished run returns its saved report without sampling, unless the eval decoding changed."""
    from rlvr.flows.eval_target import earlier_report

    ckpt = _checkpoint(tmp_path / "run", 2)
    overrides = [f"train.checkpoint.dir={tmp_path / 'run'}", "eval.tasks=[{name: arith, level: 1, limit: 2}]",
                 "eval.n=2", "eval.k=[1, 2]"]
    cfg = validate_config(apply_overrides({}, overrides))
    report = {**_report(0.5, 2), "n": 2, "k": [1, 2], "sampling": scored_sampling(cfg),
              "verifiers": scored_verifiers(cfg)}
    write_report(report, ckpt / "eval.json")  # no samples: this config asks for them (eval.save_samples)
    target = resolve_target(ckpt)
    assert earlier_report(target, cfg) is None
    write_report({**report, "samples": [{"id": "p0"}]}, ckpt / "eval.json")
    assert earlier_report(target, cfg)["score"] == 0.5
    no_greedy = json.loads((ckpt / "eval.json").read_text())
    no_greedy["suites"]["arith-l1-test"]["greedy_accuracy"] = None  # made with eval.greedy false
    (ckpt / "eval.json").write_text(json.dumps(no_greedy))
    assert earlier_report(target, cfg) is None
    assert earlier_report(target, validate_config(apply_overrides({}, [*overrides, "eval.greedy=false"])))["score"] == 0.5
    write_report({**report, "samples": [{"id": "p0"}]}, ckpt / "eval.json")
    longer = validate_config(apply_overrides({}, [*overrides, "eval.params.max_tokens=512"]))
    assert earlier_report(target, longer) is None
    strict = validate_config(apply_overrides({}, [*overrides, "verify.verifiers=[{name: math, options: "
                                                               "{last_number_fallback: false}}]"]))
    assert earlier_report(target, strict) is None
    spelled = validate_config(apply_overrides({}, [*overrides, "verify.verifiers=[{name: math, options: "
                                                                "{last_number_fallback: true}}]"]))
    assert earlier_report(target, spelled)["score"] == 0.5  # the default, written out: the same basis


def test_a_report_that_left_out_overlong_prompts_is_reused_for_the_same_rows(tmp_path):
    """A saved report counts the problems it scored and, apart, the prompts it left out as too long; the rows loaded
    now are both. Was: compared with the scored ones only, such a report never matched and a finished run's suite
    (or a served `skip_evaluated` evaluation) was evaluated again on every rerun."""
    from rlvr.flows.eval_target import earlier_report

    ckpt = _checkpoint(tmp_path / "run", 2)
    cfg = validate_config(apply_overrides({}, [f"train.checkpoint.dir={tmp_path / 'run'}", "eval.n=2", "eval.k=[1, 2]",
                                               "eval.save_samples=false",
                                               "eval.tasks=[{name: arith, level: 1, limit: 2}]"]))
    report = {**_report(0.5, 2), "n": 2, "k": [1, 2], "sampling": scored_sampling(cfg),
              "verifiers": scored_verifiers(cfg)}
    report["suites"]["arith-l1-test"]["skipped_prompts"] = 1  # 1 scored + 1 left out
    write_report(report, ckpt / "eval.json")
    target = resolve_target(ckpt)
    assert earlier_report(target, cfg, {"arith-l1-test": ["p0", "p1"]})["score"] == 0.5
    assert earlier_report(target, cfg, {"arith-l1-test": ["p0", "p1", "p2"]}) is None  # another row since


def _lora_checkpoint(run_dir, base):
    ckpt = _checkpoint(run_dir, 3)
    (ckpt / "model" / "adapter_config.json").write_text(json.dumps({"r": 4, "base_model_name_or_path": base}))
    (ckpt / "config.json").write_text(json.dumps({"model": {"path": base, "lora": {"r": 4}}}))
    return ckpt


def test_a_lora_checkpoint_keeps_its_base_unless_that_base_is_a_missing_local_path(tmp_path):
    """Its own base wins over `-c`'s model.path (said once, by the caller's `say`); a base saved as a local path
    that this machine lacks (a copied checkpoint) gives way to the config's."""
    from tests.flows.flow_helpers import CONFIG

    said = []
    hub = _lora_checkpoint(tmp_path / "hub-run", "some-org/base-model")
    cfg = eval_config(resolve_target(hub), CONFIG, ["model.path=tiny"], say=said.append)
    assert (cfg.model.path, cfg.model.lora.r) == ("some-org/base-model", 4)
    assert said == ["step-3 is a LoRA adapter trained on some-org/base-model: evaluated on that base model (the "
                    "config's model.path tiny is not used)"]
    moved = _lora_checkpoint(tmp_path / "copied-run", str(tmp_path / "gone" / "base"))
    cfg = eval_config(resolve_target(moved), CONFIG, ["model.path=tiny"], say=said.append)
    assert cfg.model.path == "tiny" and "which is not on this machine" in said[-1]
    assert eval_config(resolve_target(hub), CONFIG, ["model.path=some-org/base-model"], say=said.append) and \
        len(said) == 2  # the same base: nothing to say


def _gsm8k_file_with_a_long_prompt(tmp_path) -> Path:
    """Five gsm8k rows, the third with a prompt of ~2,000 tokens."""
    rows = [{"question": f"Tom has {n} apples and buys 2 more. How many?", "answer": f"#### {n + 2}"} for n in range(5)]
    rows[2]["question"] = "Please read carefully. " * 400 + rows[2]["question"]  # ~2,000 tokens
    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


def _gsm8k_with_a_long_prompt(tmp_path, **suite):
    data = _gsm8k_file_with_a_long_prompt(tmp_path)
    return validate_config({"name": "t", "sampler": {"max_model_len": 512}, "eval": {
        "tasks": [{"name": "gsm8k", "split": "test", "source": str(data), **suite}], "n": 2, "k": [1]}})


def test_an_eval_prompt_longer_than_the_context_is_skipped_and_counted(tmp_path, warm_model):
    """Sampled, such a prompt failed the whole evaluation (and a finished training run's final one)."""
    from transformers import AutoTokenizer

    said = []
    sampler = _FakeSampler(AutoTokenizer.from_pretrained(warm_model))
    report = evaluate_model(sampler, _InlinePool(), _gsm8k_with_a_long_prompt(tmp_path), label="fake", log=said.append)
    suite = report["suites"]["gsm8k-test"]
    assert suite["problems"] == 4 and suite["skipped_prompts"] == 1 and suite["pass@1"] == 0.5
    lines = [line for line in said if "do not fit" in line]
    assert len(lines) == 1 and lines[0].startswith(
        "warning: 1 of 5 gsm8k-test prompts do not fit sampler.max_model_len=512 (first: gsm8k/test/2, "), lines
    assert "1 prompts over max_model_len skipped" in report_markdown(report)


def test_under_on_bad_row_fail_an_overlong_eval_prompt_refuses_the_evaluation(tmp_path, warm_model):
    from transformers import AutoTokenizer

    from rlvr.trainers.run_config import ConfigError

    cfg = _gsm8k_with_a_long_prompt(tmp_path, on_bad_row="fail")
    with pytest.raises(ConfigError, match=r"1 of 5 gsm8k-test prompts do not fit sampler.max_model_len=512 .*; raise "):
        evaluate_model(_FakeSampler(AutoTokenizer.from_pretrained(warm_model)), _InlinePool(), cfg, label="fake",
                       log=lambda _m: None)


def test_a_training_runs_final_evaluation_counts_the_overlong_prompts_it_left_out_at_the_start(
        prefect_session, model_path, tmp_path, monkeypatch):
    """The training flow leaves out the eval prompts over max_model_len when its trainer starts (said before the
    training, not after it). Was: its final evaluation tokenized every prompt of the suite a second time, and its
    report counted 0 skipped (the problems it was handed had been filtered already)."""
    from rlvr.flows.train import train_flow
    from rlvr.sampling import prompts
    from tests.flows.flow_helpers import CONFIG, tiny_overrides

    passes, real = [], prompts.without_overlong  # each pass over a suite's prompts with the run's real tokenizer

    def counted(tokenizer, problems, max_model_len, what, on_bad_row, *rest):
        passes.append(what)
        return real(tokenizer, problems, max_model_len, what, on_bad_row, *rest)

    monkeypatch.setattr(prompts, "without_overlong", counted)
    source = _gsm8k_file_with_a_long_prompt(tmp_path)
    overrides = [*tiny_overrides(tmp_path / "run", model_path), "train.steps=1", "sampler.max_model_len=512",
                 f"eval.tasks=[{{name: gsm8k, split: test, source: '{source}'}}]"]
    result = train_flow(config_path=CONFIG, overrides=overrides, final_eval=True)
    saved = json.loads(Path(result["eval"]["saved"]["report"]).read_text())["suites"]["gsm8k-test"]
    suite_passes = [what for what in passes if what.startswith("gsm8k-test")]
    assert (saved["problems"], saved["skipped_prompts"], suite_passes) == (4, 1, ["gsm8k-test prompts"]), passes


@pytest.mark.parametrize("damage, said", [
    ("cut weights", "its LoRA adapter's adapter_model.safetensors is damaged"),
    ("no adapter config", "its LoRA adapter is incomplete, no "),
])
def test_a_damaged_lora_adapter_is_named_before_the_evaluation(damage, said, tmp_path, warm_model, capsys):
    """Was: a cut adapter file ended the command with `SafetensorError: invalid header length` (exit 1, no file
    named) after the engine started; a missing adapter_config.json read as `no config.json (not a Hugging Face
    model directory)`."""
    from rlvr.flows import cli

    ckpt = real_lora_checkpoint(tmp_path / "run", warm_model)
    if damage == "cut weights":
        weights = ckpt / "model" / "adapter_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
    else:
        (ckpt / "model" / "adapter_config.json").unlink()
    assert cli.main(["eval", str(ckpt)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"rlvr: {ckpt}: ") and said in last, last


def test_a_report_that_cannot_be_written_is_refused_before_the_evaluation(tmp_path):
    """Was: a read-only checkpoint folder was evaluated in full, then the report failed to write (two retries) and
    the whole evaluation was lost, exit 1. (/proc: not writable even by root, unlike a chmod'ed folder.)"""
    from rlvr.flows.errors import BadInput
    from rlvr.flows.eval_files import check_report_writable

    check_report_writable(tmp_path / "not-yet" / "made" / "eval.json")  # folders the writer makes are fine
    with pytest.raises(BadInput, match=r"the report cannot be written to /proc/self/step-3/eval.json \(.* in "
                                       r"/proc/self\): evaluate a copy of the checkpoint in a writable place"):
        check_report_writable(Path("/proc/self/step-3/eval.json"))


def test_a_model_path_override_on_a_full_weight_checkpoint_is_said_to_be_unused(tmp_path):
    from tests.flows.flow_helpers import CONFIG

    said = []
    ckpt = _checkpoint(tmp_path / "run", 3)
    eval_config(resolve_target(ckpt), CONFIG, ["model.path=some-org/other"], say=said.append)
    assert said == ["step-3 holds the trained model's full weights: they are evaluated (model.path some-org/other is "
                    "not used)"]


@pytest.mark.slow
def test_rlvr_eval_says_it_builds_the_tiny_base_of_a_lora_checkpoint_before_building_it(tmp_path, warm_model):
    """Was: `rlvr eval` of a LoRA checkpoint trained on `tiny`, with a cache that lacks it, started the ~6-minute
    build inside the evaluation (holding the device) without a word, its first line `sft step 1/800` a while
    later. Run as a user runs it, on an empty cache; the build is stopped once the command has said it."""
    import os
    import sys

    from tests.flows.flow_helpers import start_process, stop_process, wait_for

    ckpt = real_lora_checkpoint(tmp_path / "run", warm_model)
    saved = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**saved, "model": {**saved["model"], "path": "tiny"}}))
    cache = tmp_path / "empty-cache"
    env = {**{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}, "RLVR_CACHE": str(cache)}
    out = tmp_path / "eval.out"
    proc = start_process([sys.executable, "-m", "rlvr.flows.cli", "eval", str(ckpt), "sampler.backend=hf"], env, out)
    try:
        said = wait_for("the first line about the tiny model", lambda: [line for line in out.read_text().splitlines()
                                                                      if "tiny model" in line or "sft step" in line],
                        300, proc, out)
    finally:
        stop_process(proc)
    assert "building the tiny model (the base model of LoRA checkpoint step-3; not in the cache yet): about 6 " \
           f"minutes on 2 CPU cores, once; it goes to {cache}/tiny-" in said[0], out.read_text()[-3000:]
