"""`rlvr launch` (flows/torchrun.py) without starting a job: how its arguments split between torchrun and the
ranks, and what a failed job's ranks (torchrun's own ProcessFailure records) become as one line and an exit code.
The jobs themselves run in tests/scaleout/test_launch.py."""

from __future__ import annotations

import pytest
from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

from rlvr.flows.errors import BadInput
from rlvr.flows.torchrun import RANK_MODULE, exit_code, failure_line, split_argv, torchrun_args


def _failure(rank: int, code: int) -> ProcessFailure:
    return ProcessFailure(local_rank=rank, pid=1000 + rank, exitcode=code, error_file="")


def test_arguments_split_at_the_config_or_a_double_dash():
    assert split_argv(["--nproc_per_node", "2", "-c", "f.yaml", "a=1"]) == (["--nproc_per_node", "2"],
                                                                           ["-c", "f.yaml", "a=1"])
    assert split_argv(["--nnodes", "1", "--", "--config=f.yaml"]) == (["--nnodes", "1"], ["--config=f.yaml"])
    with pytest.raises(BadInput, match="no run config"):
        split_argv(["--nproc_per_node", "2", "train.steps=3"])


def test_every_rank_runs_the_rank_entry_point_with_the_rest():
    args = torchrun_args(["--nproc_per_node", "2", "--master_port", "29999"], ["-c", "f.yaml", "train.steps=3"])
    assert args.module and args.training_script == RANK_MODULE
    assert args.training_script_args == ["-c", "f.yaml", "train.steps=3"]
    assert args.nproc_per_node == "2" and args.master_port == 29999


@pytest.mark.parametrize("options, message", [
    (["-m", "other.module"], "rlvr launch chooses what each rank runs"),
    (["--no-python"], "rlvr launch chooses what each rank runs"),
    (["--nproc_per_node", "2", "--bogus", "1"], "unrecognized arguments: --bogus"),
])
def test_torchrun_options_it_cannot_take_are_one_bad_input_line(options, message):
    with pytest.raises(BadInput, match=message):
        torchrun_args(options, ["-c", "f.yaml"])


def test_the_job_exits_with_the_code_of_the_rank_that_failed_not_of_the_ranks_stopped_after_it():
    failures = {0: _failure(0, -15), 1: _failure(1, 2)}  # rank 1 refused its input; torchrun then stopped rank 0
    assert exit_code(failures) == 2
    assert failure_line(failures) == ("rlvr launch: 2 ranks failed: rank 0 ended by SIGTERM, rank 1 exited 2 "
                                      "(each rank's own line says why)")


def test_a_rank_that_stopped_on_the_launchers_sigterm_does_not_hide_the_cause():
    failures = {0: _failure(0, 143), 1: _failure(1, 1)}  # rank 0 said "stopped by SIGTERM"; rank 1 crashed
    assert exit_code(failures) == 1
    assert exit_code({0: _failure(0, 143)}) == 143  # a stop alone is the job's code


def test_a_job_whose_ranks_were_all_killed_exits_as_a_shell_reports_a_signal():
    failures = {1: _failure(1, -9)}  # the kernel's out-of-memory killer: the rank said nothing
    assert exit_code(failures) == 128 + 9
    assert failure_line(failures, kept="no checkpoint was written: the same command starts from the beginning") == (
        "rlvr launch: rank 1 was killed by SIGKILL (out of memory? the kernel's OOM killer sends SIGKILL: see `dmesg`); "
        "no checkpoint was written: the same command starts from the beginning")
