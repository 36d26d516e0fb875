"""The deployments of `prefect.yaml`, built in Python and served from this machine (`rlvr serve`).

    train/<run name>          train_flow on a cron schedule (nightly by default) with the given config;
                              its final evaluation is left to the trigger below (final_eval=False)
    evaluate/on-checkpoint    evaluate_flow, run by a trigger on every `rlvr.checkpoint.saved` event with
                              checkpoint = {{ event.payload.path }}

Both run in subprocesses of the serving process, which must run from the repository root (relative config
paths and run dirs are resolved against it). Serving needs a Prefect server (`prefect server start`, then
PREFECT_API_URL): without one `rlvr serve` says so and exits (`require_server`). The device hold
(flows/locks.py) keeps the triggered evaluations waiting while a training holds the device. The training pins
each checkpoint until its evaluation has run (`pin_for_eval`, flows/eval_pins.py), and while `rlvr serve` runs
it starts an evaluation for each checkpoint of its run directory still pinned with none under way (its event
was lost while the server was down, or an earlier serving process stopped before it ran): flows/catch_up.py.
"""

from __future__ import annotations

from pathlib import Path

from prefect.events import DeploymentEventTrigger
from rlvr.flows.catch_up import EVAL_DEPLOYMENT, say, watch_pins
from rlvr.flows.demo import default_config
from rlvr.flows.errors import BadInput
from rlvr.flows.evaluate import evaluate_flow
from rlvr.flows.events import CHECKPOINT_SAVED, RESOURCE_PREFIX, trigger_parameters
from rlvr.flows.train import train_flow
from rlvr.trainers.run_config import load_config

TRAIN_CRON = "0 2 * * *"


def checkpoint_trigger() -> DeploymentEventTrigger:
    """Run the evaluation deployment once per saved checkpoint, with that checkpoint's path."""
    return DeploymentEventTrigger(
        name="evaluate-saved-checkpoint",
        expect={CHECKPOINT_SAVED},
        match={"prefect.resource.id": f"{RESOURCE_PREFIX}*"},
        parameters=trigger_parameters(),
    )


def build_deployments(config_path: str | None = None, overrides: list[str] = (), cron: str | None = TRAIN_CRON):
    """(training deployment, evaluation deployment) as RunnerDeployments; the config is validated here so a
    bad one fails before anything is registered. `cron=None` registers the training without a schedule;
    `config_path=None`, the demo's config (`default_config()`, flows/demo.py)."""
    config_path = config_path or default_config()
    cfg = load_config(config_path, list(overrides))
    train = train_flow.to_deployment(
        name=cfg.name,
        cron=cron,
        parameters={"config_path": str(Path(config_path).resolve()), "overrides": list(overrides), "final_eval": False,
                    "pin_for_eval": True},
        tags=["rlvr", "train"],
        description=f"Train {cfg.name} ({cfg.train.algorithm}, {cfg.train.steps} steps) from {config_path}.",
    )
    evaluate = evaluate_flow.to_deployment(
        name=EVAL_DEPLOYMENT,
        parameters={"skip_evaluated": True},
        triggers=[checkpoint_trigger()],
        tags=["rlvr", "eval"],
        description="Evaluate each checkpoint as it is saved; writes <ckpt>/eval.json and marks the best.",
    )
    return train, evaluate


def serve_deployments(config_path: str | None = None, overrides: list[str] = (), cron: str | None = TRAIN_CRON,
                      limit: int | None = None, catch_up_every: float = 30.0) -> None:
    """Register both deployments and run their flow runs here until interrupted; beside them, a thread starts
    the evaluations that never ran (flows/catch_up.py) every `catch_up_every` seconds. Prefect's runner may
    give up when its server goes away; then serving starts again once the server answers."""
    import threading

    from prefect import serve

    config_path = config_path or default_config()
    cfg = load_config(config_path, list(overrides))
    deployments = build_deployments(config_path, overrides, cron)
    require_server()
    stop = threading.Event()
    threading.Thread(target=watch_pins, args=(cfg.train.checkpoint.dir, stop, catch_up_every), daemon=True,
                     name="rlvr-catch-up").start()
    try:
        while True:
            try:
                serve(*deployments, limit=limit)
                return
            except Exception as exc:  # noqa: BLE001 - an outage surfaces as many types (httpx, websockets, the runner's RuntimeError)
                if not lost_connection(exc) and api_answers():
                    raise  # the server is up and was reachable: a real failure, reported by the CLI as one line
                say(f"rlvr serve: lost the Prefect API ({type(exc).__name__}: {str(exc)[:160]}); serving again when "
                    "it answers")
                wait_for_api(catch_up_every)
                say("rlvr serve: the Prefect API answers again; serving")
    finally:
        stop.set()


def require_server() -> None:
    """Refuse Prefect's embedded mode (no PREFECT_API_URL): serving cannot work there. The temporary server lives
    only as long as this process, on a random port no other process is told of; it runs no scheduler (it starts
    only the services marked `run_in_ephemeral`, and `schedule_deployments` is not), so the cron never fires;
    each flow run the runner starts would start a temporary server of its own. And two threads start one at
    once here: `serve` and the catch-up watcher each call `get_client()`, and `SubprocessASGIServer.start`
    (prefect/server/api/server.py) checks `self.running` without a lock, so both launch uvicorn on one port
    ("address already in use", a traceback; at exit it stops the process that failed to bind)."""
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise BadInput("serving needs a Prefect server: start one (prefect server start) and set "
                       "PREFECT_API_URL, e.g. http://127.0.0.1:4200/api")


def lost_connection(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) is a failure to reach the server. The runner can surface one
    after the server is back (its teardown still calling the old connection), so this, not a health check made
    afterwards, says that the failure was the outage."""
    import httpx

    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (httpx.TransportError, ConnectionError)):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def api_answers() -> bool:
    """Whether the Prefect API in use passes its health check now."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.api_healthcheck() is None


def wait_for_api(poll_s: float) -> None:
    """Block until the Prefect API in use passes its health check, looking every `poll_s` seconds."""
    import time

    while True:
        time.sleep(poll_s)
        if api_answers():
            return
