"""rlvr's GRPO step timed by wall clock AND by this process's CPU time, for A/B checks on a shared machine.

    python bench/step_time.py --steps 6                 # the rlvr side of bench/grpo_vs_trl.py (hf sampler)

Same run config as `bench/grpo_vs_trl.py --backends hf` (its `make_spec` and `rlvr_overrides`: the recipe, its
prompts, G, max tokens, micro-batch, seed). Wall time per step swings 2-3x when other processes load the 2 cores;
the CPU time this process spends per step (`time.process_time`: sampling, forward/backward and optimizer run
here, the verifier pool in its own processes is left out) barely moves, so two versions of the code compare
within a few percent. Prints the median over steps 2..N (the first step warms caches).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="OMP/MKL threads (grpo_vs_trl's default, 1)")
    args = parser.parse_args()
    os.environ.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false")
    sys.path.insert(0, str(REPO))
    from bench import grpo_vs_trl
    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.run_config import load_config

    defaults = argparse.Namespace(  # bench/grpo_vs_trl.py's defaults, full fine-tuning on CPU
        steps=args.steps, prompts=16, group=8, max_tokens=64, micro_batch=32, lr=5e-5, beta=0.0, seed=0, model=None,
        lora=False, profile=False, threads=args.threads, sampler_dtype="auto", shape=None, device="cpu",
        precision="fp32", reward="math",
    )
    spec = grpo_vs_trl.make_spec(defaults, "hf")
    cfg = load_config(grpo_vs_trl.RECIPE, grpo_vs_trl.rlvr_overrides(spec, tempfile.mkdtemp(prefix="rlvr-step-time-")))
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    wall, cpu = [], []
    try:
        for _ in range(args.steps):
            w, c = time.perf_counter(), time.process_time()
            trainer.run_step()
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
    finally:
        trainer.close()
    later = slice(1, None) if args.steps > 1 else slice(None)
    print(f"wall s/step median {statistics.median(wall[later]):.2f}  cpu s/step median {statistics.median(cpu[later]):.2f}")
    print(f"  wall {[round(x, 2) for x in wall]}\n  cpu  {[round(x, 2) for x in cpu]}")


if __name__ == "__main__":
    main()
