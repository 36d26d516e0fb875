"""Is a code verdict the same on every run for a program whose threads end at times the scheduler decides?

    python bench/thread_verdicts.py [--runs 16]

A program starts 31 threads that each sleep a random 0..ms milliseconds and are never joined. With a limit on
threads alive at once (RLIMIT_NPROC alone, before issue 17's fix) whether the 17th start fails depended on how
many earlier threads had ended; with the count of starts (verifiers/sandbox_child.py) every run must agree.
Prints the (status, rule) counts per sleep length.
"""

from __future__ import annotations

import argparse
import collections

from rlvr.verifiers.code import CodeOptions, verify


def program(ms: int) -> str:
    return ("import threading, time, random\n"
            "def f():\n"
            "    for i in range(31):\n"
            f"        threading.Thread(target=time.sleep, args=(random.random() * {ms / 1000},)).start()\n"
            "    return 1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=16)
    args = parser.parse_args()
    print("| sleep per thread | verdicts (status/rule: runs) |\n|---|---|")
    for ms in (1, 2, 4, 8):
        counts = collections.Counter()
        for _ in range(args.runs):
            v = verify(f"```python\n{program(ms)}\n```", {"tests": "assert f() == 1"}, CodeOptions(timeout_s=5, cpu_s=5))
            counts[f"{v.status}/{v.detail.get('rule')}"] += 1
        print(f"| {ms} ms | {', '.join(f'{k}: {n}' for k, n in sorted(counts.items()))} |", flush=True)


if __name__ == "__main__":
    main()
