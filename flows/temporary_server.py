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

The server gets a database of its own, `<PREFECT_HOME>/rlvr-temporary-server.db`, not Prefect's default
`<PREFECT_HOME>/prefect.db`, which a `prefect server start` with the same PREFECT_HOME (by default both are
~/.prefect) uses: there a plain run's `rlvr.checkpoint.saved` events met the automations that `rlvr serve`
registered, so the temporary server set off the served evaluation of a plain run's checkpoints, and plain runs
showed up in the server's UI. The file is kept between commands (its tables are made once, not at every start),
and one names it to see plain runs' history: `PREFECT_API_DATABASE_CONNECTION_URL=sqlite+aiosqlite:///<that file>
prefect server start`. A database the user chose (PREFECT_API_DATABASE_CONNECTION_URL or the other
`PREFECT_SERVER_DATABASE_*` connection settings) is used as it is.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import yaml

SETTINGS = "PREFECT_LOGGING_SETTINGS_PATH"
DATABASE = "PREFECT_SERVER_DATABASE_CONNECTION_URL"
OWN_DATABASE = "rlvr-temporary-server.db"
QUIET_LOGGERS = {"sqlalchemy": {"level": "CRITICAL"}}


def start_temporary_server() -> None:
    """Start Prefect's temporary server now, on its own database, its sqlalchemy records quiet; nothing when a
    server is configured (PREFECT_API_URL) or the embedded mode is off."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_ALLOW_EPHEMERAL_MODE

    if PREFECT_API_URL.value() or not PREFECT_SERVER_ALLOW_EPHEMERAL_MODE.value():
        return
    from prefect.server.api.server import SubprocessASGIServer  # the one `get_client()` starts and reuses

    with tempfile.TemporaryDirectory(prefix="rlvr-prefect-logging-") as folder:
        env = {DATABASE: url} if (url := own_database_url()) else {}
        if not os.environ.get(SETTINGS):
            env[SETTINGS] = str(_quiet_config(Path(folder)))
        with _environ(env):  # read by the server process as it starts, then removed
            SubprocessASGIServer().start()


def own_database_url() -> str | None:
    """The temporary server's own SQLite database under PREFECT_HOME, or None when the user chose a database."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.server.database.model_fields_set & {"connection_url", "driver", "host", "name"}:
        return None
    settings.home.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{settings.home / OWN_DATABASE}"


@contextmanager
def _environ(values: dict[str, str]):
    """`values` in os.environ for the block (the server process copies the environment when it starts)."""
    os.environ.update(values)
    try:
        yield
    finally:
        for name in values:
            os.environ.pop(name, None)


def _quiet_config(folder: Path) -> Path:
    """Prefect's default logging config (a template its setup fills in from settings) with QUIET_LOGGERS added."""
    from prefect.logging.configuration import DEFAULT_LOGGING_SETTINGS_PATH

    config = yaml.safe_load(DEFAULT_LOGGING_SETTINGS_PATH.read_text())
    config.setdefault("loggers", {}).update(QUIET_LOGGERS)
    path = folder / "logging.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
