"""Prefect's runner serving the deployments in `rlvr serve`'s main thread (`Serving`), its stop, and its wait for a
Prefect API that went away. How serving and its stop work: flows/deployments.py's docstring, docs/scaleout.md
("Serving from one machine")."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from rlvr.flows.catch_up import pin_time, say
from rlvr.flows.stopping import exit_held, note_resume, note_unwound


class Serving:
    """Prefect's runner serving `deployments` in this process's main thread, and its stop (`stop`, on a thread)."""

    def __init__(self, deployments, limit: int | None, records: Path):
        self.deployments, self.limit, self.records = deployments, limit, records
        self.names = {d.flow_name: f"{d.flow_name}/{d.name}" for d in deployments}
        self.runner = self.loop = self.stopped = None
        self.ended = threading.Event()  # set once the stop has ended the runs: no serving again after an outage

    def serve_until_stopped(self, poll_s: float) -> None:
        """Serve until `stop` has ended the runs; after a lost server, wait for it (looking every `poll_s`) and
        serve again."""
        while not self.ended.is_set():
            try:
                self._serve()
                return
            # an outage surfaces as many types (httpx, websockets, the runner's RuntimeError)
            except Exception as exc:  # noqa: BLE001
                if self.ended.is_set():
                    return
                if not lost_connection(exc) and api_answers():
                    raise  # the server is up and was reachable: a real failure, reported by the CLI as one line
                say(f"rlvr serve: lost the Prefect API ({type(exc).__name__}: {str(exc)[:160]}); serving again when "
                    "it answers")
                wait_for_api(poll_s, self.ended)
                if not self.ended.is_set():
                    say("rlvr serve: the Prefect API answers again; serving")

    def _serve(self) -> None:
        import asyncio
        import signal

        from prefect.runner import Runner

        self.runner = Runner(pause_on_shutdown=True, limit=self.limit)
        if callable(signal.getsignal(signal.SIGTERM)):  # rlvr's stop handler: the runner would put its own, exit 0
            self.runner.handle_sigterm = signal.getsignal(signal.SIGTERM)
        for deployment in self.deployments:
            self.runner.add_deployment(deployment)
        say(f"rlvr serve: serving {', '.join(self.names.values())} (run one: prefect deployment run "
            f"{next(iter(self.names.values()))})")
        asyncio.run(self._run())

    async def _run(self) -> None:
        import asyncio

        self.loop = asyncio.get_running_loop()
        if not self.ended.is_set():
            await self.runner.start()

    def stop(self, signal_name: str) -> None:
        """On the first stop signal: one SIGTERM to each flow-run process, wait for them (their saves), then stop
        the runner; the closing line's note says what each run left."""
        wait_s = float(os.environ.get("RLVR_STOP_SAVE_S", "120")) + float(os.environ.get("RLVR_STOP_GRACE_S", "15"))
        with exit_held(wait_s + 60):
            note_resume("a second signal killed the flow runs under way (a checkpoint is written whole or not at "
                        "all: the newest one whole is kept)")
            ended = stop_flow_runs(wait_s)
            self._wait_runner_let_go(10.0)
            note_resume(self.ended_note(ended))
            self.stopped = signal_name
            self.ended.set()
            self._stop_runner()
        note_unwound()

    def _wait_runner_let_go(self, wait_s: float) -> None:
        """Wait up to `wait_s` for the runner to have collected each ended flow-run process. Its stop cancels every
        run it still tracks: a run ended by the stop but not yet collected was marked Cancelled ("Runner is
        shutting down") over the Crashed its own process had reported. (Prefect gives no public view of what it
        tracks; without one this returns at once.)"""
        tracked = getattr(getattr(self.runner, "_process_manager", None), "flow_run_ids", None)
        if not callable(tracked):
            return

        def let_go() -> bool:
            try:
                return not tracked()
            except RuntimeError:  # its map changed while it was copied: look again
                return False

        _wait_until(let_go, wait_s, every_s=0.05)

    def _stop_runner(self) -> None:
        import asyncio

        if self.loop is None or self.runner is None:
            return
        try:  # Prefect's own stop: any run still alive is cancelled (SIGTERM, SIGKILL 30 s later), schedules paused
            asyncio.run_coroutine_threadsafe(self.runner.astop(), self.loop).result(timeout=60)
        except Exception as exc:  # noqa: BLE001 - not started yet, or its server gone: the process ends anyway
            say(f"rlvr serve: Prefect's runner did not stop cleanly ({type(exc).__name__}: {str(exc)[:160]})")

    def ended_note(self, ended: list[int]) -> str:
        """The closing line's account of the flow runs a stop ended (their processes' pids)."""
        if not ended:
            return "serving ended; no flow run was under way"
        return f"serving ended; the flow runs under way ended: {'; '.join(self.run_said(pid) for pid in ended)}"

    def run_said(self, pid: int) -> str:
        """What the run of process `pid` left, from the record it wrote (flows/stopping.stop_as_served_run)."""
        try:
            record = json.loads((self.records / f"{pid}.json").read_text())
        except (OSError, ValueError):
            return f"a flow run that was starting (pid {pid}): nothing to save"
        name = self.names.get(record.get("flow"), record.get("flow"))
        run, note = f"{name} run '{record.get('run')}'", record.get("note") or ""
        if record.get("checkpoint"):  # an evaluation: the checkpoint keeps its pin if it had one
            ckpt = Path(record["checkpoint"])
            again = ("it stays pinned: `rlvr serve` evaluates it when it runs again" if pin_time(ckpt) is not None
                     else f"`rlvr eval {ckpt}` evaluates it")
            return f"{run}: the evaluation of {ckpt} was cut; {again}"
        if not note:
            return f"{run}: stopped outside its training steps, nothing unsaved"
        return f"{run}: {note.replace('the same command', f'a new run of {name}')}"


