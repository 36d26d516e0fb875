"""`rlvr train` as a user runs it, in a subprocess, against faults: a SIGKILLed run (device and run directory
free again, the same command resumes with every metrics row once), Ctrl-C / SIGTERM (the run and what it
started end, the device is free, the steps done since the last checkpoint are saved), and bad input (one closing `rlvr:` line, exit 2, the traceback in a file).

Most runs use the session's real `prefect server` (start-up in seconds); the stop tests run in Prefect's
embedded mode, where a Ctrl-C to the process group also kills the embedded server under the run. The bad-input
commands run once each, three at a time, in one module fixture (`bad_input_runs`); each case's test reads its own."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.flow_helpers import CONFIG, free_port, start_process, tiny_overrides, wait_for
from tests.scaleout.weightless import weightless_copy

pytestmark = pytest.mark.slow
RLVR = [sys.executable, "-m", "rlvr.flows.cli"]


def _train_cmd(run_dir: Path, model_path: str, *extra: str) -> list[str]:
    """A short GRPO run: 6 steps of 2 prompts x G=2, 16-token completions, a checkpoint every 2 steps."""
    return [*RLVR, "train", "-c", CONFIG, *tiny_overrides(run_dir, model_path), "train.steps=6",
            "train.prompts_per_step=2", "train.grpo.group_size=2", "sampler.params.max_tokens=16",
            "train.checkpoint.every=2", "--no-eval", *extra]


def _run(cmd: list[str], env: dict, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=Path(CONFIG).parents[1])


def _metric_steps(run_dir: Path) -> list[int]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip().endswith("}")]


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[-1] if lines else ""


def test_a_sigkilled_run_frees_device_and_run_dir_and_the_same_command_resumes(prefect_server, model_path, tmp_path):
    _, env = prefect_server
    run_dir = tmp_path / "run"
    cmd = _train_cmd(run_dir, model_path)
    first = start_process(cmd, env, tmp_path / "first.log")
    try:
        wait_for("three training steps", lambda: len(_metric_steps(run_dir)) >= 3, 400, first, tmp_path / "first.log")
        first.send_signal(signal.SIGSTOP)  # frozen mid-run, still holding the device and the run directory
        other = subprocess.Popen([*_train_cmd(tmp_path / "other", model_path), "--device-timeout", "2"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        same = _run(cmd, env)
        out, err = other.communicate(timeout=400)
        waited = subprocess.CompletedProcess(other.args, other.returncode, out, err)
    finally:
        first.send_signal(signal.SIGKILL)  # as an OOM kill would: no cleanup of any kind
        first.wait()
    assert same.returncode == 1, same.stdout[-2000:] + same.stderr[-2000:]
    assert re.match(rf"rlvr: run directory {run_dir} is in use by pid {first.pid} \(cli.py train -c .*\) since ",
                    _last_line(same)), _last_line(same)
    assert waited.returncode == 1, waited.stdout[-2000:] + waited.stderr[-2000:]
    assert re.match(rf"rlvr: device cpu still held after waiting 2 s, by pid {first.pid} \(", _last_line(waited))
    assert f"waiting for device cpu: held by pid {first.pid}" in waited.stdout + waited.stderr

    killed_at = _metric_steps(run_dir)
    code, shown = _run_on_a_terminal([*cmd, "--device-timeout", "300"], env)  # the same command, as a user types it
    assert code == 0, shown[-3000:]
    assert "resuming from step" in shown
    assert killed_at[:3] == [1, 2, 3] and _metric_steps(run_dir) == [1, 2, 3, 4, 5, 6]
    assert re.search(r"training: +\d+%.*\| *6/6 \[[0-9:]+<[0-9:]+", shown), shown[-2000:]  # the bar, with ETA


def _run_on_a_terminal(cmd: list[str], env: dict) -> tuple[int, str]:
    """Run `cmd` with a pseudo-terminal as stdout and stderr; (exit code, what it showed, colour codes removed)."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 160, 0, 0))  # a terminal has a size
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                            cwd=Path(CONFIG).parents[1])
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    code = proc.wait(timeout=60)
    text = b"".join(chunks).decode(errors="replace").replace("\r", "\n")
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


