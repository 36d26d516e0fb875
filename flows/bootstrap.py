"""What every flow needs before its device-bound stage: a model that is there, and the device to itself.

    model_path = bootstrap_model("tiny")          # task: builds the cached tiny model on first use (~6 min, said)
    with device_hold(cfg.model.device, slots=None, timeout=None, log=log):   # one run per device at a time
        ...

`check_model_path` and `check_device` run before the device is taken and before any weights load: a path that
looks local (`/`, `./`, `../`, `~`) and does not exist, a directory without `config.json`, a `config.json` that
transformers cannot read, a directory without weights or tokenizer files (an interrupted download), a
safetensors file whose header does not read, a shard its index names but the directory lacks, or a tokenizer that
encodes text to nothing is a `BadInput` naming the path (never retried as a hub id), and so are a `model.device`
this machine does not have, a `sampler.max_model_len` longer than the model's positions (`check_context_length`)
and a `train.checkpoint.dir` that cannot be written (`check_run_dir`).
The device hold is an OS file lock that dies with its holder (flows/locks.py): to let two runs share a device,
give it two slots (`rlvr train --device-slots 2`, or RLVR_DEVICE_SLOTS=2 for every run on the machine).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from rlvr.flows.errors import BadInput
from rlvr.flows.writable import in_words, write_refusal

# OSErrors that a retry cannot fix: a missing file stays missing.
PERMANENT_OS_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


def retry_on_io(task_obj, task_run, state) -> bool:
    """Retry condition for tasks doing I/O: retry a transient OSError (network, hub download, a full or flaky
    disk), never a bug or a missing file."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, OSError) and not isinstance(error, PERMANENT_OS_ERRORS)


LOCAL_PREFIXES = ("/", "./", "../", "~")


def check_model_path(path: str, max_model_len: int | None = None) -> None:
    """BadInput for a model path that cannot be loaded, found without touching the weights, or (given
    `max_model_len`) whose context is shorter than that; hub ids pass, and so does 'tiny' (built on first use)."""
    if path == "tiny":  # built on first use (the flow checks its context then); once built, it can be checked now
        from rlvr.trainers.bootstrap import WarmStartRecipe, is_finished_build, tiny_model_path

        if max_model_len is not None and is_finished_build(built := tiny_model_path(), WarmStartRecipe()):
            check_context_length(str(built), max_model_len, shown="tiny")
        return
    local = Path(path).expanduser()
    if not local.exists():
        if path.startswith(LOCAL_PREFIXES) or path in (".", ".."):
            raise BadInput(f"model.path {path}: no such file or directory")
        check_hub_model(path)
        if max_model_len is not None:
            check_context_length(path, max_model_len)
        return
    if not local.is_dir():
        raise BadInput(f"model.path {path}: is a file, not a model directory")
    if not (local / "config.json").is_file():
        raise BadInput(f"model.path {path}: no config.json (not a Hugging Face model directory)")
    from transformers import AutoConfig

    from rlvr.sampling.preflight import damaged_weights, missing_model_files, unusable_tokenizer

    try:
        AutoConfig.from_pretrained(local)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise BadInput(f"model.path {path}: config.json cannot be read ({reason})") from exc
    if missing := missing_model_files(local):  # an interrupted download or copy
        raise BadInput(f"model.path {path}: incomplete model directory, no {' and no '.join(missing)}")
    if problem := damaged_weights(local) or unusable_tokenizer(local):
        raise BadInput(f"model.path {path}: {problem}")
    if max_model_len is not None:
        check_context_length(path, max_model_len)


def check_context_length(path: str, max_model_len: int, shown: str | None = None) -> None:
    """BadInput when `sampler.max_model_len` is longer than the model at `path` (a local directory or a hub id)
    takes (`rlvr.sampling.preflight.context_problem`): vLLM refused it only as its engine started, after the device
    was taken, and the hf backend did not refuse it at all. A hub id whose config.json is not in the local cache is
    left to the engine (reading it would be one more download). `shown`: the model as the line names it (the
    config's `model.path`, when `path` is what it resolved to)."""
    from huggingface_hub import try_to_load_from_cache
    from transformers import AutoConfig

    from rlvr.sampling.preflight import context_problem

    local = Path(path).expanduser()
    if not local.is_dir():
        cached = try_to_load_from_cache(path, "config.json")
        if not isinstance(cached, str):
            return
        local = Path(cached).parent
    try:
        config = AutoConfig.from_pretrained(local)
    except (OSError, ValueError, KeyError, TypeError):  # check_model_path says why it does not read
        return
    if problem := context_problem(config, max_model_len, f"model.path {shown or path}"):
        raise BadInput(problem)


def check_run_dir(run_dir: str) -> None:
    """BadInput when `train.checkpoint.dir` cannot hold a run: a file on its path, a read-only file system, a
    directory that cannot be written (immutable, permissions). Found by doing what the run does first, making the
    directory and a file in it (`write_refusal`: root passes a permission test on a read-only mount).
    Checked before Prefect starts and the device is taken: it was a raw OSError, exit 1, from the run's lock."""
    path = Path(run_dir).expanduser()
    refusal = write_refusal(path, make=True)
    if isinstance(refusal, (FileExistsError, NotADirectoryError)):
        in_the_way = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        raise BadInput(f"train.checkpoint.dir {run_dir}: {in_the_way} is a file, not a directory") from refusal
    if refusal is not None:
        raise BadInput(f"train.checkpoint.dir {run_dir}: cannot be written ({in_words(refusal)}); make it writable or "
                       "choose another train.checkpoint.dir") from refusal


