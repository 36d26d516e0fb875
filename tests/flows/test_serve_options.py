"""`rlvr serve` refuses an option that cannot work in one line, exit 2, before it registers or starts anything.
Was: `--cron 'every day'` ended in pydantic's raw ValidationError with exit 1; `--limit 0` was taken and then every
run was skipped "at capacity" forever."""

import os
import subprocess
import sys

import pytest

from tests.flows.flow_helpers import CONFIG, REPO


@pytest.mark.parametrize(("option", "said"), [
    (["--cron", "every day"], "rlvr: --cron 'every day': not a cron expression"),
    (["--limit", "0"], "rlvr: --limit 0: at least 1 flow run must be able to run"),
    (["--limit", "-3"], "rlvr: --limit -3: at least 1 flow run must be able to run"),
    (["--catch-up-every", "0"], "rlvr: --catch-up-every 0: must be more than 0 seconds"),
])
def test_a_bad_serve_option_is_one_line_and_exit_2(tmp_path, option, said):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "rlvr.flows.cli", "serve", "-c", CONFIG, *option], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith(said), (done.returncode, lines)
    assert not (tmp_path / "prefect.db").exists()  # nothing started: no server, no temporary one
