"""Each step's metrics to TensorBoard, MLflow and/or W&B, as `train.report_to: [tensorboard, mlflow, wandb]` asks.

    check_trackers(cfg.train.report_to, cfg.name)         # before the device is taken: BadInput if not installed
    tracker = open_tracker(cfg, run_dir, start_step)      # start_step: the step the run resumes from
    tracker.log(row); ...; tracker.close()

TensorBoard: event files under `<run_dir>/tensorboard`, scalars `train/<metric>` (read them with
`tensorboard --logdir <run_dir>/tensorboard`). MLflow: `$MLFLOW_TRACKING_URI` (a server, or any store),
else a SQLite store `sqlite:///<run_dir>/mlflow.db` (`mlflow ui --backend-store-uri ...`); experiment = the
run name, run parameters = the run config flattened; the MLflow run id is kept in `<run_dir>/mlflow_run_id`
so a resumed run logs on into the same MLflow run. W&B: project `$WANDB_PROJECT`, else the run name; run name =
the run directory's name; config = the run config; metrics `train/<metric>` at W&B step = training step. Offline
(files under `<run_dir>/wandb`, uploaded later with `wandb sync <run_dir>/wandb`) unless `$WANDB_MODE` says
otherwise or W&B credentials are there (`$WANDB_API_KEY`, `wandb login`): without them an online run would stop
to prompt for a key, or fail, on a machine that has no network anyway. The W&B run id is kept in
`<run_dir>/wandb_run.json` so a resumed run goes on as the same W&B run (offline: one more folder with the same id,
which `wandb sync` uploads after the first).

A resumed run redoes the steps after its last checkpoint. TensorBoard is told to purge events from that
step on (`purge_step`), so it shows each step once; MLflow and W&B cannot delete points, so rows at or below the
last step they already hold are not sent again (a resumed step is recomputed from the same seed and data).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rlvr.flows.errors import BadInput

PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}
MLFLOW_RUN_ID_FILE = "mlflow_run_id"
WANDB_RUN_FILE = "wandb_run.json"


def check_trackers(report_to: list[str], run_name: str | None = None) -> None:
    """BadInput naming the missing package and the extra to install, for each tracker that is not installed; and
    for a W&B project name (the run's `name`) that wandb would refuse only once the run has started."""
    for name in report_to:
        try:
            found = importlib.util.find_spec(PACKAGES[name]) is not None
        except (ImportError, ValueError):  # a package blocked or half-installed
            found = False
        if not found:
            raise BadInput(f"train.report_to lists {name}, which is not installed: pip install 'rlvr[track]' "
                           f"(or remove {name} from train.report_to)")
    if "wandb" in report_to and run_name is not None:
        import wandb
        from wandb.errors import UsageError

        try:
            wandb.Settings(project=wandb_project(run_name))  # wandb's own rule for project names
        except UsageError as exc:
            raise BadInput(f"train.report_to lists wandb: {exc} (set WANDB_PROJECT, or choose another name)") from None


def wandb_project(run_name: str) -> str:
    """The W&B project a run logs to: $WANDB_PROJECT, else the run's name."""
    return os.environ.get("WANDB_PROJECT") or run_name


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """The numeric metrics of a row (booleans and strings left out; NaN kept, as the trackers show gaps)."""
    return {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"}


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = str(value)[:500]
    return out


class TensorBoardTracker:
    def __init__(self, run_dir: Path, start_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=start_step + 1 if start_step else None)

    def log(self, row: dict[str, Any]) -> None:
        for key, value in scalars(row).items():
            self.writer.add_scalar(f"train/{key}", value, row["step"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def ending() -> str:
    """How the run ends, for a tracker closed as its holds unwind: FINISHED, KILLED (a stop: Ctrl-C, SIGTERM) or
    FAILED (an exception on its way out), as MLflow names run states."""
    from prefect.exceptions import ExternalSignal  # SIGTERM inside a Prefect flow run (serve, a worker, a cancel)

    unwinding = sys.exc_info()[1]
    if unwinding is None:
        return "FINISHED"
    return "KILLED" if isinstance(unwinding, (KeyboardInterrupt, ExternalSignal)) else "FAILED"


class MLflowTracker:
    def __init__(self, run_dir: Path, name: str, config: dict[str, Any]):
        import os

        from mlflow.tracking import MlflowClient

        self.uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{run_dir.resolve() / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=self.uri)
        id_file = run_dir / MLFLOW_RUN_ID_FILE
        self.run_id = id_file.read_text().strip() if id_file.is_file() else None
        self.logged_up_to = 0
        if self.run_id:
            history = self.client.get_metric_history(self.run_id, "reward_mean")
            self.logged_up_to = max((m.step for m in history), default=0)
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            experiment = self.client.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
            self.run_id = self.client.create_run(experiment_id, run_name=run_dir.name).info.run_id
            params = flatten(config)
            from mlflow.entities import Param

            items = [Param(k, v) for k, v in params.items()]
            for start in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
                self.client.log_batch(self.run_id, params=items[start:start + 100])
            id_file.write_text(self.run_id + "\n")

    def log(self, row: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        if row["step"] <= self.logged_up_to:  # already there from before the resume
            return
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, row["step"]) for k, v in scalars(row).items()])

    def close(self) -> None:
        self.client.set_terminated(self.run_id, status=ending())


class WandbTracker:
    open_runs = 0  # W&B runs open in this process: the last one closed stops wandb's service process
    lock = threading.Lock()

    def __init__(self, run_dir: Path, name: str, config: dict[str, Any]):
        import wandb

        self.state_file = run_dir / WANDB_RUN_FILE
        state = self._load()
        self.logged_up_to = state.get("logged_up_to", 0)
        quiet = wandb.Settings(silent=True, console="off")  # the one line below says it; stdout is not captured
        with WandbTracker.lock:
            wandb.setup(quiet)  # silent before login, which would say where it found the key
            try:
                # WANDB_MODE set: wandb follows it; else online only with credentials (prompt=False: just looks)
                mode = None if os.environ.get("WANDB_MODE") else (
                    "online" if wandb.login(verify=False, prompt=False) else "offline")
                self.run = wandb.init(
                    project=wandb_project(name), name=run_dir.name, dir=run_dir, config=config,
                    id=state.get("id"), resume="allow" if state else None, mode=mode, settings=quiet,
                    reinit="create_new")  # its own run, whatever else this process has open (wandb.run is left alone)
            except BaseException:
                if WandbTracker.open_runs == 0:
                    wandb.teardown()  # the service process setup started
                raise
            WandbTracker.open_runs += 1
        try:
            self._save()
        except BaseException:
            self.close()  # finished, and the service process stopped if it was the last run
            raise
        if self.run.disabled:  # WANDB_MODE=disabled: every call a no-op, nothing to find later
            _say("W&B: disabled by WANDB_MODE=disabled")
        elif self.run.offline:
            _say(f"W&B run {self.run.id}: offline in {self.run.sync_dir}; upload it with "
                 f"`wandb sync {run_dir / 'wandb'}`")
        else:
            _say(f"W&B run {self.run.id}: {self.run.url}")

    def _load(self) -> dict[str, Any]:
        """The W&B run to go on with and the last step it holds; a damaged file (a kill mid-write on an older
        version) is said and treated as none: a new W&B run, rather than a run that can no longer resume."""
        try:
            state = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            state = exc
        if not isinstance(state, dict) or not isinstance(state.get("id"), str):
            _say(f"{self.state_file} is unreadable ({str(state)[:80]}): this run logs to a new W&B run")
            return {}
        return state

    def _save(self) -> None:
        if self.run.disabled:  # its steps went nowhere: a resume with W&B on must send them
            return
        tmp = self.state_file.with_name(f".{self.state_file.name}.tmp")  # a kill mid-write leaves the old file
        tmp.write_text(json.dumps({"id": self.run.id, "logged_up_to": self.logged_up_to}) + "\n")
        os.replace(tmp, self.state_file)

    def log(self, row: dict[str, Any]) -> None:
        if row["step"] <= self.logged_up_to:  # already there from before the resume
            return
        self.run.log({f"train/{k}": v for k, v in scalars(row).items()}, step=row["step"], commit=True)
        self.logged_up_to = row["step"]
        self._save()

    def close(self) -> None:
        import wandb

        try:
            self.run.finish(exit_code=0 if ending() == "FINISHED" else 1)  # W&B marks the run failed, not finished
        finally:
            with WandbTracker.lock:
                WandbTracker.open_runs -= 1
                if WandbTracker.open_runs == 0:
                    wandb.teardown()  # else its service process lives as long as this one (`rlvr serve`)


def _say(message: str) -> None:
    """To the flow run's log in a Prefect run, else to stdout (`rlvr launch`'s rank 0)."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        get_run_logger().info(message)
    except MissingContextError:
        print(message, flush=True)


class Tracker:
    """The trackers of `train.report_to`, fed one metrics row per step."""

    def __init__(self, trackers: list):
        self.trackers = trackers

    def log(self, row: dict[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.log(row)

    def close(self) -> None:
        """Each tracker is closed even if one before it fails (a W&B run left open keeps its service process)."""
        errors = []
        for tracker in self.trackers:
            try:
                tracker.close()
            except Exception as exc:  # noqa: BLE001 - raised below, once the others are closed
                errors.append(exc)
        if errors:
            raise errors[0]


def open_tracker(cfg, run_dir: str | Path, start_step: int = 0) -> Tracker:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tracker = Tracker([])
    try:
        if "tensorboard" in cfg.train.report_to:
            tracker.trackers.append(TensorBoardTracker(run_dir, start_step))
        if "mlflow" in cfg.train.report_to:
            tracker.trackers.append(MLflowTracker(run_dir, cfg.name, cfg.model_dump(mode="json")))
        if "wandb" in cfg.train.report_to:
            tracker.trackers.append(WandbTracker(run_dir, cfg.name, cfg.model_dump(mode="json")))
    except BaseException:  # the ones already open end (FAILED / KILLED) rather than stay running forever
        tracker.close()
        raise
    return tracker


def progress_bar(total: int, initial: int):
    """A step progress bar with ETA on stdout when it is a terminal; a no-op otherwise (logs, CI, pipes)."""
    import sys

    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", desc="training", file=sys.stdout, dynamic_ncols=True,
                disable=not sys.stdout.isatty(), leave=True)
