"""Rows in, checked rows out: the loading plumbing shared by the dataset tasks.

- `load_rows` reads one split from the hub or from a local file or directory (the files themselves are read by
  `data/files.py`: json, jsonl, json.gz, jsonl.gz, parquet), or from a folder written by `datasets`' `save_to_disk`;
  hub datasets go through the `datasets` library.
- `validate_rows` checks every row for the fields a task needs (and the length of its prompt field) and reports bad
  rows by where they came from: it skips them with one warning, or fails the load with a `ValueError` naming the
  line and the field.
- `shuffle_and_limit` is the seeded shuffle + limit every task applies last.
- `few_shot_rows` reads the worked examples of an evaluated split from its source's train split, never from the
  rows being evaluated.
"""

from __future__ import annotations

import logging
import os
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from rlvr.data.files import NAMED_FOR_SPLIT, BadLine, NoSplitFile, Rows, data_suffix, read_files, split_files

logger = logging.getLogger(__name__)
T = TypeVar("T")

# file suffix -> format: json (JSON Lines or one JSON array, gzip when .gz) or parquet
def load_rows(
    source: str | None, split: str, default_hub_id: str, hub_config: str | None = None
) -> Rows:
    """All rows of `split` from `source` in source order: plain dicts, and BadLine for unreadable JSON lines.

    source: an existing local file or directory, or a hub dataset id; None means `default_hub_id`.
      - a file: all its rows (the file *is* the split; `split` is not applied);
      - a directory: the data files whose name starts with the split (`test.jsonl`, `test-00000-of-00001.parquet`,
        searched recursively), else its only data file when that file's name names no other split;
      - a hub id: `datasets.load_dataset(id, config, split=split)`; `hub_config` is used only when the id is
        `default_hub_id` (another id's configs are unknown here).
    Raises FileNotFoundError for a path that does not exist, ValueError for an unknown format, an ambiguous
    directory or a file without rows, OSError (with a hint to use a local file) when the hub cannot be reached.
    """
    source = source or default_hub_id
    path = Path(source).expanduser()
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        return _read_saved(path, split)
    if path.exists():
        if path.is_file():
            _warn_if_named_for_another_split(path, split)
        files = [path] if path.is_file() else split_files(path, split)
        return read_files(files)
    if _looks_like_path(source):
        raise FileNotFoundError(f"data source {source!r} does not exist (neither a local file/dir nor a hub id)")
    return _read_hub(source, split, hub_config if source == default_hub_id else None)


def _warn_if_named_for_another_split(path: Path, split: str) -> None:
    """A file is read whole as whatever split is asked; one named for another split (training on `test.jsonl`) is
    most often a slip that would put test problems in training, so it is said, once per read."""
    named = NAMED_FOR_SPLIT.match(path.name)
    if named and named.group(1).lower() != split.lower():
        logger.warning("%s is named for the %r split but is read as the %r split (a file is read whole); point "
                       "task.source at its folder to pick the %r file by name", path, named.group(1).lower(), split, split)


def _looks_like_path(source: str) -> bool:
    """A hub id is `name` or `owner/name`; anything else that does not exist is a missing local path."""
    return (
        source.startswith(("/", ".", "~"))
        or source.count("/") > 1
        or os.sep in source.replace("/", "")
        or data_suffix(source) is not None
    )


def _read_saved(path: Path, split: str) -> Rows:
    """A folder written by `datasets`' `save_to_disk`: a DatasetDict's `split`, or the one Dataset (read whole, as a
    file is)."""
    import datasets

    saved = datasets.load_from_disk(str(path))
    if isinstance(saved, datasets.DatasetDict):
        if split not in saved:
            raise NoSplitFile(f"{path} (saved by datasets) has no {split!r} split; it has {', '.join(saved)}")
        saved = saved[split]
    return Rows(saved.to_list())


