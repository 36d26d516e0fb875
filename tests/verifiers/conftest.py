"""Shared fixtures of the verifier tests: the user plug-ins beside them on the import path, a pool whose workers
import them, and a writer of dataset rows in verl's parquet or as JSON lines."""

import json
import os
import sys

import pytest

from rlvr.verifiers.pool import VerifierPool

HERE = os.path.dirname(__file__)


@pytest.fixture(scope="module")
def on_path():
    """This folder on `sys.path` for one test module: its plug-ins (trl_user_rewards.py, verl_user_rewards.py,
    example_user_verifier.py) are named by module, as a user's are; the pool's workers inherit the path."""
    sys.path.insert(0, HERE)
    yield
    sys.path.remove(HERE)


@pytest.fixture(scope="module")
def pool(on_path):
    """Two workers for one test module; math is not prestarted (these tests score plug-ins, mostly)."""
    with VerifierPool(workers=2, timeout_s=10, prestart_math=False) as p:
        yield p


@pytest.fixture
def write_rows():
    """A function: write_rows(rows, path) writes dict rows to `path` as parquet (verl's format) or as JSON lines,
    by the path's suffix, and returns the path."""

    def write(rows: list[dict], path):
        if path.suffix == ".parquet":
            import pyarrow
            import pyarrow.parquet

            pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), path)
        else:
            path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return path

    return write
