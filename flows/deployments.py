"""The deployments of `prefect.yaml`, built in Python and served from this machine (`rlvr serve`).

    train/<run name>          train_flow on a cron schedule (nightly by default) with the given config;
                              its final evaluation is left to the trigger below (final_eval=False)
    evaluate/on-checkpoint    evaluate_flow, run by a trigger on every `rlvr.checkpoint.saved` event with
                              checkpoint = {{ event.payload.path }}

Both run in subprocesses of the serving process, which must run from the repository root (relative config
paths and run dirs are resolved against it). Point PREFECT_API_URL at a server (`prefect server start`)
so schedules, triggers and the UI work; the device hold (flows/locks.py) keeps the triggered evaluations
waiting while a training holds the device. The training pins each checkpoint until its evaluation has run
(`pin_for_eval`, flows/eval_pins.py), and `rlvr serve` starts by evaluating the checkpoints of its run
directory that are still pinned (their event was lost, or the serving process stopped before they ran).
"""

from __future__ import annotations

from pathlib import Path

from prefect.events import DeploymentEventTrigger
from rlvr.flows import eval_pins
from rlvr.flows.evaluate import evaluate_flow
from rlvr.flows.events import CHECKPOINT_SAVED, RESOURCE_PREFIX, trigger_parameters
from rlvr.flows.train import train_flow
from rlvr.trainers.run_config import load_config

TRAIN_CRON = "0 2 * * *"
DEFAULT_CONFIG = "configs/arith_grpo.yaml"
EVAL_DEPLOYMENT = "on-checkpoint"


def checkpoint_trigger() -> DeploymentEventTrigger:
    """Run the evaluation deployment once per saved checkpoint, with that checkpoint's path."""
    return DeploymentEventTrigger(
        name="evaluate-saved-checkpoint",
        expect={CHECKPOINT_SAVED},
        match={"prefect.resource.id": f"{RESOURCE_PREFIX}*"},
        parameters=trigger_parameters(),
    )


def build_deployments(config_path: str = DEFAULT_CONFIG, overrides: list[str] = (), cron: str | None = TRAIN_CRON):
    """(training deployment, evaluation deployment) as RunnerDeployments; the config is validated here so a
    bad one fails before anything is registered. `cron=None` registers the training without a schedule."""
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
        triggers=[checkpoint_trigger()],
        tags=["rlvr", "eval"],
        description="Evaluate each checkpoint as it is saved; writes <ckpt>/eval.json and marks the best.",
    )
    return train, evaluate


def serve_deployments(config_path: str = DEFAULT_CONFIG, overrides: list[str] = (), cron: str | None = TRAIN_CRON,
                      limit: int | None = None) -> None:
    """Register both deployments and run their flow runs here until interrupted."""
    import threading

    from prefect import serve

    cfg = load_config(config_path, list(overrides))
    deployments = build_deployments(config_path, overrides, cron)
    threading.Thread(target=catch_up, args=(cfg.train.checkpoint.dir,), daemon=True, name="rlvr-catch-up").start()
    serve(*deployments, limit=limit)


def catch_up(run_dir: str, wait_s: float = 300.0, log=print) -> list[str]:
    """Once the evaluation deployment is registered, start a run of it for each checkpoint of `run_dir` still
    pinned for evaluation; returns their paths. Runs in a thread beside `serve`."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    pending = [str(p.resolve()) for p in eval_pins.pending(run_dir)]
    if not pending:
        return []
    deadline = time.monotonic() + wait_s
    with get_client(sync_client=True) as client:
        while True:
            try:
                client.read_deployment_by_name(f"evaluate/{EVAL_DEPLOYMENT}")
                break
            except ObjectNotFound:
                if time.monotonic() > deadline:
                    log(f"rlvr serve: evaluate/{EVAL_DEPLOYMENT} is not registered; {len(pending)} checkpoint(s) "
                        "still wait for their evaluation")
                    return []
                time.sleep(2.0)
    for path in pending:
        run_deployment(f"evaluate/{EVAL_DEPLOYMENT}", parameters={"checkpoint": path}, timeout=0)
        log(f"rlvr serve: evaluating {path} (pinned, never evaluated)")
    return pending
