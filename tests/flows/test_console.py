"""What `rlvr`'s flow commands print on the console: Prefect's rich console handlers, adjusted by
`flows.errors.quiet_console`, print a record's text as written; a stopped `rlvr verify` says what it lost."""

import subprocess
import sys
from pathlib import Path

from tests.flows.flow_helpers import REPO

# A plug-in named `my_rewards:boom` in a warning: rich's console would print "my_rewards💥" by default.
SCRIPT = """
import logging, prefect.main
from rlvr.flows.errors import quiet_console
quiet_console()
logging.getLogger("prefect.flow_runs").warning("verifier 'my_rewards:boom:' timed out on 3 of 8 completions")
logging.getLogger("rlvr.data.loading").warning("arith:smile: skipped 1 bad row(s)")
"""


def test_colon_words_in_a_record_are_printed_as_text_not_emoji(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120,
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
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 130 and last.startswith("rlvr: stopped by SIGINT; nothing was written"), (out, err)
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
