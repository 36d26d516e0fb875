"""`rlvr serve`'s stop ends the runner's flow-run processes without taking their exit status from the runner: had the
stop reaped a process first, the runner's own wait found no such child, asyncio logged "Unknown child process", and
Prefect reported the run as exit code 255 after the saved stop."""

import subprocess
import sys

# Run in a process of its own: stop_flow_runs ends every child of the process that calls it.
_SCRIPT = """
import os, subprocess, sys
from rlvr.flows.serving import stop_flow_runs
run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
ended = stop_flow_runs(20)
assert ended == [run.pid], ended
pid, status = os.waitpid(run.pid, 0)  # what the runner's watcher does: raises ChildProcessError if already reaped
print(os.waitstatus_to_exitcode(status))
"""


def test_the_stop_leaves_each_runs_exit_status_to_the_runner():
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(-15)  # SIGTERM, as the runner then reports it
