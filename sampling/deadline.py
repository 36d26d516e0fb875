"""Run engine calls on one dedicated thread so that a caller can stop waiting.

A Python thread cannot be killed, so a deadline works in two layers:
1. cooperative — the backends check `deadline` between decoding steps and stop cleanly (vLLM aborts
   its requests, HF generate stops through a stopping criterion); they raise `SamplerTimeout` and the
   engine stays usable;
2. hard — if a single step or a weight load never returns, `EngineThread.call` gives up after the
   deadline plus a grace period, raises `SamplerTimeout`, and marks the engine broken: the stuck
   thread still owns the engine, so every later call raises `SamplerError` at once. The run must be
   restarted (resume from the last checkpoint); the daemon thread does not block interpreter exit.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from rlvr.sampling.errors import SamplerError, SamplerTimeout


class EngineThread:
    def __init__(self, name: str, grace_s: float = 30.0):
        self.grace_s = grace_s
        self.broken: str | None = None
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, who re-raises it
                future.set_exception(exc)

    def call(self, what: str, fn: Callable[[], Any], timeout_s: float | None) -> Any:
        """Run `fn()` on the engine thread; wait at most `timeout_s + grace_s` seconds."""
        if self.broken:
            raise SamplerError(f"sampler is unusable since an earlier call hung ({self.broken}); restart the run")
        future: Future = Future()
        self._jobs.put((fn, future))
        wait = None if timeout_s is None else timeout_s + self.grace_s
        start = time.monotonic()
        try:
            return future.result(timeout=wait)
        except TimeoutError:
            if future.cancel():  # never started: the thread is busy with an older job
                raise SamplerTimeout(f"{what} did not start within {wait:.0f} s") from None
            self.broken = f"{what} still running after {time.monotonic() - start:.0f} s"
            raise SamplerTimeout(
                f"{what} exceeded its {timeout_s:.0f} s deadline and did not stop within a further "
                f"{self.grace_s:.0f} s; the engine thread is stuck and the sampler is now unusable"
            ) from None

    def close(self) -> None:
        self._jobs.put(None)
