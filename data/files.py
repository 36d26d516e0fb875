"""Local data files read into rows: JSON Lines, JSON arrays and parquet, gzip or not, one file or the files of a
split in a folder. `data/loading.py` decides where rows come from (a file, a folder, the hub) and checks them.

- `read_json_lines` reads JSON Lines line by line (also the reader of `rlvr verify`), so a line that is not JSON is
  one `BadLine` in its place, not a failed file; JSON arrays and parquet files are read whole (`read_files`).
- a `.json` file may be JSON Lines or one JSON array (`json.dump(rows, f, indent=2)`); one JSON object spread over
  lines is refused in one line saying so.
- `split_files` picks the files of a split in a folder by name (`test.jsonl`, `test-00000-of-00001.parquet`).
Each row keeps where it came from (`Rows.where`: "line 4", 1-based, or "row 4" where a source has no lines).
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# file suffix -> format: json (JSON Lines or one JSON array, gzip when .gz) or parquet
FORMATS = {".jsonl.gz": "json", ".json.gz": "json", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
_SPLIT_WORDS = ("train", "test", "validation", "valid", "dev", "prompt")
NAMED_FOR_SPLIT = re.compile(rf"^({'|'.join(_SPLIT_WORDS)})(?=[._-]|$)", re.IGNORECASE)  # `test.jsonl`, `train-0.parquet`


@dataclass(frozen=True)
class BadLine:
    """A line of a JSON Lines file that could not be read as JSON; kept in its place among the rows so that
    `validate_rows` reports it (by line number) and applies `on_bad_row` to it like to any other bad row."""

    reason: str


class Rows(list):
    """Rows in source order, plus `where[i]`: where row i came from, for messages ("line 4", "row 4", and with
    several files "test-00001.jsonl line 4"), and `files`: the local files read (resolved; none for the hub)."""

    def __init__(self, rows: Sequence[Any] = (), where: Sequence[str] | None = None, files: Sequence[Path] = ()):
        super().__init__(rows)
        self.where = list(where) if where is not None else [f"row {i + 1}" for i in range(len(self))]
        self.files = list(files)


class NoSplitFile(ValueError):
    """A directory holds no data file named for the split asked (nor one lone file to stand for it)."""


def read_json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(1-based line number, parsed value or BadLine) for each non-blank line of a JSON Lines file (gzip when the
    name ends in .gz; a UTF-8 BOM at its start is dropped, as `utf-8-sig` does). Raises OSError when the file cannot
    be read at all."""
    path = Path(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if number == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            if not raw.strip():
                continue
            try:
                yield number, json.loads(raw.decode("utf-8").rstrip("\r\n"))  # a line cut inside a string: unterminated
            except UnicodeDecodeError as err:
                yield number, BadLine(f"not UTF-8 text ({err.reason} at byte {err.start})")
            except json.JSONDecodeError as err:
                yield number, BadLine(f"not JSON ({err.msg.removesuffix(' at')} at column {err.colno})")
            except RecursionError:
                yield number, BadLine("not JSON (nested too deeply)")


def data_suffix(name: str) -> str | None:
    lower = name.lower()
    return next((s for s in FORMATS if lower.endswith(s)), None)


def data_files(directory: Path, recursive: bool = True) -> list[Path]:
    """The data files (a suffix of FORMATS) in `directory`, and in its subfolders when `recursive`, sorted."""
    found = directory.rglob("*") if recursive else directory.iterdir()
    return sorted(p for p in found if p.is_file() and data_suffix(p.name))


def split_files(directory: Path, split: str, recursive: bool = True) -> list[Path]:
    """The data files of `split` in `directory` (see `load_rows`; its subfolders too when `recursive`); one format,
    one folder."""
    data = data_files(directory, recursive)
    if not data:
        raise NoSplitFile(f"{directory} holds no data file ({', '.join(FORMATS)})")
    pattern = re.compile(rf"^{re.escape(split)}([._-]|$)", re.IGNORECASE)
    chosen = [p for p in data if pattern.match(p.name)]
    if not chosen:
        if len(data) == 1 and not NAMED_FOR_SPLIT.match(data[0].name):
            chosen = data
        else:
            names = ", ".join(str(p.relative_to(directory)) for p in data[:10]) + (
                f", ... ({len(data)} in all)" if len(data) > 10 else "")
            raise NoSplitFile(f"no {split!r} file in {directory} (found: {names}); point source at one file")
    if len({p.parent for p in chosen}) > 1 or len({data_suffix(p.name) for p in chosen}) > 1:
        names = ", ".join(str(p.relative_to(directory)) for p in chosen)
        raise ValueError(f"several candidate {split!r} files in {directory} ({names}); point source at one file")
    return chosen


def read_files(files: list[Path]) -> Rows:
    suffix = data_suffix(files[0].name)
    if suffix is None:
        raise ValueError(f"unknown data format of {files[0]}; supported: {', '.join(FORMATS)}")
    rows = Rows(files=[p.resolve() for p in files])
    for path in files:
        try:
            got = _read_lines(path) if suffix != ".parquet" and not _is_json_array(path) else _read_whole(path, suffix)
            if got and isinstance(got[0], BadLine):
                _refuse_one_object(path)
        except (EOFError, gzip.BadGzipFile, zlib.error) as err:  # a truncated or corrupt .gz
            raise ValueError(f"could not read {path}: {type(err).__name__}: {err}") from err
        prefix = f"{path.name} " if len(files) > 1 else ""
        rows.extend(got)
        rows.where.extend(prefix + w for w in got.where)
    if not rows:
        raise ValueError(f"{', '.join(map(str, files))}: no rows (empty file)")
    return rows


def _is_json_array(path: Path) -> bool:
    """Whether a .json/.jsonl file is one JSON array rather than JSON Lines (its first non-blank byte after a UTF-8
    BOM, if any, is `[`)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        head = f.read(4096).removeprefix(codecs.BOM_UTF8).lstrip()
        while not head:
            chunk = f.read(4096)
            if not chunk:
                return False
            head = chunk.lstrip()
    return head[:1] == b"["


def _refuse_one_object(path: Path) -> None:
    """ValueError when a file whose first line is not JSON is, read whole, one JSON object (pretty-printed): as JSON
    Lines each of its lines would be a bad row, and none is one. Said with the shape that is read."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            whole = json.loads(f.read().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return  # not one JSON value: JSON Lines with bad lines, reported line by line
    if not isinstance(whole, dict):
        return
    rows_inside = next((key for key, value in whole.items() if isinstance(value, list) and value
                        and all(isinstance(item, dict) for item in value)), None)
    hint = f"; its {rows_inside!r} holds a list of {len(whole[rows_inside])} objects: write that list" if rows_inside \
        else ""
    raise ValueError(f"{path} holds one JSON object (keys {', '.join(map(repr, list(whole)[:8]))}), not rows: a data "
                     f"file is a JSON array of row objects ([{{...}}, {{...}}], as json.dump(rows, f) writes) or JSON "
                     f"Lines (one object per line){hint}")


def _read_lines(path: Path) -> Rows:
    pairs = list(read_json_lines(path))
    return Rows([row for _, row in pairs], [f"line {n}" for n, _ in pairs])


def _read_whole(path: Path, suffix: str) -> Rows:
    """A parquet file or a JSON array, read at once: a file that cannot be parsed fails as a whole."""
    if suffix == ".parquet":
        import pyarrow
        import pyarrow.parquet

        try:
            return Rows(pyarrow.parquet.read_table(path).to_pylist())
        except (pyarrow.ArrowException, OSError) as err:
            raise ValueError(f"could not parse {path} as parquet: {err}") from err
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            rows = json.loads(f.read().decode("utf-8-sig"))  # a BOM is dropped
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"could not parse {path} as a JSON array: {err}") from err
    return Rows(rows)
