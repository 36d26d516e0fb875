"""Fixtures of the dataset-task tests: small hand-written rows in each file format the loaders accept.

The text fixtures live in `fixtures/`; the binary formats (jsonl.gz, parquet) and the JSON-array form are written
from them into a temp dir by `as_format`, so the repository holds no binary files.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
FORMATS = ("jsonl", "json", "jsonl.gz", "parquet")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_rows(rows: list[dict], path: Path, fmt: str) -> Path:
    """Write `rows` to `path` (its name gets the `fmt` suffix): JSON Lines, JSON array, gzip JSON Lines or parquet."""
    path = path.with_name(path.name.split(".")[0] + "." + fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    if fmt == "jsonl":
        path.write_text(lines)
    elif fmt == "json":
        path.write_text(json.dumps(rows, indent=2))
    elif fmt == "jsonl.gz":
        path.write_bytes(gzip.compress(lines.encode()))
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        raise ValueError(fmt)
    return path


@pytest.fixture(autouse=True, scope="session")
def _private_datasets_cache(tmp_path_factory):
    """Keep the `datasets` arrow cache of these tests out of the user's ~/.cache."""
    import datasets

    old = datasets.config.HF_DATASETS_CACHE
    datasets.config.HF_DATASETS_CACHE = tmp_path_factory.mktemp("hf_datasets_cache")
    yield
    datasets.config.HF_DATASETS_CACHE = old


@pytest.fixture(name="write_rows")
def _write_rows_fixture():
    """The `write_rows` helper, for tests (conftest modules are not importable under every import mode)."""
    return write_rows


@pytest.fixture(name="read_jsonl")
def _read_jsonl_fixture():
    return read_jsonl


@pytest.fixture
def as_format(tmp_path):
    """as_format("gsm8k", fmt) -> a temp copy of fixtures/gsm8k/ with every file in format `fmt`; returns the dir."""

    def convert(task: str, fmt: str) -> Path:
        out = tmp_path / f"{task}-{fmt.replace('.', '_')}"
        for src in sorted((FIXTURES / task).iterdir()):
            rows = json.loads(src.read_text()) if src.suffix == ".json" else read_jsonl(src)
            write_rows(rows, out / src.name, fmt)
        return out

    return convert


@pytest.fixture
def fixture_copy(tmp_path):
    """fixture_copy("mbpp") -> a temp copy of fixtures/mbpp/ as it is (same bytes)."""

    def copy(task: str) -> Path:
        return Path(shutil.copytree(FIXTURES / task, tmp_path / task))

    return copy
