"""Rows in, checked rows out: the loading plumbing shared by the dataset tasks.

- `load_rows` reads one split through the `datasets` library, from the hub or from a local file or directory
  (json, jsonl, json.gz, jsonl.gz, parquet; a `.json` file may be JSON Lines or one JSON array).
- `validate_rows` checks every row for the fields a task needs and reports bad rows by index: it skips them with one
  warning, or fails the load with a `ValueError` naming the row and the field.
- `shuffle_and_limit` is the seeded shuffle + limit every task applies last.
- `few_shot_source` says where the worked examples of a split-by-file source live.
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")

# file suffix -> `datasets` builder that reads it (compression is detected by the builder)
FORMATS = {".jsonl.gz": "json", ".json.gz": "json", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
_SPLIT_WORDS = ("train", "test", "validation", "valid", "dev", "prompt")


def load_rows(
    source: str | None, split: str, default_hub_id: str, hub_config: str | None = None
) -> list[dict[str, Any]]:
    """All rows of `split` from `source`, as plain dicts in source order.

    source: an existing local file or directory, or a hub dataset id; None means `default_hub_id`.
      - a file: all its rows (the file *is* the split; `split` is not applied);
      - a directory: the data files whose name starts with the split (`test.jsonl`, `test-00000-of-00001.parquet`,
        searched recursively), else its only data file when that file's name names no other split;
      - a hub id: `datasets.load_dataset(id, config, split=split)`; `hub_config` is used only when the id is
        `default_hub_id` (another id's configs are unknown here).
    Raises FileNotFoundError for a path that does not exist, ValueError for an unknown format or an ambiguous
    directory, OSError (with a hint to use a local file) when the hub cannot be reached.
    """
    source = source or default_hub_id
    path = Path(source).expanduser()
    if path.exists():
        files = [path] if path.is_file() else _split_files(path, split)
        return _read_files(files)
    if _looks_like_path(source):
        raise FileNotFoundError(f"data source {source!r} does not exist (neither a local file/dir nor a hub id)")
    return _read_hub(source, split, hub_config if source == default_hub_id else None)


def _looks_like_path(source: str) -> bool:
    """A hub id is `name` or `owner/name`; anything else that does not exist is a missing local path."""
    return (
        source.startswith(("/", ".", "~"))
        or source.count("/") > 1
        or os.sep in source.replace("/", "")
        or _suffix(source) is not None
    )


def _suffix(name: str) -> str | None:
    lower = name.lower()
    return next((s for s in FORMATS if lower.endswith(s)), None)


def _split_files(directory: Path, split: str) -> list[Path]:
    """The data files of `split` in `directory` (see `load_rows`); one format, one folder."""
    data = sorted(p for p in directory.rglob("*") if p.is_file() and _suffix(p.name))
    if not data:
        raise ValueError(f"{directory} holds no data file ({', '.join(FORMATS)})")
    pattern = re.compile(rf"^{re.escape(split)}([._-]|$)", re.IGNORECASE)
    chosen = [p for p in data if pattern.match(p.name)]
    if not chosen:
        other = re.compile(rf"^({'|'.join(_SPLIT_WORDS)})([._-]|$)", re.IGNORECASE)
        if len(data) == 1 and not other.match(data[0].name):
            chosen = data
        else:
            names = ", ".join(str(p.relative_to(directory)) for p in data)
            raise ValueError(f"no {split!r} file in {directory} (found: {names}); point source at one file")
    if len({p.parent for p in chosen}) > 1 or len({_suffix(p.name) for p in chosen}) > 1:
        names = ", ".join(str(p.relative_to(directory)) for p in chosen)
        raise ValueError(f"several candidate {split!r} files in {directory} ({names}); point source at one file")
    return chosen


def _read_files(files: list[Path]) -> list[dict[str, Any]]:
    import datasets  # heavy import, only when loading

    suffix = _suffix(files[0].name)
    if suffix is None:
        raise ValueError(f"unknown data format of {files[0]}; supported: {', '.join(FORMATS)}")
    try:
        ds = datasets.load_dataset(FORMATS[suffix], data_files=[str(p) for p in files], split="train")
    except datasets.exceptions.DatasetGenerationError as err:
        raise ValueError(f"could not parse {', '.join(map(str, files))} as {suffix}: {err.__cause__ or err}") from err
    return ds.to_list()


def _read_hub(hub_id: str, split: str, config: str | None) -> list[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_dataset(hub_id, config, split=split)
    except OSError as err:  # ConnectionError, DatasetNotFoundError, ... are all OSErrors
        raise OSError(
            f"could not load hub dataset {hub_id!r} (config {config!r}, split {split!r}): {err}. "
            "Without internet, set the task's source to a local file or directory (json, jsonl, jsonl.gz, parquet)."
        ) from err
    return ds.to_list()


FieldTypes = Mapping[str, type | tuple[type, ...]]


def row_problem(row: Any, required_fields: FieldTypes) -> str | None:
    """Why `row` is unusable (missing, None, wrong type or empty field), or None when it is fine."""
    if not isinstance(row, Mapping):
        return f"is a {type(row).__name__}, not an object"
    for name, types in required_fields.items():
        value = row.get(name)
        if value is None:
            return f"field {name!r} is missing"
        allowed = types if isinstance(types, tuple) else (types,)
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            want = " or ".join(t.__name__ for t in allowed)
            return f"field {name!r} should be {want}, got {type(value).__name__}"
        if isinstance(value, (str, list, dict)) and not (value.strip() if isinstance(value, str) else value):
            return f"field {name!r} is empty"
    return None


def validate_rows(
    rows: Sequence[Any],
    required_fields: FieldTypes,
    task: str,
    on_bad_row: Literal["skip", "fail"],
    check: Callable[[Mapping[str, Any]], str | None] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """The usable rows as `(index in rows, row)` pairs, in order.

    A row is bad when a required field is missing, None, of the wrong type or empty, or when `check(row)` returns a
    reason. Bad rows are skipped with one warning (count and indices) under `on_bad_row="skip"`; under `"fail"` the
    load stops with a ValueError naming the first bad rows' indices and fields. No usable row at all is a ValueError.
    """
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[int, str]] = []
    for index, row in enumerate(rows):
        reason = row_problem(row, required_fields)
        if reason is None and check is not None:
            reason = check(row)
        if reason is None:
            good.append((index, dict(row)))
        else:
            bad.append((index, reason))
    if bad:
        examples = "; ".join(f"row {i}: {why}" for i, why in bad[:5])
        if on_bad_row == "fail":
            raise ValueError(f"{task}: {len(bad)} bad row(s) of {len(rows)} — {examples}")
        shown = ", ".join(str(i) for i, _ in bad[:20]) + (", ..." if len(bad) > 20 else "")
        logger.warning("%s: skipped %d bad row(s) of %d (indices %s) — %s", task, len(bad), len(rows), shown, examples)
    if not good:
        raise ValueError(f"{task}: no usable row among {len(rows)}")
    return good


def shuffle_and_limit(items: Sequence[T], seed: int, limit: int | None) -> list[T]:
    """`items` shuffled by `seed` (same seed, same order), then the first `limit` (all when None).

    A larger limit extends a smaller one's selection: the order does not depend on the limit.
    """
    out = list(items)
    random.Random(seed).shuffle(out)
    return out if limit is None else out[:limit]


def few_shot_source(source: str | None) -> str | None:
    """Where another split of `source` lives: a local file's folder, else `source` itself (a dir or hub id)."""
    if source is not None and Path(source).expanduser().is_file():
        return str(Path(source).expanduser().parent)
    return source
