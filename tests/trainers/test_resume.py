"""A training killed with SIGKILL mid-run resumes from its last complete checkpoint and ends with exactly the
steps and final metrics of an uninterrupted run with the same seed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = Path(__file__).with_name("train_child.py")
REPO = Path(__file__).resolve().parents[2]


def _config(run_dir: Path) -> dict:
    return {
        "model": {"path": "tiny"},
        "task": {"name": "arith", "level": 2},
        "sampler": {"backend": "hf", "params": {"max_tokens": 40, "temperature": 1.0}},
        "verify": {"workers": 1},
        "train": {
            "algorithm": "grpo", "steps": 6, "prompts_per_step": 4, "seed": 11,
            "grpo": {"group_size": 4}, "optim": {"lr": 1e-4, "micro_batch_size": 16},
            "checkpoint": {"dir": str(run_dir), "every": 2, "keep": 5},
        },
    }


def _start(run_dir: Path) -> subprocess.Popen:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir.parent / f"{run_dir.name}.json"
    path.write_text(json.dumps(_config(run_dir)))
    return subprocess.Popen([sys.executable, str(CHILD), str(path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_uninterrupted(tmp_path, warm_model):
    straight = tmp_path / "straight"
    proc = _start(straight)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out

    killed = tmp_path / "killed"
    proc = _start(killed)
    deadline = time.time() + 900
    while not (killed / "checkpoints" / "step-4").exists():  # kill after the 2nd checkpoint, during step 5
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "checkpoints" / "step-6").exists()

    proc = _start(killed)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "resumed from" in out and "step-4" in out

    a, b = _metrics(straight), _metrics(killed)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]  # no step lost, none repeated
    for key in ("reward_mean", "accuracy", "loss", "completion_len_mean"):
        assert [r[key] for r in b] == pytest.approx([r[key] for r in a], rel=1e-4, abs=1e-5), key
