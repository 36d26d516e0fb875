"""The deployments of `prefect.yaml`, built in Python and served from this machine (`rlvr serve`).

    train/<run name>          train_flow on a cron schedule (nightly by default) with the given config;
                              its final evaluation is left to the trigger below (final_eval=False)
    evaluate/on-checkpoint    evaluate_flow, run by a trigger on every `rlvr.checkpoint.saved` event with
                              checkpoint = {{ event.payload.path }}

Prefect's runner starts each flow run in a process of its own (`python -m prefect.engine`, a child of the serving
process), which imports the flow from this module (`served_train_flow`, `served_evaluate_flow`); serving must run
from the repository root (relative run dirs are resolved against it). Serving needs a Prefect server (`prefect
server start`, then PREFECT_API_URL): without one `rlvr serve` says so and exits (`require_server`). The device
hold (flows/locks.py) keeps the triggered evaluations waiting while a training holds the device. The training pins
each checkpoint until its evaluation has run (`pin_for_eval`, flows/eval_pins.py), and while `rlvr serve` runs
it starts an evaluation for each checkpoint of its run directory still pinned with none under way (its event
was lost while the server was down, or an earlier serving process stopped before it ran): flows/catch_up.py.

The `k=v` given to `rlvr serve` are the training deployment's `serve_overrides` parameter; a run's own `overrides`
(`prefect deployment run train/x --param overrides='["train.steps=1"]'`) are applied after them, so a run changes
what it names and keeps the rest (Prefect replaces a list parameter whole: one list for both lost serve's).

A stop signal (Ctrl-C to the process group, or SIGINT/SIGTERM to the serving process) ends serving as `rlvr train`
ends a run (`flows/serving.Serving.stop`): each flow run under way gets one SIGTERM, on which a training saves its last completed
step (flows/stopping.stop_as_served_run), and serve waits for them (up to RLVR_STOP_SAVE_S + RLVR_STOP_GRACE_S), stops
Prefect's runner (which pauses the schedule), says what each run left in one `rlvr: stopped by SIGINT; ...` line
and exits 130 (143 for SIGTERM). The runs end Crashed (`Execution was aborted by a termination signal`).
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from pathlib import Path

from prefect import Flow
from prefect.events import DeploymentEventTrigger
from rlvr.flows.catch_up import EVAL_DEPLOYMENT, watch_pins
from rlvr.flows.demo import default_config
from rlvr.flows.errors import BadInput, Stopped
from rlvr.flows.evaluate import evaluate_flow
from rlvr.flows.events import CHECKPOINT_SAVED, RESOURCE_PREFIX, trigger_parameters
from rlvr.flows.serving import Serving
from rlvr.flows.stopping import stop_as_served_run, stop_calls
from rlvr.flows.train import train_flow
from rlvr.trainers.run_config import load_config

TRAIN_CRON = "0 2 * * *"
SERVE_RECORDS = "RLVR_SERVE_RECORDS"  # where a served run leaves what its stop saved, for serve's closing line


def checkpoint_trigger() -> DeploymentEventTrigger:
    """Run the evaluation deployment once per saved checkpoint, with that checkpoint's path."""
    return DeploymentEventTrigger(
        name="evaluate-saved-checkpoint",
        expect={CHECKPOINT_SAVED},
        match={"prefect.resource.id": f"{RESOURCE_PREFIX}*"},
        parameters=trigger_parameters(),
    )


def _served_run_started(flow, flow_run, state) -> None:
    """The served flows' `on_running` hook, in the flow run's own process: from now on it takes its stop as `rlvr
    serve` gives it (flows/stopping.stop_as_served_run). Nothing in a process that `rlvr serve` did not start."""
    folder = os.environ.get(SERVE_RECORDS)
    if folder:
        about = {"flow": flow.name, "run": flow_run.name, "checkpoint": (flow_run.parameters or {}).get("checkpoint")}
        stop_as_served_run(Path(folder) / f"{os.getpid()}.json", about)


def _with_serve_overrides(fn):
    """`fn` (train_flow's function) with one more parameter, `serve_overrides`, applied before `overrides`. Every
    parameter is keyword-only, so Prefect passes them all by name; the annotations are evaluated (train.py's are
    strings, which Prefect would look up in this module)."""
    signature = inspect.signature(fn, eval_str=True)
    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()]
    at = [p.name for p in parameters].index("overrides")
    parameters.insert(at, inspect.Parameter("serve_overrides", inspect.Parameter.KEYWORD_ONLY, default=[],
                                            annotation=list[str]))

    @functools.wraps(fn)
    def served(*, serve_overrides=(), overrides=(), **kwargs):
        return fn(overrides=[*serve_overrides, *overrides], **kwargs)

    served.__signature__ = signature.replace(parameters=parameters)
    return served


# What the runner's flow-run processes import (the deployments' entrypoints): the flows with the hook above.
served_train_flow = Flow(_with_serve_overrides(train_flow.fn), name=train_flow.name, on_running=[_served_run_started])
served_evaluate_flow = evaluate_flow.with_options(on_running=[_served_run_started])


