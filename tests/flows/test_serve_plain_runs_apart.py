"""A plain `rlvr train` / `eval` / `demo` (Prefect's temporary server, flows/temporary_server.py) keeps its runs and
events out of the database that `prefect server start` uses with the same PREFECT_HOME. They shared
`<PREFECT_HOME>/prefect.db`, so the temporary server loaded the automations that `rlvr serve` registered there and
ran the served evaluation on a plain run's checkpoints, and plain runs showed up in the server's UI. A run recorded
in the other database cannot meet those automations (they are rows of the server's database, read by whichever
server process opens it), so finding the plain run in the temporary server's own file and not in `prefect.db`
shows the isolation without a trigger wait."""

import os
import sqlite3
import subprocess
import sys

from tests.flows.flow_helpers import REPO

PROBE = """
from rlvr.flows.temporary_server import start_temporary_server
start_temporary_server()
from prefect import flow

@flow(name="rlvr-plain-run-probe")
def probe():
    return 1

probe()
"""


def _flows_in(db) -> set[str]:
    if not db.exists():
        return set()
    with sqlite3.connect(db) as connection:
        return {name for (name,) in connection.execute("select name from flow")}


def test_a_plain_run_is_recorded_in_the_temporary_servers_own_database(tmp_path):
    home = tmp_path / "prefect-home"  # what `prefect server start` would use here: home/prefect.db
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rlvr-plain-run-probe" not in _flows_in(home / "prefect.db")
    assert "rlvr-plain-run-probe" in _flows_in(home / "rlvr-temporary-server.db")


def test_a_database_the_user_chose_is_left_to_the_temporary_server(tmp_path):
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, temporary_settings
    from rlvr.flows.temporary_server import own_database_url

    # The session's Prefect test harness (tests/flows/conftest.py) names a database when an earlier test used it,
    # so the default case is looked at with that setting back at its default.
    with temporary_settings(restore_defaults={PREFECT_API_DATABASE_CONNECTION_URL}):
        assert own_database_url().endswith("/rlvr-temporary-server.db")
    with temporary_settings(updates={PREFECT_API_DATABASE_CONNECTION_URL: f"sqlite+aiosqlite:///{tmp_path}/mine.db"}):
        assert own_database_url() is None
