"""Each step's metrics to TensorBoard and/or MLflow, as `train.report_to: [tensorboard, mlflow]` asks.

    check_trackers(cfg.train.report_to)                   # before the device is taken: BadInput if not installed
    tracker = open_tracker(cfg, run_dir, start_step)      # start_step: the step the run resumes from
    tracker.log(row); ...; tracker.close()

TensorBoard: event files under `<run_dir>/tensorboard`, scalars `train/<metric>` (read them with
`tensorboard --logdir <run_dir>/tensorboard`). MLflow: `$MLFLOW_TRACKING_URI` (a server, or any store),
else a SQLite store `sqlite:///<run_dir>/mlflow.db` (`mlflow ui --backend-store-uri ...`); experiment = the
run name, run parameters = the run config flattened; the MLflow run id is kept in `<run_dir>/mlflow_run_id`
so a resumed run logs on into the same MLflow run.

A resumed run redoes the steps after its last checkpoint. TensorBoard is told to purge events from that
step on (`purge_step`), so it shows each step once; MLflow cannot delete points, so rows at or below the
last step it already holds are not sent again (a resumed step is recomputed from the same seed and data).
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

from rlvr.flows.errors import BadInput

PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
MLFLOW_RUN_ID_FILE = "mlflow_run_id"


def check_trackers(report_to: list[str]) -> None:
    """BadInput naming the missing package and the extra to install, for each tracker that is not installed."""
    for name in report_to:
        try:
            found = importlib.util.find_spec(PACKAGES[name]) is not None
        except (ImportError, ValueError):  # a package blocked or half-installed
            found = False
        if not found:
            raise BadInput(f"train.report_to lists {name}, which is not installed: pip install 'rlvr[track]' "
                           f"(or remove {name} from train.report_to)")


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
        self.client.set_terminated(self.run_id)


class Tracker:
    """The trackers of `train.report_to`, fed one metrics row per step."""

    def __init__(self, trackers: list):
        self.trackers = trackers

    def log(self, row: dict[str, Any]) -> None:
        for tracker in self.trackers:
            tracker.log(row)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()


def open_tracker(cfg, run_dir: str | Path, start_step: int = 0) -> Tracker:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    trackers = []
    if "tensorboard" in cfg.train.report_to:
        trackers.append(TensorBoardTracker(run_dir, start_step))
    if "mlflow" in cfg.train.report_to:
        trackers.append(MLflowTracker(run_dir, cfg.name, cfg.model_dump(mode="json")))
    return Tracker(trackers)


def progress_bar(total: int, initial: int):
    """A step progress bar with ETA on stdout when it is a terminal; a no-op otherwise (logs, CI, pipes)."""
    import sys

    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", desc="training", file=sys.stdout, dynamic_ncols=True,
                disable=not sys.stdout.isatty(), leave=True)
