"""Prefect's temporary API server (its embedded mode: no PREFECT_API_URL), started by an rlvr command without a
shutdown traceback on the command's console.

    start_temporary_server()   # in `rlvr train` / `rlvr eval` / `rlvr demo`, after their own checks, before the flow

Why: that server is a uvicorn subprocess writing to this command's console. Prefect stops it at exit; a database
connection whose reset the shutdown cancels makes sqlalchemy's pool log "Exception during reset or similar" with a
20-line `CancelledError` traceback, after a run that ended well and said so. The server process is given Prefect's
own logging config with one logger added: `sqlalchemy` at CRITICAL (sqlalchemy sets its loggers to WARNING itself,
so the root level does not reach them). Everything else the server prints (its start-up errors, uvicorn's, Prefect's
server loggers) is as before. The config is named (`PREFECT_LOGGING_SETTINGS_PATH`) in the environment only while the
server starts, so neither this process, whose logging is already set up, nor anything it starts later reads it.
Prefect reuses this server for the command's flows (one per process) and stops it at exit, as one it started.
A user's own logging config (PREFECT_LOGGING_SETTINGS_PATH set) is left as it is.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

SETTINGS = "PREFECT_LOGGING_SETTINGS_PATH"
QUIET_LOGGERS = {"sqlalchemy": {"level": "CRITICAL"}}


def start_temporary_server() -> None:
    """Start Prefect's temporary server now, its sqlalchemy records quiet; nothing when a server is configured
    (PREFECT_API_URL), the embedded mode is off, or the user names a logging config."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_ALLOW_EPHEMERAL_MODE

    if PREFECT_API_URL.value() or not PREFECT_SERVER_ALLOW_EPHEMERAL_MODE.value() or os.environ.get(SETTINGS):
        return
    from prefect.server.api.server import SubprocessASGIServer  # the one `get_client()` starts and reuses

    with tempfile.TemporaryDirectory(prefix="rlvr-prefect-logging-") as folder:
        os.environ[SETTINGS] = str(_quiet_config(Path(folder)))  # read by the server as it starts, then removed
        try:
            SubprocessASGIServer().start()
        finally:
            os.environ.pop(SETTINGS, None)


def _quiet_config(folder: Path) -> Path:
    """Prefect's default logging config (a template its setup fills in from settings) with QUIET_LOGGERS added."""
    from prefect.logging.configuration import DEFAULT_LOGGING_SETTINGS_PATH

    config = yaml.safe_load(DEFAULT_LOGGING_SETTINGS_PATH.read_text())
    config.setdefault("loggers", {}).update(QUIET_LOGGERS)
    path = folder / "logging.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