@pytest.mark.parametrize("how", ["sigint-to-group", "sigterm-to-main"])
def test_a_stop_signal_ends_the_run_and_what_it_started(how, model_path, tmp_path):
    import psutil
    from rlvr.flows.locks import device_hold

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # embedded Prefect server
    run_dir = tmp_path / "run"
    log = tmp_path / "out.log"
    proc = start_process([*_train_cmd(run_dir, model_path), "train.steps=500", "train.checkpoint.every=1000"], env, log)
    try:
        wait_for("a training step", lambda: _metric_steps(run_dir), 400, proc, log)
        started = psutil.Process(proc.pid).children(recursive=True)
        assert started, "the run has child processes (the embedded Prefect server, verifier workers)"
        if how == "sigint-to-group":
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal
        else:
            proc.send_signal(signal.SIGTERM)  # `kill PID`, a scheduler's stop
        code = proc.wait(timeout=120)  # before this fix: minutes of retries, or orphans
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code == (130 if how == "sigint-to-group" else 143), log.read_text()[-3000:]
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith("rlvr: stopped by SIG"), last
    assert "(full log: " in last, last  # also when the watchdog ends the run (the Prefect server stopped first)
    crash = [line for line in log.read_text().splitlines() if "Crash detected" in line or "aborted by a" in line]
    assert not crash, crash  # said once, by rlvr
    # no checkpoint was due: the stop saved the last completed step, unless it came inside an optimizer update
    steps = _metric_steps(run_dir)
    if "stopped during an optimizer update" in last:
        lost = "step 1 is lost" if steps[-1] == 1 else f"steps 1-{steps[-1]} are lost"
        assert not (run_dir / "checkpoints").exists() and lost in last, last
    else:
        assert f"saved {run_dir / 'checkpoints' / f'step-{steps[-1]}'}; the same command resumes from step {steps[-1]}" in last
        assert [p.name for p in (run_dir / "checkpoints").iterdir()] == [f"step-{steps[-1]}"]
    _, alive = psutil.wait_procs(started, timeout=15)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], [p.cmdline()[:3] for p in alive]
    with device_hold("cpu", slots=1, timeout=10, log=lambda m: None):  # released
        pass


@pytest.fixture(scope="module")
def bad_inputs(model_path, tmp_path_factory):
    """case -> (overrides, the words its closing line holds, whether `rlvr train` finds it before Prefect starts)."""
    root = tmp_path_factory.mktemp("bad")
    data = root / "bad.jsonl"
    data.write_text('{"question": "1+1?", "answer": "#### 2"}\nnot json\n{"question": "2+2?", "answer": "#### 4"}\n')
    corrupt = root / "corrupt-model"
    corrupt.mkdir()
    for item in Path(model_path).iterdir():
        if item.is_file():
            (corrupt / item.name).write_bytes(item.read_bytes())
    (corrupt / "config.json").write_text('{"model_type": "qwen2", "hidden_size": ')
    weightless = weightless_copy(Path(model_path), root / "weightless-model")  # an interrupted download
    cut, tokenless = root / "cut-weights-model", root / "tokenless-model"
    for copy in (cut, tokenless):
        shutil.copytree(model_path, copy)
    weights = cut / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a copy that stopped half-way
    (tokenless / "tokenizer.json").unlink()  # transformers then builds an empty tokenizer, without an error
    long_prompt = root / "test.jsonl"
    long_prompt.write_text(json.dumps({"question": "Please read carefully. " * 400 + "1+1?", "answer": "#### 2"}) + "\n")
    pairs = root / "pairs.jsonl"
    pairs.write_text('{"prompt": "1+1=", "chosen": "2", "rejected": "3"}\n{"prompt": "2+2=", "chosen": "4"}\n')
    return {
        "a non-JSON line (on_bad_row=fail)": (["task.name=gsm8k", f"task.source={data}", "task.on_bad_row=fail"],
                                              "bad.jsonl", False),
        "a missing model dir": ([f"model.path={root / 'no-such-model'}"], "no such file or directory", True),
        "a corrupt config.json": ([f"model.path={corrupt}"], "config.json cannot be read", True),
        "a model dir without weights": ([f"model.path={weightless}"], "incomplete model directory, no weights", True),
        "cut-off weights": ([f"model.path={cut}"], "model.safetensors is damaged", True),
        "a tokenizer without tokenizer.json": ([f"model.path={tokenless}"], "its tokenizer encodes text to nothing",
                                               True),
        "a device this machine lacks": (["model.device=cuda:99"], "model.device cuda:99: ", True),
        "a DPO pair without rejected": (["train.algorithm=dpo", f"train.dpo.pairs_path={pairs}"],
                                        f"train.dpo.pairs_path {pairs}:2: expected a JSON object", True),
        "an eval prompt over max_model_len (on_bad_row=fail)": (
            [f"eval.tasks=[{{name: gsm8k, split: test, source: '{long_prompt}', on_bad_row: fail}}]",
             "sampler.max_model_len=512", "--eval"],
            "1 of 1 gsm8k-test prompts do not fit sampler.max_model_len=512", False),
    }


@pytest.fixture(scope="module")
def bad_input_runs(bad_inputs, prefect_server, model_path, tmp_path_factory):
    """case -> (its `rlvr train` command's result, its run dir). Each case is its own command, run once for its test;
    three run at a time because each is mostly a Python start that fails (one core each: on 2 cores that halves
    the wait). A case `rlvr train` finds before Prefect starts gets a PREFECT_API_URL where nothing listens (and no
    client retries): its own line, not Prefect's, shows that the user waits for no Prefect start before it."""
    from concurrent.futures import ThreadPoolExecutor

    _, env = prefect_server
    no_prefect = {**env, "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api", "PREFECT_CLIENT_MAX_RETRIES": "0"}
    root = tmp_path_factory.mktemp("bad-runs")

    def run_case(case: str) -> tuple[subprocess.CompletedProcess, Path]:
        overrides, _, before_prefect = bad_inputs[case]
        run_dir = root / re.sub(r"\W+", "-", case) / "run"
        return _run([*_train_cmd(run_dir, model_path), *overrides], no_prefect if before_prefect else env), run_dir

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(bad_inputs, pool.map(run_case, bad_inputs)))