def build_deployments(config_path: str | None = None, overrides: list[str] = (), cron: str | None = TRAIN_CRON):
    """(training deployment, evaluation deployment) as RunnerDeployments; the config is validated here so a
    bad one fails before anything is registered. `cron=None` registers the training without a schedule;
    `config_path=None`, the demo's config (`default_config()`, flows/demo.py)."""
    from prefect.types.entrypoint import EntrypointType

    config_path = config_path or default_config()
    cfg = load_config(config_path, list(overrides))
    train = served_train_flow.to_deployment(
        name=cfg.name,
        cron=cron,
        parameters={"config_path": str(Path(config_path).resolve()), "serve_overrides": list(overrides),
                    "overrides": [], "final_eval": False, "pin_for_eval": True},
        tags=["rlvr", "train"],
        description=f"Train {cfg.name} ({cfg.train.algorithm}, {cfg.train.steps} steps) from {config_path} with the "
                    "serve_overrides of `rlvr serve`; a run's overrides are applied after them.",
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    evaluate = served_evaluate_flow.to_deployment(
        name=EVAL_DEPLOYMENT,
        parameters={"skip_evaluated": True},
        triggers=[checkpoint_trigger()],
        tags=["rlvr", "eval"],
        description="Evaluate each checkpoint as it is saved; writes <ckpt>/eval.json and marks the best.",
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    # Prefect would name the flows' functions (rlvr.flows.train.train_flow): the runs would lack the hook and
    # serve_overrides
    train.entrypoint = f"{__name__}.served_train_flow"
    evaluate.entrypoint = f"{__name__}.served_evaluate_flow"
    return train, evaluate


def check_serve_options(cron: str | None, limit: int | None, catch_up_every: float) -> None:
    """BadInput (one line, exit 2) for an option that cannot work, before anything starts."""
    if cron is not None:
        from prefect.client.schemas.schedules import CronSchedule
        from pydantic import ValidationError

        try:
            CronSchedule(cron=cron)
        except ValidationError:
            raise BadInput(f"--cron {cron!r}: not a cron expression (minute hour day month weekday, e.g. "
                           f"'{TRAIN_CRON}')") from None
    if limit is not None and limit < 1:  # 0 was taken: every run was skipped "at capacity", forever
        raise BadInput(f"--limit {limit}: at least 1 flow run must be able to run (leave it out for no limit)")
    if not catch_up_every > 0:
        raise BadInput(f"--catch-up-every {catch_up_every:g}: must be more than 0 seconds")


def serve_deployments(config_path: str | None = None, overrides: list[str] = (), cron: str | None = TRAIN_CRON,
                      limit: int | None = None, catch_up_every: float = 30.0) -> None:
    """Register both deployments and run their flow runs here until a stop signal (then `Stopped`, with what the
    runs under way saved as its note); beside them, a thread starts the evaluations that never ran
    (flows/catch_up.py) every `catch_up_every` seconds. Prefect's runner may give up when its server goes away;
    then serving starts again once the server answers."""
    import tempfile

    check_serve_options(cron, limit, catch_up_every)
    config_path = config_path or default_config()
    cfg = load_config(config_path, list(overrides))
    deployments = build_deployments(config_path, overrides, cron)
    require_server()
    stop = threading.Event()
    threading.Thread(target=watch_pins, args=(cfg.train.checkpoint.dir, stop, catch_up_every), daemon=True,
                     name="rlvr-catch-up").start()
    with tempfile.TemporaryDirectory(prefix="rlvr-serve-") as records:
        os.environ[SERVE_RECORDS] = records  # the runner's flow-run processes inherit this process's environment
        serving = Serving(deployments, limit, Path(records))
        stop_calls(serving.stop)
        try:
            serving.serve_until_stopped(catch_up_every)
        finally:
            stop.set()
            stop_calls(None)
            os.environ.pop(SERVE_RECORDS, None)
        if serving.stopped:
            raise Stopped(serving.stopped)  # its closing line says the note `Serving.stop` left (note_resume)


def require_server() -> None:
    """Refuse Prefect's embedded mode (no PREFECT_API_URL): serving cannot work there. The temporary server lives
    only as long as this process, on a random port no other process is told of; it runs no scheduler (it starts
    only the services marked `run_in_ephemeral`, and `schedule_deployments` is not), so the cron never fires;
    each flow run the runner starts would start a temporary server of its own. And two threads start one at
    once here: the runner and the catch-up watcher each call `get_client()`, and `SubprocessASGIServer.start`
    (prefect/server/api/server.py) checks `self.running` without a lock, so both launch uvicorn on one port
    ("address already in use", a traceback; at exit it stops the process that failed to bind)."""
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise BadInput("serving needs a Prefect server: start one (prefect server start) and set "
                       "PREFECT_API_URL, e.g. http://127.0.0.1:4200/api")
