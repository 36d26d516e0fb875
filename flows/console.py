"""What the console of an `rlvr` flow command shows, and what only its log file (flows/errors.start_run_log) gets.

Shown: rlvr's lines (problems, each step's metrics, checkpoint saves, evaluations, warnings about the user's
input), Prefect's flow start and end, and every warning or error of a library except the notices in NOT_SHOWN.
Kept off the console, and still in the log file: Prefect's per-task "Finished in state Completed()", its temporary
server's stop notice and the link under its start notice, vLLM's INFO records, the notices in NOT_SHOWN (why each:
docs/console.md), and the run config in full (the console gets the short line of `log_run_config`).

    quiet_libraries()                      # before vLLM is imported (flows/errors.quiet_console calls both)
    handler.addFilter(for_the_console)     # on each console handler

`RLVR_VERBOSE=1`, or Prefect's DEBUG level (`PREFECT_LOGGING_LEVEL=DEBUG`), leaves all of it as the libraries
print it (`showing_everything`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rlvr.trainers.run_config import RunConfig

# Marks a record for the log file (and Prefect's API logs) only: `log(text, extra=FILE_ONLY)`.
FILE_ONLY = {"rlvr_file_only": True}

# (logger, or the package its name starts with; what the message starts with): notices that say nothing a user of
# rlvr can act on. Matched by both, so the same words from another logger, or another notice of the same logger,
# still show. Python warnings (logger `py.warnings`) match on "Category: message".
NOT_SHOWN = (
    ("prefect.task_runs", "Finished in state Completed("),  # each task that ended well; failures are errors
    ("prefect", "Stopping temporary server on "),  # Prefect's, after the command's closing line
    ("vllm", "Triton is installed, but doesn't include CPU backend"),
    ("vllm", "Triton is not installed. triton-cpu is expected"),
    ("vllm", "Model Runner V2 requires Triton"),
    ("vllm", "The global random seed is set to"),  # rlvr seeds each generate call itself
    ("vllm", "Enforce eager set, disabling torch.compile"),  # rlvr's sampler line says "eager"
    ("vllm", "Inductor compilation was disabled by user settings"),
    ("vllm", "Reset SSM cache type to float32"),  # a Mamba setting
    ("vllm", "libtcmalloc is not found in LD_PRELOAD"),
    ("vllm", "libiomp is not found in LD_PRELOAD"),
    ("vllm", "CPU backend doesn't allow to use `torch.set_num_threads`"),
    ("py.warnings", "FutureWarning: `torch.distributed.reduce_op` is deprecated"),  # torch's, on vLLM's import
)
# Prefect's start notice of its temporary server: its first line is shown, not the link to Prefect's docs below it.
FIRST_LINE_ONLY = (("prefect", "Starting temporary server on "),)
VERBOSE = "RLVR_VERBOSE"


def showing_everything() -> bool:
    """Whether the user asked for every record on the console: RLVR_VERBOSE set (not 0/false/no), or Prefect's
    loggers at DEBUG (PREFECT_LOGGING_LEVEL=DEBUG; read once Prefect has set up its logging)."""
    verbose = os.environ.get(VERBOSE, "").strip().lower() not in ("", "0", "false", "no")
    return verbose or logging.getLogger("prefect").isEnabledFor(logging.DEBUG)


def quiet_libraries() -> None:
    """Send vLLM's records and Python's warnings through logging, so that the run's log file holds them and the
    console filter chooses among them: vLLM is told not to set up its own console handler (a user's
    VLLM_CONFIGURE_LOGGING wins) and logs at VLLM_LOGGING_LEVEL (INFO) into the root logger's handlers. When
    stderr is not a terminal (a pipe, a file, CI), Hugging Face's progress bars are off (a user's
    HF_HUB_DISABLE_PROGRESS_BARS wins). Call it before vLLM and transformers are imported: they read these once."""
    os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")
    if os.environ["VLLM_CONFIGURE_LOGGING"] == "0":
        level = os.environ.get("VLLM_LOGGING_LEVEL", "INFO").upper()
        logging.getLogger("vllm").setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    if not sys.stderr.isatty():  # bars of a model's load and save (transformers, the hub), as rlvr's own bar is
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.captureWarnings(True)


def _matches(record: logging.LogRecord, table: tuple[tuple[str, str], ...]) -> bool:
    """Whether `record` comes from a logger of `table` (or one below it) with a message that starts as its row
    says; a Python warning's message starts with the file and line that raised it."""
    message = record.getMessage()
    for logger, start in table:
        if record.name == logger or record.name.startswith(logger + "."):
            if message.startswith(start) or (record.name == "py.warnings" and start in message):
                return True
    return False


def for_the_console(record: logging.LogRecord) -> bool:
    """A console handler's filter: False for a record marked FILE_ONLY, a notice of NOT_SHOWN, or vLLM's below
    WARNING (its engine settings, load times and cache sizes: the log file has them)."""
    if getattr(record, "rlvr_file_only", False) or _matches(record, NOT_SHOWN):
        return False
    return not ((record.name == "vllm" or record.name.startswith("vllm.")) and record.levelno < logging.WARNING)


def console_text(record: logging.LogRecord, text: str) -> str:
    """The console's text of a shown record: the first line of a notice in FIRST_LINE_ONLY, else `text`."""
    return text.splitlines()[0] if text and _matches(record, FIRST_LINE_ONLY) else text


def log_run_config(log: Callable[..., None], cfg: RunConfig, config_path: str | None, overrides: list[str]) -> None:
    """Log the run config twice: for the console a line naming its file, the keys the overrides set and where
    every setting is; for the log file (and Prefect's API logs) the whole `model_dump` (FILE_ONLY). `log`: a
    logger's `info` (it takes `extra=`)."""
    keys = list(dict.fromkeys(item.split("=", 1)[0].strip() for item in overrides))
    line = f"run config: {config_path or 'given as an object'}"
    if keys:
        line += f" + {len(keys)} override{'s' if len(keys) > 1 else ''} ({_listed(keys, 100)})"
    log(f"{line}; every setting: {_where_the_full_config_goes()} and each checkpoint's config.json")
    log(f"run config (every setting): {json.dumps(cfg.model_dump(mode='json'))}", extra=FILE_ONLY)


def _listed(names: list[str], limit: int) -> str:
    """`names` joined by ', ' within about `limit` characters; the rest counted: 'a, b, ... 3 more'."""
    shown: list[str] = []
    for name in names:
        if shown and len(", ".join([*shown, name])) > limit:
            return ", ".join(shown) + f", ... {len(names) - len(shown)} more"
        shown.append(name)
    return ", ".join(shown)


def _where_the_full_config_goes() -> str:
    """The log files the root logger writes at INFO (an rlvr command's run log), else the flow run's logs on the
    Prefect server (a served or scripted run)."""
    files = [h.baseFilename for h in logging.getLogger().handlers
             if isinstance(h, logging.FileHandler) and h.level <= logging.INFO]
    return ", ".join(files) if files else "the flow run's logs in Prefect"