def _read_hub(hub_id: str, split: str, config: str | None) -> Rows:
    import datasets

    try:
        ds = datasets.load_dataset(hub_id, config, split=split)
    except OSError as err:  # ConnectionError, DatasetNotFoundError, ... are all OSErrors
        raise OSError(
            f"could not load hub dataset {hub_id!r} (config {config!r}, split {split!r}): {err}. "
            "Without internet, set the task's source to a local file or directory (json, jsonl, jsonl.gz, parquet)."
        ) from err
    return Rows(ds.to_list())


FieldTypes = Mapping[str, type | tuple[type, ...]]


def row_problem(row: Any, required_fields: FieldTypes, max_chars: Mapping[str, int] | None = None) -> str | None:
    """Why `row` is unusable (not JSON; a field missing, null, of the wrong type, empty or too long), or None when it
    is fine."""
    if isinstance(row, BadLine):
        return row.reason
    if not isinstance(row, Mapping):
        return f"is a {type(row).__name__}, not an object"
    for name, types in required_fields.items():
        if name not in row:
            return f"field {name!r} is missing"
        value = row[name]
        if value is None:  # JSON null, a parquet null: the column is there, this row has no value in it
            return f"field {name!r} is null"
        allowed = types if isinstance(types, tuple) else (types,)
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            want = " or ".join(t.__name__ for t in allowed)
            return f"field {name!r} should be {want}, got {type(value).__name__}"
        if isinstance(value, (str, list, dict)) and not (value.strip() if isinstance(value, str) else value):
            return f"field {name!r} is empty"
    for name, limit in (max_chars or {}).items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > limit:
            return f"field {name!r} has {len(value)} characters, more than max_prompt_chars={limit}"
    return None


