"""Does RL lift held-out accuracy? GRPO, DPO and PPO on the tiny model and `arith`, with the same budget.

Each algorithm trains in its own process from the same warm-started model, with the same steps, the same number of
sampled completions per step (128), learning rate and evaluation; held-out pass@1 (T=1, n samples) and greedy
accuracy are measured before and after with `rlvr.flows.eval_report.evaluate_model`.

    python bench/learning.py                      # all three, defaults below
    python bench/learning.py --steps 40 --algorithms grpo
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = {"grpo": "configs/arith_grpo.yaml", "dpo": "configs/arith_dpo.yaml", "ppo": "configs/arith_ppo.yaml"}


def run_one(algorithm: str, overrides: list[str]) -> dict:
    from rlvr.trainers.run_config import load_config
    from rlvr.flows.eval_report import evaluate_model
    from rlvr.trainers.loop import Trainer

    cfg = load_config(REPO / RECIPES[algorithm], overrides)
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    try:
        before = evaluate_model(trainer.sampler, trainer.pool, cfg, "before", log=lambda _m: None)
        started = time.perf_counter()
        rows = trainer.train()
        train_s = time.perf_counter() - started
        after = evaluate_model(trainer.sampler, trainer.pool, cfg, "after", step=trainer.step, log=lambda _m: None)
    finally:
        trainer.close()
    suite = next(iter(before["suites"]))
    return {
        "algorithm": algorithm, "suite": suite, "steps": len(rows), "train_s": train_s,
        "before": before["suites"][suite], "after": after["suites"][suite],
        "train_accuracy": [r["accuracy"] for r in rows],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithms", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps (the recipes' 60)")
    parser.add_argument("--run-root", default="/tmp/rlvr-bench-learning")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="extra dotted overrides for every algorithm")
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(run_one(args.worker, args.overrides)), flush=True)
        return
    results = []
    for algorithm in args.algorithms:
        overrides = [f"train.steps={args.steps}", f"train.checkpoint.dir={args.run_root}/{algorithm}-{int(time.time())}",
                     f"train.checkpoint.every={args.steps}", *args.overrides]
        out = subprocess.run([sys.executable, __file__, "--worker", algorithm, *overrides], capture_output=True, text=True, cwd=REPO)
        line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            print(f"{algorithm} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
            continue
        results.append(json.loads(line[len("RESULT "):]))
    print("\n| algorithm | steps | train s | pass@1 before → after | greedy before → after | suite |")
    print("|---|---:|---:|---|---|---|")
    for r in results:
        b, a = r["before"], r["after"]
        print(f"| {r['algorithm']} | {r['steps']} | {r['train_s']:.0f} | {b['pass@1']:.3f} → {a['pass@1']:.3f} "
              f"| {b['greedy_accuracy']:.3f} → {a['greedy_accuracy']:.3f} | {r['suite']} |")


if __name__ == "__main__":
    main()
