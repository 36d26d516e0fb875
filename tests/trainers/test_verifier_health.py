"""What the verifiers give, watched across a run, on the real tiny model and verifier pool with plug-ins written to
tmp_path: a verifier failing on every verdict of `train.stop_after_failing_steps` consecutive steps stops the run
(one line, exit 1, the checkpoints kept, none of the stopping step); the step row has the wall time of scoring
(`verify_time_s`); a verifier whose huge rewards swallow the others' is said once per run."""

import sys
from types import SimpleNamespace

import pytest

from rlvr.trainers.checkpoint import step_dirs
from rlvr.trainers.loop import Trainer
from rlvr.trainers.metrics import rollout_metrics
from rlvr.trainers.verifier_health import FailingStreak, VerifierFailing, lost_rewards
from rlvr.verifiers.verdict import Verdict
from tests.trainers.tiny_runs import tiny_run_config

RAISES_ALL = "def raises_all(completion, reference, options=None):\n    return 1/0\n"
SLEEPS = (
    "import time\n"
    "from rlvr.verifiers.verdict import Verdict\n"
    "def slow(completion, reference, options=None):\n"
    "    time.sleep(0.3)\n"
    "    return Verdict(1.0, 'correct')\n"
)
# `alternating`: 1, 0, 1, 0, ... by call (one worker: each group of 2 gets one of each); `huge`: 1e30 for everything
HUGE = (
    "import itertools\n"
    "from rlvr.verifiers.verdict import Verdict\n"
    "CALLS = itertools.count()\n"
    "def alternating(completion, reference, options=None):\n"
    "    right = next(CALLS) % 2 == 0\n"
    "    return Verdict(float(right), 'correct' if right else 'wrong')\n"
    "def huge(completion, reference, options=None):\n"
    "    return Verdict(1e30, 'correct')\n"
)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """plugin(module, source): write the plug-in module to tmp_path, importable here and in the pool's workers."""
    written = []

    def write(module: str, source: str) -> None:
        (tmp_path / f"{module}.py").write_text(source)
        written.append(module)

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for module in written:
        sys.modules.pop(module, None)


def _trainer(tmp_path, verifiers, lines, verify=None, **train):
    cfg = tiny_run_config(tmp_path / "run", verify={"verifiers": verifiers, **(verify or {})}, **train)
    return Trainer(cfg, resume=False, log=lines.append)


def test_a_verifier_failing_on_every_verdict_stops_the_run_after_three_steps(tmp_path, plugin, warm_model, capsys):
    from rlvr.flows.errors import report_failure

    plugin("raises_all_mod", RAISES_ALL)
    lines = []
    trainer = _trainer(tmp_path, [{"name": "raises_all_mod:raises_all"}], lines, steps=6,
                       checkpoint={"dir": str(tmp_path / "run"), "every": 2, "keep": 5})
    try:
        with pytest.raises(VerifierFailing) as stop:
            trainer.train()
        rows = trainer.metrics.read()
    finally:
        trainer.close()
    message = str(stop.value)
    assert "verifier 'raises_all_mod:raises_all'" in message and "3 consecutive steps (1-3" in message, message
    assert "first: ZeroDivisionError: division by zero" in message and "newest checkpoint is step-2" in message
    # the checkpoint written before the stop stays; none is written of the step that stopped the run
    assert [path.name for path in step_dirs(tmp_path / "run")] == ["step-2"]
    assert [row["step"] for row in rows] == [1, 2, 3] and all(row["status/error"] == 1.0 for row in rows)
    assert lines[-1].startswith("step 3/6") and "WARNING: every verdict is error/timeout" in lines[-1], lines
    # `rlvr train` ends with one line and exit 1 (a failure, not input to fix)
    capsys.readouterr()
    assert report_failure(stop.value, None) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rlvr: verifier 'raises_all_mod:raises_all' failed"), err


def test_stop_after_failing_steps_0_never_stops(tmp_path, plugin, warm_model):
    plugin("raises_all_zero", RAISES_ALL)
    lines = []
    trainer = _trainer(tmp_path, [{"name": "raises_all_zero:raises_all"}], lines, steps=3,
                       stop_after_failing_steps=0)
    try:
        rows = trainer.train()
    finally:
        trainer.close()
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert [path.name for path in step_dirs(tmp_path / "run")][-1] == "step-3"