def validate_rows(
    rows: Sequence[Any],
    required_fields: FieldTypes,
    task: str,
    on_bad_row: Literal["skip", "fail"],
    check: Callable[[Mapping[str, Any]], str | None] | None = None,
    max_chars: Mapping[str, int] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """The usable rows as `(index in rows, row)` pairs, in order.

    A row is bad when it is not JSON (a `BadLine`), when a required field is missing, None, of the wrong type or
    empty, when a field named in `max_chars` is longer than its limit (a prompt that could never be sampled), or
    when `check(row)` returns a reason. Bad rows are named by where they came from (`Rows.where`: "line 4" of a
    JSON Lines file, else "row 4", 1-based) and skipped with one warning under `on_bad_row="skip"`; under `"fail"`
    the load stops with a ValueError naming the first bad rows and why. No usable row at all is a ValueError (with
    the first reasons).
    """
    where = rows.where if isinstance(rows, Rows) else [f"row {i + 1}" for i in range(len(rows))]
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[tuple[str, str]] = []
    for index, row in enumerate(rows):
        reason = row_problem(row, required_fields, max_chars)
        if reason is None and check is not None:
            reason = check(row)
        if reason is None:
            good.append((index, dict(row)))
        else:
            bad.append((where[index], reason))
    if bad:
        examples = _bad_row_reasons(bad)
        if on_bad_row == "fail":
            raise ValueError(f"{task}: {len(bad)} bad row(s) of {len(rows)} — {examples}")
        shown = ", ".join(at for at, _ in bad[:5]) + (", ..." if len(bad) > 5 else "")
        logger.warning("%s: skipped %d bad row(s) of %d (%s) — %s", task, len(bad), len(rows), shown, examples)
    if not good:
        raise ValueError(f"{task}: no usable row among {len(rows)}" + (f" — {examples}" if bad else ""))
    return good


def _bad_row_reasons(bad: list[tuple[str, str]], shown: int = 5, places: int = 3) -> str:
    """The first `shown` reasons, in row order: `line 4: not JSON (...)` each, but a reason shared by more than
    `places` rows said once, with their count and first places (`7473 rows (row 1, row 2, row 3, ...): field 'x' is
    missing`). A wrong column name makes every row bad for the same reason, and saying it per row pushed the hint
    that follows it off the end of the one-line error."""
    counts = Counter(why for _, why in bad)
    said: list[str] = []
    said_once: set[str] = set()
    for at, why in bad:
        if counts[why] <= places:
            said.append(f"{at}: {why}")
        elif why not in said_once:  # the first of many rows: said once for all of them
            where = [place for place, reason in bad if reason == why]
            noun = at.rsplit(" ", 2)[-2]  # "line" or "row" ("part-1.jsonl line 4" with several files)
            said.append(f"{len(where)} {noun}s ({', '.join(where[:places])}, ...): {why}")
            said_once.add(why)
        if len(said) == shown:
            break
    return "; ".join(said)


def shuffle_and_limit(items: Sequence[T], seed: int, limit: int | None) -> list[T]:
    """`items` shuffled by `seed` (same seed, same order), then the first `limit` (all when None).

    A larger limit extends a smaller one's selection: the order does not depend on the limit.
    """
    out = list(items)
    random.Random(seed).shuffle(out)
    return out if limit is None else out[:limit]


def few_shot_rows(
    source: str | None,
    evaluated: Rows,
    usable: Callable[[Rows], list[tuple[int, dict[str, Any]]]],
    k: int,
    key: str,
    task: str,
    default_hub_id: str,
    hub_config: str | None = None,
) -> list[dict[str, Any]]:
    """The first `k` usable rows of the 'train' split beside `source`: the worked examples for evaluating `evaluated`
    (the rows of another split of `source`). Never drawn from the evaluated rows: a train file that resolves to an
    evaluated file is not used, nor is a row whose `key` field equals an evaluated row's (whitespace aside).

    Where the train rows come from: for a local file, the 'train' file in that file's own folder (not its
    subfolders, and not a lone file of another name); for a directory or a hub id, its 'train' split (`load_rows`).
    `usable` checks the rows (`validate_rows` with the task's fields). No train file, or fewer than `k` examples
    left, is a ValueError saying that few_shot needs a separate train file next to the source, and where.
    """
    path = Path(source).expanduser() if source else None
    local = path is not None and path.exists()
    evaluated_file = evaluated.files[0] if evaluated.files else path
    folder = (path.parent if path.is_file() else path) if local else None
    expected = folder / ("train" + (data_suffix(evaluated_file.name) or ".jsonl")) if local else None
    need = f"{task}: few_shot={k} needs a separate 'train' file next to the source, such as {expected}"

    def refused(why: str) -> ValueError:
        return ValueError(f"{need} ({why}); few-shot examples are never taken from the rows being evaluated")

    try:
        if local and path.is_file():
            rows = read_files(split_files(folder, "train", recursive=False))
        else:
            rows = load_rows(source, "train", default_hub_id, hub_config)
    except NoSplitFile as err:
        raise refused(str(err).removesuffix("; point source at one file")) from err
    same = set(rows.files) & set(evaluated.files)
    if same:
        raise refused(f"the only candidate is the evaluated file {sorted(same)[0]} itself")

    def norm(text: Any) -> Any:
        return " ".join(text.split()) if isinstance(text, str) else text

    seen = {norm(row.get(key)) for row in evaluated if isinstance(row, Mapping)}
    candidates = [row for _, row in usable(rows)]
    unseen = [row for row in candidates if norm(row[key]) not in seen]
    shots = unseen[:k]
    if len(shots) < k:
        where = ", ".join(map(str, rows.files)) or (source or default_hub_id)
        dropped = len(candidates) - len(unseen)
        if not local:
            raise ValueError(f"{task}: few_shot={k} but the 'train' split of {where} has only {len(shots)} usable "
                             f"row(s) whose {key} is not also an evaluated problem's ({dropped} are)")
        raise refused(f"{where} has only {len(shots)} usable row(s) whose {key} is not also an evaluated problem's; "
                      f"{dropped} are")
    return shots
