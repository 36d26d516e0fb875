"""What a 2-rank `rlvr launch` job says when it ends other than by its own failure: a rank killed by the kernel
(the OOM killer's SIGKILL) and the other rank ending because of it; a SIGTERM after the last checkpoint. Real
jobs on the tiny model (a run of seconds), each asserting the one line a user reads and what is on disk; gloo's
peer-loss texts, reduced to their cause, as a table."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from tests.scaleout.launch_child import child_env
from tests.scaleout.test_launch import REPO, _job, _metric_steps, _small


@contextmanager
def _running(cmd: list[str], out: Path):
    """The job, its output to `out`; whatever of it is left when the test ends (a failed one) is killed, ranks too
    (torchrun starts each in a session of its own)."""
    with open(out, "w") as sink:
        proc = subprocess.Popen(cmd, cwd=REPO, env=child_env(), stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()


def _wait_for(proc: subprocess.Popen, out: Path, ready, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None and time.monotonic() < deadline, out.read_text()[-3000:]
        time.sleep(0.02)


def _rank_process(launcher: subprocess.Popen, rank: int) -> psutil.Process:
    for child in psutil.Process(launcher.pid).children(recursive=True):
        if "rlvr.flows.launch" in child.cmdline() and child.environ().get("RANK") == str(rank):
            return child
    raise AssertionError(f"no process of rank {rank}")


def _wait_idle(rank: psutil.Process, timeout: float = 60) -> None:
    """Until `rank` uses no CPU for 0.5 s (gloo waits for a peer without spinning)."""
    deadline = time.monotonic() + timeout
    used = sum(rank.cpu_times()[:2])
    while time.monotonic() < deadline:
        time.sleep(0.5)
        used, before = sum(rank.cpu_times()[:2]), used
        if used - before < 0.02:
            return
    raise AssertionError("rank 0 never waited for the stopped rank 1")


@pytest.mark.slow
def test_a_rank_killed_by_the_kernel_is_named_and_the_other_keeps_its_last_step(tiny_model, tmp_path):
    """Rank 1 is stopped (SIGSTOP) so that rank 0 waits in a collective, then SIGKILLed as the OOM killer does:
    rank 0's gloo error comes at once and torchrun's SIGTERM right after it. Was: gloo's raw text ("Connection
    reset by peer ... GLHF!") or, when the SIGTERM came while rank 0 reported it, a traceback wall; then
    `rank 0 exited 1, rank 1 ended by SIGKILL (each rank's own line says why)`, exit 1 or 137."""
    run, out = tmp_path / "run", tmp_path / "out.log"
    cmd = _job(*_small(tiny_model, run), "train.steps=500", "train.checkpoint.every=1000", launcher="rlvr")
    with _running(cmd, out) as proc:
        _wait_for(proc, out, lambda: len(_metric_steps(run)) >= 2)
        victim = _rank_process(proc, 1)
        victim.suspend()
        _wait_idle(_rank_process(proc, 0))  # rank 0 has reached the next collective and waits there for rank 1
        victim.kill()
        code = proc.wait(timeout=120)
    text = out.read_text()
    assert code == 128 + signal.SIGKILL, text[-3000:]  # the killed rank's, not the 1 of the rank that lost it
    assert "Traceback" not in text and "GLHF" not in text, text[-3000:]
    step = _metric_steps(run)[-1]
    saved = run / "checkpoints" / f"step-{step}"
    assert (saved / "trainer_state.pt").is_file()  # rank 0 kept the last completed step (no checkpoint was due)
    lines = [line for line in text.splitlines() if line.startswith(("rlvr:", "rlvr launch:"))]
    assert len(lines) == 2, lines
    # rank 0's own line: the lost peer; or a stop, when torchrun's SIGTERM reached it first (a loaded machine)
    lost = re.fullmatch(r"rlvr: another rank of the job ended \(gloo: [^()]*Connection (reset|closed) by peer\); "
                        rf"saved {re.escape(str(saved))}; the same command resumes from step {step} \(full log: .+\)",
                        lines[0])
    stopped = lines[0].startswith(f"rlvr: stopped by SIGTERM; saved {saved}; the same command resumes from step {step}")
    assert lost or stopped, lines
    # (a rank that has said its line and gets torchrun's SIGTERM after its handlers are gone ends by it: no exit code)
    then = r"lost its peer( \(exit 1\))?" if lost else r"was stopped by torchrun \(exit 143\)"
    assert re.fullmatch(r"rlvr launch: rank 1 was killed by SIGKILL \(out of memory\? the kernel's OOM killer sends "
                        rf"SIGKILL: see `dmesg`\), and the job ended with it: rank 0 {then}; the newest checkpoint is "
                        rf"{re.escape(str(saved))}: the same command resumes from step {step}", lines[1]), lines


@pytest.mark.slow
def test_sigterm_after_the_last_checkpoint_says_that_training_had_finished(tiny_model, tmp_path):
    """The signal comes once rank 0 has drawn curves.png (after the last checkpoint): the ranks are closing or
    have ended, and torchrun's agent is ending. Was: exit 143 and no line, or `the run can be resumed with the
    same command` (not what was saved)."""
    run, out = tmp_path / "run", tmp_path / "out.log"
    with _running(_job(*_small(tiny_model, run), "train.steps=1", launcher="rlvr"), out) as proc:
        _wait_for(proc, out, (run / "curves.png").exists)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    text = out.read_text()
    assert code == 128 + signal.SIGTERM, text[-3000:]
    lines = [line for line in text.splitlines() if line.startswith("rlvr")]
    saved = run / "checkpoints" / "step-1"
    assert len(lines) == 1 and lines[0].startswith(f"rlvr: stopped by SIGTERM; training had finished: saved {saved} "
                                                   "(step 1 of 1)"), text[-3000:]
    assert "Traceback" not in text and (saved / "trainer_state.pt").is_file()


@pytest.mark.parametrize("text, cause", [
    # a peer's socket closed while this rank waited for it (the kill above, or a crash)
    ("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection closed by peer "
     "[127.0.0.1]:18049. This is typically caused by a remote worker crashing. Check the logs of the remote "
     "worker before reporting an error. GLHF! \N{BEACH WITH UMBRELLA}", "Connection closed by peer [127.0.0.1]:18049"),
    # the same, seen as a read that failed
    ("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Read error [127.0.0.1]:41130: Connection reset by peer",
     "Read error [127.0.0.1]:41130: Connection reset by peer"),
    # NCCL's words for it
    ("NCCL error in: ProcessGroupNCCL.cpp:1970, remote process exited or there was a network error, NCCL version "
     "2.21.5", "NCCL error in: ProcessGroupNCCL.cpp:1970, remote process exited or there was a network error, "
     "NCCL version 2.21.5"),
])
def test_a_collective_that_lost_its_peer_is_reduced_to_its_cause(text, cause):
    from rlvr.trainers.distributed import lost_peer

    # prefixed by the backend when this process is in a group (another test may have left one), else as below
    backend, _, said = lost_peer(RuntimeError(text)).partition(": ")
    assert backend in ("torch.distributed", "gloo") and said == cause


@pytest.mark.parametrize("exc", [
    RuntimeError("CUDA out of memory"),
    RuntimeError("[Errno 32] Broken pipe"),  # the words, but not from gloo, NCCL or c10d
    ValueError("gloo: Connection reset by peer"),  # not what a collective raises
], ids=["another-runtime-error", "not-from-a-collective", "not-a-runtime-error"])
def test_other_errors_are_not_a_lost_peer(exc):
    from rlvr.trainers.distributed import lost_peer

    assert lost_peer(exc) is None


@pytest.mark.parametrize("other, lost, said", [
    (1, {0}, "rank 0 lost its peer (exit 1)"),  # its collective failed first (the job above)
    (143, set(), "rank 0 was stopped by torchrun (exit 143)"),  # torchrun's SIGTERM came first: rlvr's stop
    (-15, set(), "rank 0 was stopped by torchrun (SIGTERM)"),  # ... before the rank's handlers were installed
])
def test_the_killed_rank_is_the_cause_whatever_the_other_did_after_it(other, lost, said):
    """torchrun's own records of the job's ranks (its ProcessFailure), as `rlvr launch` gets them."""
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

    from rlvr.flows.torchrun import exit_code, failure_line

    failures = {rank: ProcessFailure(local_rank=rank, pid=1000 + rank, exitcode=code, error_file="")
                for rank, code in ((0, other), (1, -9))}
    assert exit_code(failures, lost) == 128 + 9
    assert failure_line(failures, lost, "KEPT") == (
        "rlvr launch: rank 1 was killed by SIGKILL (out of memory? the kernel's OOM killer sends SIGKILL: see "
        f"`dmesg`), and the job ended with it: {said}; KEPT")