def check_hub_model(repo_id: str) -> None:
    """BadInput for a hub id that names no model (or one this user may not read), or that cannot be reached and is
    not in the local cache: found in one metadata call, before the device (transformers would find it only at the
    first weight download, after retrying an unreachable hub for about a minute)."""
    from huggingface_hub import constants, model_info, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError

    try:
        cached = isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except HFValidationError as exc:
        raise BadInput(f"model.path {repo_id}: neither a local directory nor a valid hub id ({exc})") from exc
    if constants.HF_HUB_OFFLINE:
        if not cached:
            raise BadInput(f"model.path {repo_id}: not in the local Hugging Face cache, and HF_HUB_OFFLINE is set")
        return
    try:
        model_info(repo_id, timeout=15)
    except GatedRepoError as exc:  # before its parent class, RepositoryNotFoundError
        raise BadInput(f"model.path {repo_id}: a gated model; accept its terms on the hub, then log in (`hf auth "
                       "login`) or set HF_TOKEN") from exc
    except RepositoryNotFoundError as exc:
        raise BadInput(f"model.path {repo_id}: no such model on the hub (or a private one: log in or set HF_TOKEN)") \
            from exc
    except Exception as exc:  # noqa: BLE001 - no network, a proxy, a hub outage: the cache may still serve it
        if not cached:
            raise BadInput(f"model.path {repo_id}: not a local directory, not in the local Hugging Face cache, and "
                           f"the hub cannot be reached ({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); "
                           "download it where there is a network, or point model.path at a local copy") from exc


def check_device(device: str) -> None:
    """BadInput for a `model.device` that is not a torch device or that this machine does not have (checked
    before the device is taken: torch's own error comes only when the weights move, as an AssertionError)."""
    import torch

    try:
        kind = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise BadInput(f"model.device {device!r}: not a torch device (cpu, cuda, cuda:1, ...)") from exc
    if kind.type == "cpu":
        return
    backend = getattr(torch, kind.type, None)  # torch.cuda, torch.xpu, torch.mps
    if backend is None or not hasattr(backend, "is_available") or not backend.is_available():
        raise BadInput(f"model.device {device}: this torch ({torch.__version__}) sees no {kind.type} device")
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if kind.index is not None and kind.index >= count:
        raise BadInput(f"model.device {device}: this machine has {count} {kind.type} device(s)")


def load_task_problems(task_cfg, role: str) -> list:
    """The problems of one task config; a dataset that cannot be used is a BadInput naming the task and file
    (the loader's message says which line and why)."""
    from rlvr.data.tasks import load_problems

    try:
        return load_problems(task_cfg)
    except (ValueError, FileNotFoundError, StopIteration) as exc:  # the data's fault, not a bug: exit 2
        where = f"{role} task {task_cfg.name}" + (f" ({task_cfg.source})" if task_cfg.source else "")
        raise BadInput(f"{where}: {' '.join(str(exc).split()) or type(exc).__name__}") from exc


def load_eval_problems(cfg) -> dict[str, list]:
    """Every eval suite's problems by suite name (a BadInput names the suite whose data cannot be used)."""
    return {task_cfg.suite_name(): load_task_problems(task_cfg, "eval") for task_cfg in cfg.eval.tasks}


def load_dpo_pairs(train_cfg) -> int:
    """How many preference pairs `train.dpo.pairs_path` holds (0 when DPO does not read a file); a file that cannot
    be used is a BadInput naming it and the line, found before the device and the model (the trainer reads it only
    at its first step)."""
    from rlvr.trainers.dpo_pairs import read_pair_rows

    path = train_cfg.dpo.pairs_path
    if train_cfg.algorithm != "dpo" or not path:
        return 0
    try:
        return len(read_pair_rows(path))
    except OSError as exc:  # missing, a directory, unreadable
        raise BadInput(f"train.dpo.pairs_path {path}: {(exc.strerror or str(exc)).lower()}") from exc
    except ValueError as exc:  # the message names the file and line; UnicodeDecodeError is one too
        raise BadInput(f"train.dpo.pairs_path {' '.join(str(exc).split())}") from exc


@task(retries=2, retry_delay_seconds=10, retry_condition_fn=retry_on_io)
def bootstrap_model(path: str = "tiny", why: str = "model.path tiny") -> str:
    """Resolve `model.path` to a local model: 'tiny' builds (once, cached) the warm-started tiny model, saying first
    in one line what it builds, for what (`why`), for how long and where."""
    from prefect.logging import get_run_logger
    from rlvr.trainers.bootstrap import resolve_model_path

    check_model_path(path)
    return resolve_model_path(path, log=get_run_logger().info, why=why)


@flow(name="bootstrap")
def bootstrap_flow(path: str = "tiny") -> str:
    """Build or find the model a run starts from; returns its local path."""
    return bootstrap_model(path)
