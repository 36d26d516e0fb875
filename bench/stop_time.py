"""How long `rlvr train` takes to end after a stop signal, and whether anything it started outlives it.

    .venv/bin/python bench/stop_time.py --backend hf --how group-int     # Ctrl-C in a terminal
    .venv/bin/python bench/stop_time.py --backend hf --how main-term     # `kill PID`

Starts a small training run (tiny model, 2 prompts x G=2, 16-token completions, 500 steps, embedded Prefect
server, its own lock/log/Prefect dirs under /tmp), waits for the first metrics row, sends the signal, and prints
the seconds from the signal to the exit, the exit code, the child processes still alive, and the closing line.
There is no peer to compare with: before issue 17 the same run kept retrying for 2.5-3.5 minutes (Ctrl-C to the
group) or left its Prefect server running (SIGTERM to the main process).
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("RLVR_CACHE", str(REPO / ".cache" / "rlvr"))  # the tiny model the tests build and cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="hf", choices=["hf", "vllm"])
    parser.add_argument("--how", default="group-int", choices=["group-int", "main-term"])
    args = parser.parse_args()
    from rlvr.trainers.bootstrap import bootstrap_tiny

    model = bootstrap_tiny(log=lambda _m: None)
    work = Path(tempfile.mkdtemp(prefix="rlvr-stop-time-"))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(RLVR_LOCK_DIR=str(work / "locks"), RLVR_LOG_DIR=str(work / "logs"), PREFECT_HOME=str(work / "prefect"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    run = work / "run"
    cmd = [sys.executable, "-m", "rlvr.flows.cli", "train", "-c", "configs/arith_grpo.yaml", f"model.path={model}",
           f"sampler.backend={args.backend}", "train.steps=500", "train.prompts_per_step=2", "train.grpo.group_size=2",
           "sampler.params.max_tokens=16", f"train.checkpoint.dir={run}", "verify.workers=1", "--no-eval"]
    log = work / "out.log"
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    while not (run / "metrics.jsonl").is_file():
        if proc.poll() is not None:
            sys.exit(f"the run ended before its first step:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    children = psutil.Process(proc.pid).children(recursive=True)
    started = time.monotonic()
    if args.how == "group-int":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=600)
    seconds = time.monotonic() - started
    _, alive = psutil.wait_procs(children, timeout=10)
    alive = [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    print(f"{args.backend} {args.how}: exit {code} after {seconds:.1f} s; children {len(children)}, alive {alive}")
    print("closing line:", log.read_text().strip().splitlines()[-1][:200])
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