def _row(step, primary_statuses, second_statuses):
    """A step row from `rollout_metrics` over one group of the statuses given (math, then `second:fn`)."""
    group = [{"math": Verdict(0.0, p, {"error": "ValueError: bad"}), "second:fn": Verdict(0.0, s, {"rule": "deadline"})}
             for p, s in zip(primary_statuses, second_statuses)]
    completions = [SimpleNamespace(completions=[SimpleNamespace(token_ids=[1], truncated=False)] * len(group))]
    return {"step": step, **rollout_metrics(completions, [[0.0] * len(group)], [group], "math")}


def test_only_consecutive_failing_steps_count_and_a_second_verifier_counts_too():
    streak = FailingStreak(3, "math")
    fail, ok = ["error", "timeout"], ["wrong", "wrong"]
    for step, primary in enumerate([fail, fail, ok, fail, fail], 1):  # two, a good step, two: never three in a row
        assert streak.observe(_row(step, primary, ok)) is None
    streak = FailingStreak(3, "math")
    stops = [streak.observe(_row(step, ["correct", "error"], ["timeout", "timeout"])) for step in (1, 2, 3)]
    assert stops[:2] == [None, None]
    assert stops[2].startswith("verifier 'second:fn' failed (error/timeout) on every verdict of 3 consecutive steps "
                               "(1-3, 6 verdicts; first: deadline)"), stops[2]


def test_the_row_has_the_wall_time_of_scoring(tmp_path, plugin, warm_model):
    plugin("sleepy_mod", SLEEPS)
    trainer = _trainer(tmp_path, [{"name": "sleepy_mod:slow"}], [], verify={"cache": False})
    try:
        row = trainer.run_step()
    finally:
        trainer.close()
    # 4 completions scored one after another by one worker, 0.3 s each: scoring is part of the rollout's time
    assert 1.2 <= row["verify_time_s"] <= row["rollout_time_s"] <= row["step_time_s"], row


def test_a_verifier_whose_huge_rewards_swallow_the_primarys_is_said_once(tmp_path, plugin, warm_model):
    plugin("huge_mod", HUGE)
    lines = []
    verifiers = [{"name": "huge_mod:alternating"}, {"name": "huge_mod:huge", "weight": 0.5}]
    trainer = _trainer(tmp_path, verifiers, lines, verify={"cache": False})
    try:
        rows = trainer.train(steps=2)
    finally:
        trainer.close()
    # the fault: every group's combined reward is 5e29 whatever `alternating` says, so nothing is learnt
    assert all(row["reward_std"] == 0 and row["adv_abs_max"] == 0 for row in rows), rows
    said = [line for line in lines if "the rewards of verifier 'huge_mod:alternating' differ" in line]
    assert len(said) == 1 and said[0].startswith("warning: step 1:"), lines
    assert "beside the weighted reward 5e+29 of verifier 'huge_mod:huge'" in said[0], said


def _verdicts(*columns):
    """One group: verifier key -> its rewards, by completion."""
    return [[{key: Verdict(r, "correct") for key, r in zip(columns[::2], rewards)}
             for rewards in zip(*columns[1::2])]]


@pytest.mark.parametrize("verdicts, weights, lost", [
    (_verdicts("math", [0.0, 1.0], "big", [1e30, 1e30]), {"math": 1.0, "big": 0.5}, [("math", "big", 1.0, 5e29)]),
    (_verdicts("math", [0.0, 1.0], "big", [1e7, 1e7]), {"math": 1.0, "big": 2.0}, [("math", "big", 1.0, 2e7)]),
    # 1e3 beside rewards in [0, 1]: large, but their differences still count in the sum
    (_verdicts("math", [0.0, 1.0], "big", [1e3, 1e3]), {"math": 1.0, "big": 1.0}, []),
    # two verifiers that cancel out: equal combined rewards by design, nothing lost to rounding
    (_verdicts("math", [0.0, 1.0], "format", [1.0, 0.0]), {"math": 1.0, "format": 1.0}, []),
], ids=["1e30", "2e7", "1e3", "cancelling"])
def test_lost_rewards_are_differences_below_float32_resolution_beside_the_largest(verdicts, weights, lost):
    assert lost_rewards(verdicts, weights) == lost
