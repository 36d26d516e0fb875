"""What `rlvr`'s flow commands print on the console: Prefect's rich console handlers, adjusted by
`flows.errors.quiet_console`, print a record's text as written; third-party notices, Prefect's task bookkeeping
and the run config in full go to the run's log file only (flows/console.py), unless RLVR_VERBOSE or Prefect's
DEBUG level asks for everything; a stopped `rlvr verify` says what it lost."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.flows.flow_helpers import CONFIG, REPO

# A plug-in named `my_rewards:boom` in a warning: rich's console would print "my_rewards💥" by default.
SCRIPT = """
import logging, prefect.main
from rlvr.flows.errors import {adjust}
{adjust}()
logging.getLogger("prefect.flow_runs").warning("verifier 'my_rewards:boom:' timed out on 3 of 8 completions")
logging.getLogger("rlvr.data.loading").warning("arith:smile: skipped 1 bad row(s)")
"""


@pytest.mark.parametrize("adjust", ["quiet_console", "one_line_prefect_console"])  # a command's; a served run's
def test_colon_words_in_a_record_are_printed_as_text_not_emoji(tmp_path, adjust):
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(adjust=adjust)], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PREFECT_HOME": str(tmp_path / "prefect"),
                               "PREFECT_LOGGING_COLORS": "false"})
    shown = done.stdout + done.stderr
    assert done.returncode == 0, shown
    assert "'my_rewards:boom:' timed out" in shown and "arith:smile: skipped" in shown, shown
    assert "\N{COLLISION SYMBOL}" not in shown and "\N{SMILING FACE WITH SMILING EYES}" not in shown, shown


def test_a_stopped_rlvr_verify_does_not_promise_a_resume(tmp_path):
    """Ctrl-C during `rlvr verify`: one closing line saying nothing was written (it has no run to resume)."""
    import json
    import os
    import signal
    import time

    import psutil

    slow = {"completion": "import time\ntime.sleep(8)\ndef f():\n    return 1\n",
            "reference": {"tests": "assert f() == 1", "entry_point": "f"}, "verifier": "code"}
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(slow) + "\n" for _ in range(8)))
    rlvr = str(Path(sys.executable).with_name("rlvr"))
    proc = subprocess.Popen([rlvr, "verify", str(rows), "--workers", "1"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "RLVR_HOME": str(tmp_path)})
    def sandbox_started() -> bool:  # scoring has begun once the pool's worker has started its first sandbox
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if "sandbox_child" in " ".join(child.cmdline()):
                    return True
            except psutil.Error:  # ended between the listing and the look
                continue
        return False

    deadline = time.monotonic() + 60
    while not sandbox_started():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    logs = "".join(p.read_text() for p in Path(os.environ.get("RLVR_LOG_DIR", tmp_path)).glob("rlvr-verify-*.log"))
    last = (err.strip().splitlines() or [""])[-1]
    if proc.returncode != 130 or not last.startswith("rlvr: stopped by SIGINT; nothing was written"):
        pytest.fail(f"exit {proc.returncode}\nstdout: {out[-2000:]}\nstderr: {err[-3000:]}\nlog: {logs[-3000:]}")
    assert "resumed" not in err


def test_a_command_that_fails_in_process_leaves_in_memory_log_captures_working(caplog):
    """The closing line silences the console's handlers; a StringIO capture (pytest's caplog, a notebook's handler)
    is no console and kept hearing nothing after an in-process `cli.main` failed."""
    import logging

    from rlvr.flows import cli
    from tests.flows.flow_helpers import CONFIG

    assert cli.main(["config", "-c", CONFIG, "eval.k=[1, 16]"]) == 2
    logging.getLogger("rlvr.data.loading").warning("gsm8k/test: skipped 2 bad row(s)")
    assert "gsm8k/test: skipped 2 bad row(s)" in caplog.text


# Records as vLLM, torch, Prefect and rlvr emit them during a run (their loggers, levels and words).
NOTICES = """
import logging, os, sys, warnings
import prefect.main
from rlvr.flows.errors import end_run_log, quiet_console, start_run_log
quiet_console()
log = start_run_log("train")
logging.getLogger("prefect").info("Starting temporary server on http://127.0.0.1:8069\\nSee https://docs.prefect.io/v3/"
                                  "concepts/server#how-to-guides for more information on running a dedicated server.")
logging.getLogger("prefect.task_runs").info("Finished in state Completed()")
logging.getLogger("vllm.v1.worker.cpu_worker").warning("%s is not found in LD_PRELOAD. For best performance ...",
                                                       "libtcmalloc")
