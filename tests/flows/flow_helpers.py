"""Helpers of the flow tests: the tiny run config, and starting/stopping processes (servers, `rlvr` commands).

It trains 2 steps of GRPO on 4 prompts x G=4 with 32-token completions, checkpoints every step and
evaluates 8 problems with n=2; the hf sampler backend keeps start-up short (the demo itself uses vLLM).
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "arith_grpo.yaml")


def tiny_overrides(run_dir: Path, model_path: str, name: str = "flows-test") -> list[str]:
    """Dotted overrides on configs/arith_grpo.yaml for a run that takes seconds."""
    return [
        f"name={name}", f"model.path={model_path}", "sampler.backend=hf", "sampler.params.max_tokens=32",
        "train.steps=2", "train.prompts_per_step=4", "train.grpo.group_size=4", "train.optim.micro_batch_size=16",
        f"train.checkpoint.dir={run_dir}", "train.checkpoint.every=1", "verify.workers=1",
        "eval.tasks=[{name: arith, level: 2, split: test, limit: 8}]", "eval.n=2", "eval.k=[1, 2]",
        "eval.params.max_tokens=32",
    ]


def real_lora_checkpoint(run_dir: Path, warm_model) -> Path:
    """A training checkpoint (`step-3`) holding a real PEFT adapter on the tiny model, as the trainer writes it."""
    import json

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    ckpt = run_dir / "checkpoints" / "step-3"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(warm_model), LoraConfig(r=4, target_modules=["q_proj"]))
    model.save_pretrained(ckpt / "model")
    (ckpt / "model" / "rlvr_policy.json").write_text(json.dumps({"lora": True, "base_path": str(warm_model)}))
    (ckpt / "config.json").write_text(json.dumps({"model": {"path": str(warm_model), "lora": {"r": 4}},
                                                  "train": {"checkpoint": {"dir": str(run_dir)}}}))
    return ckpt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    """Poll `check()` until it returns something truthy; fail if `proc` exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}\n{log.read_text()[-4000:] if log else ''}")
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{log.read_text()[-4000:]}" if log else ""))


def start_process(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start `cmd` in the repository root in its own process group (session), output to `log`."""
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a process this test started, and its children (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def answers(url: str) -> bool:
    """Whether GET `url` answers 200 (a server's health endpoint)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_prefect_server(home: Path, port: int, log_name: str = "server.log") -> tuple[subprocess.Popen, str, dict]:
    """`prefect server start` on 127.0.0.1:`port` with its database in `home`, once healthy: (process, api_url,
    env for clients). Started again on the same home and port, it serves the same database."""
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_API_URL": url, "PREFECT_RUNNER_POLL_FREQUENCY": "2", "PYTHONUNBUFFERED": "1",
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2"}  # schedules become runs in seconds, not a minute
    log = home / log_name
    proc = start_process([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                          "--port", str(port), "--no-ui", "--analytics-off"], env, log)

    try:
        wait_for("prefect server", lambda: answers(f"{url}/health"), 180, proc, log)
    except BaseException:
        stop_process(proc)
        raise
    return proc, url, env
