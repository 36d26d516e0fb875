"""The `rlvr.checkpoint.saved` event: emitted for every checkpoint a training flow saves.

The evaluation deployment's trigger (see `flows/deployments.py` and `prefect.yaml`) matches it and runs
`evaluate` with `checkpoint = {{ event.payload.path }}`. The resource id names the checkpoint directory:

    rlvr.checkpoint./abs/path/runs/arith-grpo/checkpoints/step-10
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHECKPOINT_SAVED = "rlvr.checkpoint.saved"
RESOURCE_PREFIX = "rlvr.checkpoint."


def checkpoint_event(path: str | Path, step: int, run: str) -> dict[str, Any]:
    """The keyword arguments of `emit_event` for a saved checkpoint (a plain dict, testable without Prefect)."""
    path = Path(path).resolve()
    return {
        "event": CHECKPOINT_SAVED,
        "resource": {
            "prefect.resource.id": f"{RESOURCE_PREFIX}{path}",
            "prefect.resource.name": f"{run} step {step}",
            "rlvr.run": run,
        },
        "payload": {"path": str(path), "step": step, "run": run, "run_dir": str(path.parent.parent)},
    }


def emit_checkpoint_saved(path: str | Path, step: int, run: str) -> None:
    """Send the event to the Prefect API in use (a server, or the ephemeral one); related to the current flow run."""
    from prefect.events import emit_event

    emit_event(**checkpoint_event(path, step, run))


def trigger_parameters() -> dict[str, str]:
    """The evaluation flow's parameters, templated from the event (rendered by the server when it fires)."""
    return {"checkpoint": "{{ event.payload.path }}"}
