"""The multi-process entry point as a user runs it, 2 gloo ranks, under both launchers: `torchrun -m
rlvr.flows.launch` and `rlvr launch` (torchrun inside rlvr's CLI, flows/torchrun.py). A run trains and resumes
(started by one launcher, resumed by the other); a run directory or device held by another run refuses the whole
job at once (every rank exits, one `rlvr:` line says who holds it); bad input ends in one line and exit 2;
SIGTERM to the launcher stops every rank, with one closing line, and frees the holds. `rlvr launch` passes the
ranks' exit code on and adds one line for the failed ranks instead of torchrun's traceback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from rlvr.flows.locks import device_hold, run_dir_lock

from tests.scaleout.launch_child import child_env, free_port

REPO = Path(__file__).resolve().parents[2]
CONFIG = "configs/arith_grpo_ddp.yaml"
pytestmark = pytest.mark.slow


def _job(*args, ranks: int = 2, launcher: str = "torchrun") -> list[str]:
    options = ["--nnodes", "1", "--nproc_per_node", str(ranks), "--master_addr", "127.0.0.1",
               "--master_port", str(free_port())]
    if launcher == "rlvr":
        return [sys.executable, "-m", "rlvr.flows.cli", "launch", *options, "-c", CONFIG, *args]
    return [sys.executable, "-m", "torch.distributed.run", *options, "-m", "rlvr.flows.launch", "-c", CONFIG, *args]


def _launch(*args, ranks=2, timeout=600, launcher="torchrun") -> subprocess.CompletedProcess:
    return subprocess.run(_job(*args, ranks=ranks, launcher=launcher), cwd=REPO, env=child_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


def _small(model: Path, run: Path) -> list[str]:
    """Overrides for a run of seconds: 4 prompts x G=2, 8-token completions, a checkpoint every step."""
    return [f"model.path={model}", f"train.checkpoint.dir={run}", "train.prompts_per_step=4", "train.grpo.group_size=2",
            "train.optim.micro_batch_size=2", "sampler.params.max_tokens=8", "train.checkpoint.every=1"]


def _rlvr_lines(done) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("rlvr:")]


def _metric_steps(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    return [json.loads(line)["step"] for line in path.read_text().splitlines()] if path.is_file() else []


def test_a_run_started_under_torchrun_resumes_under_rlvr_launch(tiny_model, tmp_path):
    run = tmp_path / "run"
    tracked = "train.report_to=[tensorboard, mlflow]"
    first = _launch(*_small(tiny_model, run), "train.steps=1", tracked)  # 2 ranks, 1 CPU slot (the default)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = _launch(*_small(tiny_model, run), "train.steps=2", tracked, launcher="rlvr")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "resumed from" in second.stdout and "step-1" in second.stdout
    assert "training all weights on cpu in fp32, ddp over 2 ranks; sampler: " in second.stdout
    assert second.stdout.count("holding device cpu (slot 1 of 1") == 1  # one hold for the job on this machine
    assert _metric_steps(run) == [1, 2]  # rank 0 alone writes; the resume neither lost nor repeated a step
    assert (run / "checkpoints" / "step-2" / "model" / "model.safetensors").is_file()
    # rank 0 did what `rlvr train` does around the steps: trackers (one run across the resume) and the curves
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/reward_mean")] == [1, 2]
    client = MlflowClient(tracking_uri=f"sqlite:///{(run / 'mlflow.db').resolve()}")
    history = client.get_metric_history((run / "mlflow_run_id").read_text().strip(), "reward_mean")
    assert sorted(m.step for m in history) == [1, 2]
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    again = _launch(*_small(tiny_model, run), "train.steps=2", launcher="rlvr")  # a finished run: said, as rlvr train
    assert again.returncode == 0 and again.stdout.count("nothing to train: ") == 1, again.stdout[-3000:]
    assert _metric_steps(run) == [1, 2]


def test_a_launch_on_a_run_dir_in_use_is_refused_on_every_rank(tiny_model, tmp_path):
    run = tmp_path / "run"
    with run_dir_lock(run):  # as a running `rlvr train` or launch on the same train.checkpoint.dir holds it
        done = _launch(*_small(tiny_model, run), "train.steps=1", timeout=300, launcher="rlvr")  # no rank hangs
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # the rank's own code, as `rlvr train`
    assert re.search(r"^rlvr launch: [12] ranks? failed: .*rank \d exited 1", done.stderr, re.MULTILINE), done.stderr[-3000:]
    lines = _rlvr_lines(done)
    assert len(lines) == 1, lines  # rank 0 says it once; rank 1 learns it and ends quietly
    assert re.match(rf"rlvr: run directory {run} is in use by pid {os.getpid()} \(.*\) since .*\(full log: .+\)$",
                    lines[0]), lines[0]
    assert not (run / "checkpoints").exists() and not (run / "metrics.jsonl").exists()


def test_a_launch_on_a_cpu_held_by_another_run_gives_up_after_device_timeout(tiny_model, tmp_path):
    run = tmp_path / "run"
    with device_hold("cpu", slots=1, timeout=0, log=lambda m: None):  # another run trains on this CPU
        done = _launch(*_small(tiny_model, run), "train.steps=1", "--device-timeout", "1", timeout=300)
    assert done.returncode != 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = _rlvr_lines(done)
    assert len(lines) == 1 and lines[0].startswith(f"rlvr: device cpu still held after waiting 1 s, by pid {os.getpid()}"), lines
    assert f"waiting for device cpu: held by pid {os.getpid()}" in done.stdout
    assert not (run / "checkpoints").exists()
    with run_dir_lock(run):  # the refused job released the run directory
        pass


@pytest.mark.skipif(torch.cuda.is_available(), reason="asserts what a machine without CUDA says")
@pytest.mark.parametrize("launcher", ["torchrun", "rlvr"])
def test_a_cuda_run_on_a_machine_without_cuda_ends_on_every_rank_with_its_own_line(tmp_path, launcher):
    """Each rank checks its own device before joining the process group (torch's set_device would raise an
    AttributeError there, exit 1). torchrun then exits 1 with its own traceback and failure table (the ranks'
    exit code 2 in it); `rlvr launch` exits 2 with one line more."""
    done = _launch("model.device=cuda", f"train.checkpoint.dir={tmp_path / 'run'}", timeout=300, launcher=launcher)
    lines = sorted(_rlvr_lines(done))
    assert lines and all(re.match(r"rlvr: (rank 1: )?model.device cuda:[01]: this torch .* sees no cuda device "
                                  r"\(full log: .+\)$", line) for line in lines), lines
    assert "AttributeError" not in done.stdout + done.stderr
    if launcher == "torchrun":
        assert done.returncode == 1 and "exitcode  : 2" in done.stderr
    else:
        assert done.returncode == 2, done.stderr[-3000:]
        assert "Traceback" not in done.stderr and "ChildFailedError" not in done.stderr, done.stderr[-3000:]
        # (a rank still starting when the other exits may be ended by torchrun's SIGTERM instead)
        assert re.search(r"^rlvr launch: [12] ranks? failed: .*rank \d exited 2.* \(each rank's own line says why\)$",
                         done.stderr, re.MULTILINE), done.stderr[-3000:]


@pytest.mark.parametrize("override, expected", [
    ("model.device=cuda:99", "rlvr: model.device cuda:99: "),  # one process: any index is the user's to choose
    ("train.ppo.samples_per_prompt=4",
     "rlvr: invalid override on configs/arith_grpo_ddp.yaml: train.ppo.samples_per_prompt: renamed; use "
     "train.ppo.group_size"),
    ("model.path=/nonexistent/model", "rlvr: "),
], ids=["missing-device", "renamed-key", "missing-model-dir"])
def test_bad_input_ends_in_one_line_and_exit_2(override, expected, tmp_path):
    """One process (no launcher: torchrun would turn any exit code into its own 1)."""
    done = subprocess.run([sys.executable, "-m", "rlvr.flows.launch", "-c", CONFIG, override,
                           f"train.checkpoint.dir={tmp_path / 'run'}"], cwd=REPO, env=child_env(),
                          capture_output=True, text=True, timeout=300, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith(expected) and "Traceback" not in done.stderr, lines
    log = Path(re.search(r"\(full log: (.+)\)$", lines[0]).group(1))
    assert "Traceback (most recent call last)" in log.read_text()


def test_rlvr_launch_checks_the_config_once_before_starting_ranks(tmp_path):
    done = _launch("train.algorithm=a2c", f"train.checkpoint.dir={tmp_path / 'run'}", timeout=120, launcher="rlvr")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rlvr: invalid override on {CONFIG}: train.algorithm: 'a2c'"), lines
    assert "OMP_NUM_THREADS" not in done.stdout + done.stderr  # torchrun never started


@pytest.mark.parametrize("launcher", ["torchrun", "rlvr"])
def test_sigterm_to_the_launcher_stops_every_rank_with_one_line_and_frees_the_holds(tiny_model, tmp_path, launcher):
    run = tmp_path / "run"
    out = tmp_path / "out.log"
    cmd = _job(*_small(tiny_model, run), "train.steps=500", "train.checkpoint.every=1000", launcher=launcher)
    with open(out, "w") as sink:
        proc = subprocess.Popen(cmd, cwd=REPO, env=child_env(), stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not _metric_steps(run):  # training: every rank is in its step loop
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)  # a scheduler's stop; torchrun passes it on to the ranks
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = out.read_text()
    assert code != 0, text[-3000:]
    lines = [line for line in text.splitlines() if line.startswith("rlvr:")]
    assert len(lines) == 1 and lines[0].startswith("rlvr: stopped by SIGTERM; "), text[-3000:]
    steps = _metric_steps(run)  # rank 0 checkpointed the last completed step, unless it was inside an update
    saved = f"saved {run / 'checkpoints' / f'step-{steps[-1]}'}; the same command resumes from step {steps[-1]}"
    assert saved in lines[0] or "stopped during an optimizer update" in lines[0], lines[0]
    assert saved not in lines[0] or (run / "checkpoints" / f"step-{steps[-1]}" / "trainer_state.pt").exists()
    if launcher == "rlvr":  # torchrun's agent passed the signal on and waited; no traceback of its own after it
        assert code == 128 + signal.SIGTERM and "Traceback" not in text, text[-3000:]
    with run_dir_lock(run), device_hold("cpu", slots=1, timeout=10, log=lambda m: None):  # both released
        pass