logging.getLogger("vllm.config.model").info("Using max model len 1024")
logging.getLogger("vllm.config.model").warning("an unknown vLLM warning")
warnings.warn("`torch.distributed.reduce_op` is deprecated, please use `torch.distributed.ReduceOp` instead",
              FutureWarning)
warnings.warn("an unknown FutureWarning", FutureWarning)
logging.getLogger("rlvr.data.loading").warning("gsm8k/train: skipped 1 bad row(s) of 5 (line 3)")
end_run_log(log)
print("log file:", log)
"""
QUIETED = ("Finished in state Completed()", "libtcmalloc is not found", "`torch.distributed.reduce_op` is deprecated",
           "See https://docs.prefect.io")


def _notices(tmp_path, **env) -> tuple[str, str]:
    """(the console, the log file) of NOTICES run as a command's process with `env` added."""
    done = subprocess.run([sys.executable, "-c", NOTICES], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PREFECT_HOME": str(tmp_path / "prefect"),
                               "RLVR_LOG_DIR": str(tmp_path / "logs"), "PREFECT_LOGGING_COLORS": "false",
                               "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **env})
    shown = done.stdout + done.stderr
    assert done.returncode == 0, shown
    return shown, Path(re.search(r"log file: (\S+)", shown).group(1)).read_text()


def test_library_notices_and_task_bookkeeping_go_to_the_log_file_only(tmp_path):
    shown, logged = _notices(tmp_path)
    for quieted in QUIETED:
        assert quieted not in shown, shown
    assert "Using max model len 1024" not in shown and "Using max model len 1024" in logged  # vLLM's INFO
    assert "Starting temporary server on http://127.0.0.1:8069" in shown  # its first line
    for kept in ("an unknown vLLM warning", "FutureWarning: an unknown FutureWarning",
                 "gsm8k/train: skipped 1 bad row(s) of 5 (line 3)"):
        assert kept in shown and kept in logged, shown
    for quieted in QUIETED[:3]:
        assert quieted in logged, logged


@pytest.mark.parametrize("switch", [{"RLVR_VERBOSE": "1"}, {"PREFECT_LOGGING_LEVEL": "DEBUG"}])
def test_rlvr_verbose_or_prefects_debug_level_shows_everything(switch, tmp_path):
    shown, _ = _notices(tmp_path, **switch)
    for quieted in QUIETED:
        assert quieted in shown, shown


@pytest.mark.slow
def test_a_training_run_prints_its_progress_without_the_libraries_notices(model_path, tmp_path):
    """`rlvr train` with the vLLM sampler, as a user runs it (Prefect's temporary server): step, save and rlvr's
    warning lines; no Prefect task bookkeeping, no vLLM/torch notice; a short run config line naming the log file
    that holds every setting and the notices."""
    data = tmp_path / "train.jsonl"
    data.write_text("".join(f'{{"question": "What is {i} + {i}?", "answer": "#### {2 * i}"}}\n' for i in range(4))
                    + "not json\n")
    run_dir, logs = tmp_path / "run", tmp_path / "logs"
    cmd = [str(Path(sys.executable).with_name("rlvr")), "train", "-c", CONFIG, f"model.path={model_path}",
           "task.name=gsm8k", f"task.source={data}", "sampler.backend=vllm", "sampler.params.max_tokens=16",
           "train.steps=1", "train.prompts_per_step=2", "train.grpo.group_size=2", "train.optim.micro_batch_size=4",
           f"train.checkpoint.dir={run_dir}", "verify.workers=1", "--no-eval"]
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "RLVR_LOG_DIR": str(logs),
           "PREFECT_LOGGING_COLORS": "false"}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    lines = (done.stdout + done.stderr).strip().splitlines()
    shown = "\n".join(lines)
    assert done.returncode == 0, shown
    assert not [line for line in lines if "Task run" in line and "Finished in state" in line], shown
    for notice in ("Triton", "LD_PRELOAD", "reduce_op", "set_num_threads", "global random seed", "Enforce eager",
                   "Loading safetensors checkpoint shards"):
        assert notice not in shown, shown
    assert "gsm8k/train: skipped 1 bad row(s)" in shown  # a warning about the user's data
    assert re.search(r"step 1/1 loss \S+ reward", shown) and f"checkpoint saved: {run_dir}" in shown, shown
    assert done.stdout.strip().splitlines()[-1].startswith(f"trained {run_dir} to step 1"), shown
    config_line = next(line for line in lines if "run config: " in line)
    log_file = next(logs.glob("rlvr-train-*.log"))
    assert len(config_line) < 400 and f"every setting: {log_file}" in config_line, config_line
    logged = log_file.read_text()
    assert "run config (every setting): {" in logged and "libtcmalloc is not found" in logged, logged[-3000:]