@pytest.mark.parametrize("case", ["a non-JSON line (on_bad_row=fail)", "a missing model dir", "a corrupt config.json",
                                  "a model dir without weights", "cut-off weights", "a tokenizer without tokenizer.json",
                                  "a device this machine lacks",
                                  "a DPO pair without rejected", "an eval prompt over max_model_len (on_bad_row=fail)"])
def test_bad_input_ends_in_one_line_exit_2_and_a_log_with_the_traceback(case, bad_inputs, bad_input_runs):
    _, expected, _ = bad_inputs[case]
    done, run_dir = bad_input_runs[case]
    output = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 2, "\n".join(output[-30:])
    last = output[-1]
    assert last.startswith("rlvr: ") and expected in last, last
    assert len(output) <= 15 and not any("Traceback" in line for line in output), "\n".join(output)
    # said once: Prefect's failed-state records of it stay in the log file (a case found before Prefect starts has
    # none); the run config line may name the same file
    said = [line for line in output if expected in line and "run config: {" not in line]
    assert said == [last], "\n".join(said)
    log = Path(re.search(r"\(full log: (.+)\)$", last).group(1))
    assert "Traceback (most recent call last)" in log.read_text()
    assert not (run_dir / "checkpoints").exists()  # it failed before the trainer (and weights) started


def test_rlvr_eval_checks_its_data_before_the_device_and_the_model(bad_inputs, prefect_server, model_path, tmp_path):
    from rlvr.flows.locks import device_hold

    _, env = prefect_server
    (_, source, _), _, _ = bad_inputs["a non-JSON line (on_bad_row=fail)"]
    path = source.split("=", 1)[1]
    suite = f"eval.tasks=[{{name: gsm8k, split: test, source: '{path}', on_bad_row: fail}}]"
    with device_hold("cpu", slots=1, timeout=0, log=lambda m: None):  # held here: the eval must fail before it
        done = _run([*RLVR, "eval", model_path, "-c", CONFIG, suite, f"train.checkpoint.dir={tmp_path}",
                     "--device-timeout", "600"], env)
    last = _last_line(done)
    assert done.returncode == 2 and last.startswith("rlvr: eval task gsm8k (") and "line 2" in last, last


@pytest.fixture(scope="module")
def resumed_past_a_damaged_checkpoint(prefect_server, model_path, tmp_path_factory):
    """A 2-step run (checkpoints step-1, step-2) whose step-2 trainer state is then cut in half, and the same
    command run again with the final evaluation: (what it showed, exit code, run dir)."""
    from rlvr.trainers.checkpoint import STATE_FILE

    _, env = prefect_server
    run_dir = tmp_path_factory.mktemp("damaged") / "run"
    cmd = [*_train_cmd(run_dir, model_path), "train.steps=2", "train.checkpoint.every=1"]
    first = _run(cmd, env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    state = run_dir / "checkpoints" / "step-2" / STATE_FILE
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])  # a partial copy, a full disk
    again = _run([*cmd, "--eval"], env)
    return again.stdout + again.stderr, again.returncode, run_dir


def test_a_resume_past_a_damaged_checkpoint_names_the_step_it_resumed_from(resumed_past_a_damaged_checkpoint):
    shown, code, _ = resumed_past_a_damaged_checkpoint
    assert code == 0, shown[-3000:]
    lines = shown.splitlines()
    skipped = [i for i, line in enumerate(lines) if "skipped checkpoint" in line and "step-2" in line]
    resuming = [i for i, line in enumerate(lines) if "resuming from step" in line]
    assert len(skipped) == 1 and len(resuming) == 1, shown[-3000:]
    assert "resuming from step 1 of 2" in lines[resuming[0]], lines[resuming[0]]  # not the damaged step-2
    assert skipped[0] < resuming[0], shown[-3000:]  # said after the Trainer chose, not before


def test_the_curve_is_drawn_after_the_final_evaluation_with_its_point(resumed_past_a_damaged_checkpoint, tmp_path):
    from rlvr.flows.artifacts import eval_points, plot_curves
    from rlvr.trainers.checkpoint import list_checkpoints
    from rlvr.trainers.metrics import MetricsLog

    shown, code, run_dir = resumed_past_a_damaged_checkpoint
    assert code == 0, shown[-3000:]
    evals = eval_points(list_checkpoints(run_dir))
    assert [step for step, _ in evals] == [2]  # the final evaluation's report, read back
    rows = MetricsLog(run_dir / "metrics.jsonl").read()
    expected = plot_curves(rows, tmp_path / "with-final-eval.png", title="flows-test", evals=evals)
    assert (run_dir / "curves.png").read_bytes() == expected.read_bytes()  # matplotlib's PNG is deterministic
