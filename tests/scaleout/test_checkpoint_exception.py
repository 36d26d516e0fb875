"""torch's CheckpointException derives from BaseException and its text is every rank's traceback: the launch entry
point ends one that escapes in one `rlvr:` line (the traceback goes to the log file), and a failed DCP load is the
trainer's CheckpointError (exit 2), which its resume loop skips. Real DCP files, damaged on disk."""

from __future__ import annotations

import re

import pytest
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.api import CheckpointException

from rlvr.flows.errors import exit_code, report_failure
from rlvr.flows.launch import _checkpoint_failure


@pytest.fixture
def escaped(tmp_path) -> CheckpointException:
    """What `dcp.load` raises for a shard file zeroed at its start."""
    dcp.save({"w": torch.ones(64, 64)}, checkpoint_id=str(tmp_path / "sharded"))
    (shard,) = (tmp_path / "sharded").glob("*.distcp")
    with open(shard, "r+b") as fh:
        fh.write(bytes(512))
    with pytest.raises(CheckpointException) as err:
        dcp.load({"w": torch.zeros(64, 64)}, checkpoint_id=str(tmp_path / "sharded"))
    assert not isinstance(err.value, Exception)  # what `except Exception` lets through
    return err.value


def test_an_escaped_checkpoint_exception_ends_in_one_line_with_the_traceback_in_the_log(escaped, tmp_path, capsys):
    log = tmp_path / "run.log"
    code = report_failure(_checkpoint_failure(escaped), log, drain_s=0)
    lines = capsys.readouterr().err.splitlines()
    assert code == 1 and len(lines) == 1, lines
    said = r"torch\.distributed\.checkpoint failed \(UnpicklingError: .{1,160}\)"
    assert re.fullmatch(rf"rlvr: RuntimeError: {said} \(full log: {log}\)", lines[0]), lines
    assert "CheckpointException" in log.read_text() and "Traceback (most recent call last)" in log.read_text()


def test_a_failed_sharded_load_is_a_checkpoint_error(tmp_path):
    from rlvr.trainers.checkpoint import CheckpointError
    from rlvr.trainers.fsdp_checkpoint import check

    dcp.save({"w": torch.ones(64, 64)}, checkpoint_id=str(tmp_path / "step-1" / "sharded"))
    check(tmp_path / "step-1")  # whole
    (shard,) = (tmp_path / "step-1" / "sharded").glob("*.distcp")
    size = shard.stat().st_size
    with open(shard, "r+b") as fh:
        fh.truncate(size - 1)
    said = rf"sharded/{shard.name} is cut short \({size - 1} of {size} bytes\)"
    with pytest.raises(CheckpointError, match=said) as err:
        check(tmp_path / "step-1")
    assert exit_code(err.value) == 2
