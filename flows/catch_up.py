"""Evaluations that never ran, started by `rlvr serve` while it serves: the pinned-checkpoint watcher.

A served training pins each checkpoint until its evaluation has run (flows/eval_pins.py) and announces it with
an `rlvr.checkpoint.saved` event. The event is lost if the Prefect server is down when it is sent, and a flow
run started by it dies with the serving process. So a thread beside `serve` looks at the run directory every
`interval_s` seconds and, for each checkpoint still pinned, starts a run of the evaluation deployment unless

- the pin is younger than `grace_s` (its event may still be turning into a flow run: no double evaluation),
- a run of the evaluation deployment for that checkpoint is scheduled, or was started since this `serve` began
  (it may be waiting for the device while the training holds it); a run left "running" by an earlier serving
  process that was killed is not waited for, or
- `max_attempts` runs for it, created since it was pinned, have already ended without unpinning it (a checkpoint
  that fails its evaluation is reported once per pin and left for `rlvr eval`, not retried forever; runs from before a
  checkpoint was pinned again belong to an evaluation it no longer has).

The grace only makes a double evaluation rare: a busy server can turn an event into a flow run a minute late.
The evaluation deployment therefore skips a checkpoint that was evaluated after it was saved on the same basis
(`skip_evaluated`, flows/evaluate.py), so the later of two runs costs a look at `eval.json`, not an evaluation.

While the Prefect API is unreachable the watcher says so once and keeps looking; when the server comes back
the next round catches up. (`prefect serve` itself outlives a server outage: its runner keeps polling.)

    watch_pins("runs/arith-grpo", stop=threading.Event())   # a daemon thread in serve_deployments
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rlvr.flows import eval_pins

EVAL_FLOW = "evaluate"  # evaluate_flow's @flow name (flows/evaluate.py)
EVAL_DEPLOYMENT = "on-checkpoint"  # the deployment flows/deployments.py registers for it
EVAL_DEPLOYMENT_NAME = f"{EVAL_FLOW}/{EVAL_DEPLOYMENT}"  # how the Prefect API names that deployment
_PAGE = 200  # the API's default page size; flow runs are read page by page


def evaluation_runs(client, deployment_id) -> list:
    """Every flow run of the evaluation deployment (any state)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    runs, offset = [], 0
    deployments = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    while True:
        page = client.read_flow_runs(deployment_filter=deployments, limit=_PAGE, offset=offset)
        runs += page
        if len(page) < _PAGE:
            return runs
        offset += _PAGE


def is_active(run, since: float) -> bool:
    """Scheduled, or started at or after `since` (epoch s) and not ended. A run still "running" from before
    `since` belonged to a serving process that is gone (a SIGKILL leaves it so); it will never end."""
    state = run.state
    if state is None or state.is_final():
        return False
    if state.is_scheduled():
        return True
    started = run.start_time or run.created
    return started is not None and started.timestamp() >= since - 5.0  # seconds of clock skew


def due(pinned: list[Path], runs: list, grace_s: float, max_attempts: int, since: float, now: float | None = None):
    """(checkpoints to evaluate now, checkpoints given up on) among `pinned`, given the deployment's runs."""
    now = time.time() if now is None else now
    active, ended = set(), {}
    for run in runs:
        path = str((run.parameters or {}).get("checkpoint", ""))
        if is_active(run, since):
            active.add(path)
        elif run.state is not None and run.state.is_final():
            ended.setdefault(path, []).append(run)
    start, given_up = [], []
    for ckpt in pinned:
        path = str(ckpt.resolve())
        pinned_at = pin_time(ckpt)
        if pinned_at is None:  # unpinned since it was listed
            continue
        if path in active or now - pinned_at < grace_s:
            continue
        attempts = sum(created_since(run, pinned_at) for run in ended.get(path, []))
        (given_up if attempts >= max_attempts else start).append(ckpt)
    return start, given_up


def pin_time(ckpt: Path) -> float | None:
    """When `ckpt` was (last) pinned, epoch s; None once it is unpinned."""
    try:
        return (ckpt / eval_pins.EVAL_PENDING).stat().st_mtime
    except FileNotFoundError:
        return None


def newly_given_up(given_up: list[Path], said: set) -> list[Path]:
    """Those of `given_up` not yet reported for their current pin, recorded in `said`: a checkpoint pinned again
    (its report removed, its step saved again) whose new evaluations fail too is reported again."""
    new = []
    for ckpt in given_up:
        key = (str(ckpt.resolve()), pin_time(ckpt))
        if key[1] is not None and key not in said:
            said.add(key)
            new.append(ckpt)
    return new


def created_since(run, when: float) -> bool:
    """Whether `run` was created (or, where the record has no creation time, started) at or after `when`
    (epoch s); a run with neither time counts as recent."""
    stamp = run.created or run.start_time
    return stamp is None or stamp.timestamp() >= when - 5.0  # seconds of clock skew


def say(message: str) -> None:
    print(message, flush=True)  # serve's output is often a file: each line as it happens


def catch_up_round(client, run_dir: str | Path, grace_s: float, max_attempts: int, since: float, given_up: set,
                   log=say) -> list[str]:
    """One look at `run_dir`: start the due evaluations; returns their checkpoint paths."""
    from prefect.deployments import run_deployment

    pinned = eval_pins.pending(run_dir)
    if not pinned:
        return []
    deployment = client.read_deployment_by_name(EVAL_DEPLOYMENT_NAME)
    start, failed = due(pinned, evaluation_runs(client, deployment.id), grace_s, max_attempts, since)
    for ckpt in newly_given_up(failed, given_up):
        log(f"rlvr serve: {ckpt} is still pinned after {max_attempts} evaluation runs ended; "
            f"not retrying (evaluate it by hand: rlvr eval --checkpoint {ckpt})")
    started = []
    for ckpt in start:
        path = str(ckpt.resolve())
        run_deployment(EVAL_DEPLOYMENT_NAME, parameters={"checkpoint": path}, timeout=0)
        log(f"rlvr serve: evaluating {path} (pinned, no evaluation run for it)")
        started.append(path)
    return started


def watch_pins(run_dir: str | Path, stop: threading.Event, interval_s: float = 30.0, grace_s: float | None = None,
               max_attempts: int = 2, log=say) -> None:
    """Run `catch_up_round` every `interval_s` until `stop` is set (grace: twice the interval by default)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    grace_s = 2 * interval_s if grace_s is None else grace_s
    since = time.time()
    given_up: set[tuple[str, float]] = set()  # (checkpoint, pin time) reported
    unreachable = False
    while not stop.is_set():
        try:
            with get_client(sync_client=True) as client:
                catch_up_round(client, run_dir, grace_s, max_attempts, since, given_up, log)
            if unreachable:
                log("rlvr serve: the Prefect API is back; pinned checkpoints are caught up on")
            unreachable = False
        except ObjectNotFound:  # the evaluation deployment is not registered yet: serve is still starting
            pass
        except Exception as exc:  # noqa: BLE001 - any API failure: say it once, look again next round
            if not unreachable:
                log(f"rlvr serve: the Prefect API is unreachable ({type(exc).__name__}: {str(exc)[:160]}); "
                    "checkpoints saved meanwhile stay pinned and are evaluated when it returns")
            unreachable = True
        stop.wait(interval_s)
