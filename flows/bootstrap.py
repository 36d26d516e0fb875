"""What every flow needs before its device-bound stage: the model on disk and a device concurrency slot.

    model_path = bootstrap_model("tiny")          # task: builds the cached tiny model on first use
    with device_slot("device"):                   # one training/evaluation per device at a time
        ...

`device_slot` creates the global concurrency limit (1 slot) if it does not exist yet — Prefect's
`concurrency()` silently does not limit anything for a missing limit — then holds a slot. It works the
same against a server and in ephemeral mode (the limit lives in the database under PREFECT_HOME).
To let two jobs share a device, raise the limit: `prefect gcl update device --limit 2`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect import flow, task

DEVICE_LIMIT = "device"


# OSErrors that a retry cannot fix: a missing file stays missing.
PERMANENT_OS_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


def retry_on_io(task_obj, task_run, state) -> bool:
    """Retry condition for tasks doing I/O: retry a transient OSError (network, hub download, a full or flaky
    disk), never a bug or a missing file."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, OSError) and not isinstance(error, PERMANENT_OS_ERRORS)


def ensure_limit(name: str = DEVICE_LIMIT, limit: int = 1) -> bool:
    """Create the global concurrency limit `name` with `limit` slots unless it exists; True if created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return False
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
        except ObjectAlreadyExists:  # another flow created it first
            return False
        return True


@contextmanager
def device_slot(name: str = DEVICE_LIMIT, log=print) -> Iterator[None]:
    """Hold one slot of the `name` limit for the duration of the block (waits while another run holds it)."""
    from prefect.concurrency.sync import concurrency

    if ensure_limit(name):
        log(f"created global concurrency limit {name!r} with 1 slot")
    log(f"waiting for a slot of concurrency limit {name!r}")
    with concurrency(name, occupy=1, strict=True, raise_on_lease_renewal_failure=False):
        log(f"holding a slot of {name!r}")
        yield


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=retry_on_io)
def bootstrap_model(path: str = "tiny") -> str:
    """Resolve `model.path` to a local model: 'tiny' builds (once, cached) the warm-started tiny model."""
    from prefect.logging import get_run_logger

    from rlvr.trainers.bootstrap import resolve_model_path

    return resolve_model_path(path, log=get_run_logger().info)


@flow(name="bootstrap")
def bootstrap_flow(path: str = "tiny") -> str:
    """Build or find the model a run starts from; returns its local path."""
    return bootstrap_model(path)
