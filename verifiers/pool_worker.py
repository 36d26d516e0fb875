"""A verification worker process: read (task_id, name, options, completion, reference), answer (task_id, Verdict).

Started by `pool.VerifierPool` as `python -c "from rlvr.verifiers.pool_worker import main; main()"`; frames are a 4-byte
length plus a pickle on stdin/stdout. Anything the verifiers print goes to stderr, never into the channel.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys

from rlvr.verifiers import math_guard
from rlvr.verifiers.registry import run_one
from rlvr.verifiers.verdict import Verdict

_LEN = struct.Struct("!I")


def main() -> None:
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    if os.environ.get("RLVR_POOL_PRESTART_MATH") == "1":
        math_guard.prestart()
    while True:
        head = inp.read(_LEN.size)
        if len(head) < _LEN.size:
            return
        task_id, name, options, completion, reference = pickle.loads(inp.read(_LEN.unpack(head)[0]))
        try:
            verdict = run_one(name, options, completion, reference)
        except Exception as e:  # noqa: BLE001 - a config error (validated in the parent already) or a bug: report it
            verdict = Verdict(0.0, "error", {"rule": "worker_error", "error": f"{type(e).__name__}: {e}"[:1000]})
        data = pickle.dumps((task_id, verdict))
        out.write(_LEN.pack(len(data)) + data)


if __name__ == "__main__":
    main()
