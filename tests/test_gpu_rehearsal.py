"""The GPU check (scripts/gpu_check.sh) rehearsed on this CPU, as a session with a GPU runs it first: every
bench it calls at toy sizes, and the `gpu` tests' bodies with cuda read as cpu. A session is lent the GPU for 15
minutes, start-up included, so a bench broken by a change elsewhere (as the rollout split once was, by a new
option its sibling bench started to read) must fail here, not there."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _dry_gpu_check(out: Path, timeout: float, **settings: str) -> subprocess.CompletedProcess:
    """scripts/gpu_check.sh rehearsed on this CPU, writing into `out`, with GPU_CHECK_* `settings` added."""
    env = dict(os.environ, GPU_CHECK_DRY="1", OUT=str(out), PY=sys.executable, **settings)
    return subprocess.run(["bash", "scripts/gpu_check.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_the_gpu_check_rehearses_cleanly_on_cpu(tmp_path):
    # every step named, as a rerun of a few names them (GPU_CHECK_STEPS; the default is all six)
    done = _dry_gpu_check(tmp_path, 900, GPU_CHECK_BUDGET_S="400",
                          GPU_CHECK_STEPS="profile logp split attention bench tests")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "== errors in" not in done.stdout
    read = lambda name: (tmp_path / name).read_text()
    assert " passed" in read("pytest.log") and " failed" not in read("pytest.log")
    assert "| hf | full | rlvr | trl |" in read("grpo_vs_trl.md")  # the ratio row
    assert "goal (issue 15): s/step rlvr/TRL after the first step" in read("grpo_vs_trl.md")  # and the verdict
    split = read("rollout_split.md")
    assert "decode loop: decode_static" in split and "decode loop: decode\n" in split
    assert split.count("step 2 (under cProfile)") == 2 and "syncs: not measured on cpu" in split
    assert "rlvr/trl: peak memory" in read("logprob_memory.md")
    assert "| buckets |" in read("profile.md") and "| dense |" in read("profile.md")  # the attention step
    assert "== decode profile" in read("profile.md") and "== segment attention kernels" in read("profile.md")
    assert "== done" in read("env.txt")


def test_an_unknown_step_name_is_refused_before_anything_runs(tmp_path):
    done = _dry_gpu_check(tmp_path, 60, GPU_CHECK_STEPS="bench benchs")
    assert done.returncode == 2
    assert done.stdout.strip() == ("gpu_check: unknown step 'benchs' in GPU_CHECK_STEPS "
                                   "(steps: tests bench attention split logp profile)")
    assert not list(tmp_path.iterdir())


def test_steps_past_the_budget_are_skipped_with_a_line(tmp_path):
    """The script ends near GPU_CHECK_BUDGET_S (the device call's timeout_s) instead of being cut mid-step."""
    done = _dry_gpu_check(tmp_path, 120, GPU_CHECK_BUDGET_S="1", GPU_CHECK_STEPS="attention split logp profile")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    for name in ("rollout_split.md", "logprob_memory.md", "profile.md"):
        text = (tmp_path / name).read_text()
        assert "(skipped: " in text and "of GPU_CHECK_BUDGET_S=1 left)" in text, (name, text)
    assert not (tmp_path / "profiles.txt").exists()