def stop_flow_runs(wait_s: float) -> list[int]:
    """Send SIGTERM to each child of this process (the runner's flow-run processes) and wait up to `wait_s` for them
    to end; returns their pids."""
    import psutil

    runs = psutil.Process().children()
    for proc in runs:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    wait_unreaped(runs, wait_s)
    return [proc.pid for proc in runs]


def wait_unreaped(procs, wait_s: float) -> None:
    """Wait up to `wait_s` for `procs` (psutil processes, children of this one) to exit, leaving each exit status
    to be collected by the runner that started it. `psutil.wait_procs` would reap them: the runner's own wait
    then finds no such child, asyncio says "Unknown child process", and the run is reported as exit code 255."""
    import psutil

    def ended() -> bool:
        try:
            return all(not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE for proc in procs)
        except psutil.NoSuchProcess:  # reaped between the two looks: look again
            return False

    _wait_until(ended, wait_s, every_s=0.1)


def _wait_until(done, wait_s: float, every_s: float) -> None:
    """Look at `done()` every `every_s` until it is true or `wait_s` have passed."""
    import time

    deadline = time.monotonic() + wait_s
    while not done() and time.monotonic() < deadline:
        time.sleep(every_s)


def lost_connection(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) is a failure to reach the server. The runner can surface one
    after the server is back (its teardown still calling the old connection), so this, not a health check made
    afterwards, says that the failure was the outage."""
    import httpx

    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (httpx.TransportError, ConnectionError)):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def api_answers() -> bool:
    """Whether the Prefect API in use passes its health check now."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.api_healthcheck() is None


def wait_for_api(poll_s: float, ended: threading.Event | None = None) -> None:
    """Block until the Prefect API in use passes its health check (or `ended` is set), looking every `poll_s`."""
    ended = ended or threading.Event()
    while not ended.wait(poll_s):
        if api_answers():
            return
