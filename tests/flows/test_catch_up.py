"""Which pinned checkpoints the `rlvr serve` watcher evaluates, decided from real pin files and real Prefect flow
run records (the end-to-end watcher against a server that goes down and comes back is in test_server.py)."""

import os
import time
import uuid
from datetime import UTC, datetime

from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Crashed, Failed, Pending, Running, Scheduled

from rlvr.flows.catch_up import due, newly_given_up
from rlvr.flows.eval_pins import pin, unpin

NOW = time.time()
SERVE_START = NOW - 600


def _checkpoint(root, step, pinned_ago_s):
    ckpt = root / "checkpoints" / f"step-{step}"
    ckpt.mkdir(parents=True)
    path = pin(ckpt)
    os.utime(path, (NOW - pinned_ago_s, NOW - pinned_ago_s))
    return ckpt


def _run(ckpt, state, started_ago_s=None, created_ago_s=None):
    start, created = (None if ago is None else datetime.fromtimestamp(NOW - ago, UTC)
                      for ago in (started_ago_s, created_ago_s))
    return FlowRun(flow_id=uuid.uuid4(), parameters={"checkpoint": str(ckpt.resolve())}, state=state, start_time=start,
                   created=created)


def test_a_pinned_checkpoint_without_a_run_is_due_once_its_grace_has_passed(tmp_path):
    old, fresh = _checkpoint(tmp_path, 1, 300), _checkpoint(tmp_path, 2, 5)
    start, given_up = due([old, fresh], [], grace_s=60, max_attempts=2, since=SERVE_START, now=NOW)
    assert start == [old] and given_up == []


def test_a_scheduled_or_current_run_is_waited_for(tmp_path):
    a, b, c = (_checkpoint(tmp_path, s, 300) for s in (1, 2, 3))
    runs = [_run(a, Scheduled()), _run(b, Running(), started_ago_s=30), _run(c, Pending(), started_ago_s=10)]
    assert due([a, b, c], runs, grace_s=60, max_attempts=2, since=SERVE_START, now=NOW) == ([], [])


def test_a_run_left_running_by_an_earlier_serving_process_is_not_waited_for(tmp_path):
    """SIGKILL of `rlvr serve` leaves its flow run 'Running' forever; the next serve evaluates the checkpoint."""
    ckpt = _checkpoint(tmp_path, 1, 3600)
    runs = [_run(ckpt, Running(), started_ago_s=1800)]  # started before this serve began (600 s ago)
    assert due([ckpt], runs, grace_s=60, max_attempts=2, since=SERVE_START, now=NOW) == ([ckpt], [])


def test_a_checkpoint_whose_evaluations_keep_failing_is_given_up_after_max_attempts(tmp_path):
    ckpt = _checkpoint(tmp_path, 1, 300)
    one = [_run(ckpt, Failed(), started_ago_s=200)]
    assert due([ckpt], one, grace_s=60, max_attempts=2, since=SERVE_START, now=NOW) == ([ckpt], [])
    two = one + [_run(ckpt, Crashed(), started_ago_s=100)]
    assert due([ckpt], two, grace_s=60, max_attempts=2, since=SERVE_START, now=NOW) == ([], [ckpt])


def test_runs_that_ended_before_the_checkpoint_was_pinned_again_do_not_count(tmp_path):
    """Its eval.json removed and the checkpoint pinned again (or its step saved again by a resumed run): the runs
    of its earlier evaluation say nothing about this one, however many there were."""
    ckpt = _checkpoint(tmp_path, 1, 300)
    before = [_run(ckpt, Completed(), started_ago_s=500, created_ago_s=510) for _ in range(3)]
    assert due([ckpt], before, grace_s=60, max_attempts=2, since=SERVE_START, now=NOW) == ([ckpt], [])
    since_pin = before + [_run(ckpt, Failed(), started_ago_s=200, created_ago_s=210)] * 2
    assert due([ckpt], since_pin, grace_s=60, max_attempts=2, since=SERVE_START, now=NOW) == ([], [ckpt])



def test_a_given_up_checkpoint_is_reported_once_per_pin(tmp_path):
    """Each round finds it given up again: said once. Pinned again later and given up again: said again."""
    ckpt = _checkpoint(tmp_path, 1, 300)
    said = set()
    assert newly_given_up([ckpt], said) == [ckpt]
    assert newly_given_up([ckpt], said) == []
    unpin(ckpt)
    assert newly_given_up([ckpt], said) == []  # unpinned since the round listed it: nothing to report
    os.utime(pin(ckpt), (NOW - 100, NOW - 100))
    assert newly_given_up([ckpt], said) == [ckpt]
    assert newly_given_up([ckpt], said) == []

def test_runs_of_other_checkpoints_do_not_count(tmp_path):
    a, b = _checkpoint(tmp_path, 1, 300), _checkpoint(tmp_path, 2, 300)
    runs = [_run(b, Running(), started_ago_s=30), _run(b, Completed(), started_ago_s=100)]
    assert due([a, b], runs, grace_s=60, max_attempts=1, since=SERVE_START, now=NOW) == ([a], [])


def _refused_request():
    """A real request to a port nobody listens on: the error the runner meets while its server is down."""
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends
    try:
        httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
    except httpx.HTTPError as exc:
        return exc
    raise AssertionError("the request to a closed port succeeded")


def test_a_runner_failure_caused_by_the_lost_connection_counts_as_the_outage_even_if_the_api_is_back():
    """The runner's teardown can raise the outage's ConnectError after the server is back (seen in the full suite:
    serve exited with `rlvr: ConnectError` because a health check made afterwards passed)."""
    from rlvr.flows.serving import lost_connection

    refused = _refused_request()
    assert lost_connection(refused)
    try:
        raise RuntimeError("Runner failed to start") from refused
    except RuntimeError as wrapped:
        assert lost_connection(wrapped)
    assert not lost_connection(RuntimeError("deployment 'evaluate/on-checkpoint' has no work pool"))
    assert not lost_connection(ValueError("bad parameter"))


def test_serve_without_a_server_says_so_in_one_line_and_starts_no_temporary_server(tmp_path):
    """Prefect's embedded mode cannot serve (no scheduler, a server only this process can reach), and `serve` and
    the catch-up thread each started a temporary server at once: "address already in use" and a traceback, then
    serving went on (seen by a user, reproduced twice). Now: one line, exit 2, nothing started."""
    import subprocess
    import sys

    from tests.flows.flow_helpers import CONFIG, start_process, stop_process

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    log = tmp_path / "serve.log"
    proc = start_process([sys.executable, "-m", "rlvr.flows.cli", "serve", "-c", CONFIG, "--no-schedule",
                          f"train.checkpoint.dir={tmp_path / 'run'}"], env, log)
    try:
        proc.wait(timeout=90)  # the old code served on until stopped
    except subprocess.TimeoutExpired:
        pass
    finally:
        stop_process(proc)
    out = log.read_text()
    assert proc.returncode == 2, out
    assert "serving needs a Prefect server" in out and "PREFECT_API_URL" in out, out
    assert "temporary server" not in out and "Traceback" not in out, out
    assert len(out.strip().splitlines()) == 1, out
