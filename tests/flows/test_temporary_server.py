"""Prefect's temporary server, started by an rlvr command (flows/temporary_server.py), prints no library's
traceback on this command's console as it stops.

The record that did it (a connection reset that the server's shutdown cancelled, logged by sqlalchemy's pool with its
traceback) comes only now and then; here the server process logs the same record as it stops, from a
`sitecustomize` that only Prefect's server process acts on (its environment has PREFECT__SERVER_EPHEMERAL=1)."""

import os
import subprocess
import sys

import pytest

from tests.flows.flow_helpers import REPO

SHUTDOWN_RECORD = """
import os
if os.environ.get("PREFECT__SERVER_EPHEMERAL") == "1":
    import asyncio, logging, signal

    def _as_the_pool_logs_it(signum, frame):
        try:
            raise asyncio.CancelledError()
        except BaseException:
            logging.getLogger("sqlalchemy.pool.impl.AsyncAdaptedQueuePool").error(
                "Exception during reset or similar", exc_info=True)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, _as_the_pool_logs_it)  # uvicorn calls it again after its graceful shutdown
"""

COMMAND = """
import logging, os, sys
import prefect.main
from prefect.server.api.server import SubprocessASGIServer
from rlvr.flows.errors import quiet_console
from rlvr.flows.temporary_server import start_temporary_server

quiet_console()
start_temporary_server() if sys.argv[1] == "rlvr" else SubprocessASGIServer().start()
print("setting left:", os.environ.get("PREFECT_LOGGING_ROOT_LEVEL"))
SubprocessASGIServer().stop()
logging.getLogger("rlvr.data.loading").warning("a warning of this process is still shown")
"""


def _start(folder, start: str) -> subprocess.Popen:
    (folder / "site").mkdir(parents=True)
    (folder / "site" / "sitecustomize.py").write_text(SHUTDOWN_RECORD)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(folder / "site"), "PREFECT_HOME": str(folder / "prefect"),
           "PREFECT_LOGGING_COLORS": "false", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}  # two servers start at once on 2 cores
    return subprocess.Popen([sys.executable, "-c", COMMAND, start], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def shown_by(tmp_path_factory) -> dict[str, str]:
    """start ("rlvr" or "prefect") -> what COMMAND printed. Both commands run at once, each with its own PREFECT_HOME
    and server: each is mostly a Python and a server start, so on 2 cores the control costs little extra time."""
    procs = {start: _start(tmp_path_factory.mktemp(start), start) for start in ("rlvr", "prefect")}
    shown = {}
    for start, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, out + err
        shown[start] = out + err
    return shown


def test_the_servers_shutdown_traceback_stays_off_the_console(shown_by):
    shown = shown_by["rlvr"]
    assert "Traceback" not in shown and "CancelledError" not in shown and "Exception during reset" not in shown, shown
    assert "setting left: None" in shown  # only the server read it
    assert "a warning of this process is still shown" in shown


def test_without_it_the_record_reaches_the_console(shown_by):
    """The control: the server that Prefect starts by itself prints the record, traceback and all."""
    shown = shown_by["prefect"]
    assert "Exception during reset or similar" in shown and "CancelledError" in shown, shown
