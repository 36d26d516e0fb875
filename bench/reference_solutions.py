"""Every reference solution through its verifier: a check of the loaders, the references and the verifiers at once.

    python bench/reference_solutions.py [--data /work/shared/data] [--only gsm8k mbpp] [--workers 2] [--timeout-s 10]
                                        [--limit N]

Verification runs through `rlvr.verifiers.pool.VerifierPool` (worker processes, a hard timeout per call).

Completions built from the datasets' own solutions:
  - GSM8K, MATH-500: "The final answer is \\boxed{<gold>}." through the math verifier;
  - HumanEval: prompt + canonical_solution as one ```python block through the code verifier;
  - MBPP: the reference `code` as one ```python block through the code verifier.
A reference solution should always score `correct`; the script prints verdict counts per task and split, then every
other verdict with its rule and error, and exits 1 when any was not correct.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from rlvr.data.config import TaskConfig
from rlvr.data.problem import Problem
from rlvr.data.tasks import load_problems, task_verifier
from rlvr.data.templates import fenced


def boxed_gold(p: Problem) -> str:
    return f"The final answer is \\boxed{{{p.reference}}}."


def humaneval_solution(p: Problem) -> str:
    return fenced(p.reference["prompt_prefix"] + p.meta["canonical_solution"])


def mbpp_solution(p: Problem) -> str:
    return fenced(p.meta["code"])


COMPLETIONS: dict[str, Callable[[Problem], str]] = {
    "gsm8k": boxed_gold,
    "math500": boxed_gold,
    "humaneval": humaneval_solution,
    "mbpp": mbpp_solution,
}
# (task, split, source under --data)
RUNS = [
    ("gsm8k", "test", "gsm8k/test.jsonl"),
    ("gsm8k", "train", "gsm8k/train.jsonl"),
    ("math500", "test", "math500/test.jsonl"),
    ("humaneval", "test", "humaneval/HumanEval.jsonl.gz"),
    ("mbpp", "test", "mbpp/mbpp.jsonl"),
    ("mbpp", "train", "mbpp/mbpp.jsonl"),
    ("mbpp", "test", "mbpp/sanitized-mbpp.json"),
]


def run(task: str, split: str, source: str, pool, limit: int | None):
    """Verdicts of every reference solution of one task split: a list of (problem, verdict)."""
    from rlvr.verifiers.config import VerifierSpec

    problems = sorted(load_problems(TaskConfig(name=task, split=split, source=source, limit=limit)), key=_order)
    name = task_verifier(task)
    results = pool.map([(COMPLETIONS[task](p), p.reference, [VerifierSpec(name=name)]) for p in problems])
    return [(p, verdicts[name]) for p, (_, verdicts) in zip(problems, results)]


def _order(p: Problem):
    return (p.meta.get("task_id", 0), p.meta.get("index", 0), p.id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/work/shared/data", help="folder with gsm8k/, math500/, humaneval/, mbpp/")
    parser.add_argument("--only", nargs="*", choices=sorted(COMPLETIONS), help="tasks to run (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="verifier worker processes")
    parser.add_argument("--timeout-s", type=float, default=10.0, help="hard timeout per verification")
    parser.add_argument("--limit", type=int, default=None, help="at most this many problems per task split")
    args = parser.parse_args(argv)
    from rlvr.verifiers.pool import VerifierPool  # VERIFIERS["math" | "code"] run in worker processes, hard timeouts

    rows, failures = [], []
    with VerifierPool(workers=args.workers, timeout_s=args.timeout_s, cache=False) as pool:
        for task, split, rel in RUNS:
            if args.only and task not in args.only:
                continue
            start = time.perf_counter()
            results = run(task, split, str(Path(args.data) / rel), pool, args.limit)
            counts = Counter(v.status for _, v in results)
            rows.append((task, split, rel, len(results), counts, time.perf_counter() - start))
            failures += [(rel, p, v) for p, v in results if v.status != "correct"]
            print(f"{task}/{split} ({rel}): {len(results)} problems, {dict(counts)} in {rows[-1][-1]:.1f} s",
                  flush=True)

    statuses = ["correct", "wrong", "no_answer", "timeout", "error", "unsafe"]
    print("\n| task | split | file | problems | " + " | ".join(statuses) + " | seconds |")
    print("|---|---|---|---:|" + "---:|" * len(statuses) + "---:|")
    for task, split, rel, n, counts, secs in rows:
        cells = " | ".join(str(counts[s]) for s in statuses)
        print(f"| {task} | {split} | {rel} | {n} | {cells} | {secs:.1f} |")
    if failures:
        print(f"\n{len(failures)} reference solution(s) not judged correct:")
    for rel, p, v in failures:
        detail = {k: v.detail.get(k) for k in ("rule", "error", "test_line", "gold", "pred") if v.detail.get(k)}
        print(f"- {p.id} ({rel}) {v.status}: {str(detail)[:400]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
