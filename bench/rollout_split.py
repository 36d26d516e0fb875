"""Where an rlvr GRPO step's time goes inside a real Trainer: phases, the hf decode loop's share of `generate`,
and a Python profile (cProfile) of one rollout. The same model, batch and precision as bench/grpo_vs_trl.py.

    python bench/rollout_split.py --device cuda --shape 181m --prompts 32 --group 8 --max-tokens 128 \\
        --precision bf16_mixed --reward coin --micro-batch 32 --out /tmp/split      # the issue-15 shape on a GPU
    python bench/rollout_split.py --shape micro --prompts 4 --group 4 --max-tokens 16 --reward coin   # a dry run

Why: on an H200 the decode loop alone (bench/gpu_profile.py) took 2.8 s for 256 rows x 128 tokens while the
Trainer's rollout of the same batch took 8-12 s; this says where the rest goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="the last one is run under cProfile")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--micro-batch", type=int, default=32)
    parser.add_argument("--shape", default="micro")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="bf16_mixed")
    parser.add_argument("--reward", default="coin")
    parser.add_argument("--hf-decode", default="auto", choices=["auto", "static", "dynamic"],
                        help="the sampler's decode loop (sampler.hf_decode)")
    parser.add_argument("--sync-debug", action="store_true",
                        help="CUDA only: one more step under torch.cuda.set_sync_debug_mode('warn'); prints where the "
                             "host waited for the device, by source line (expected: one per decoded token, a few per "
                             "update)")
    parser.add_argument("--out", help="write the profile here too")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from bench.grpo_vs_trl import RECIPE, make_spec, rlvr_overrides
    from bench.step_profile import StepProfiler

    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.run_config import load_config

    extra = dict(model=None, lora=False, lr=3e-5, beta=0.0, seed=0, profile=False, threads=0, sampler_dtype="auto",
                 sampler_correction="off")
    spec = make_spec(argparse.Namespace(**vars(args), **extra), "hf")
    spec.update(variant="rlvr", trl_sync="stock")
    trainer = Trainer(load_config(RECIPE, rlvr_overrides(spec, tempfile.mkdtemp(prefix="rlvr-split-"))),
                      resume=False, log=lambda _m: None)
    decode_s = [0.0]
    original = trainer.sampler.decode  # the loop sampler.hf_decode chose
    decode_profiler: list = [None]  # set for the last step: the decode runs on the sampler's engine thread

    def timed_decode(*a, **k):
        started = time.perf_counter()
        if decode_profiler[0]:
            decode_profiler[0].enable()  # cProfile follows the thread that enables it
        try:
            return original(*a, **k)
        finally:
            if decode_profiler[0]:
                decode_profiler[0].disable()
            decode_s[0] += time.perf_counter() - started

    trainer.sampler.decode = timed_decode
    lines = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"decode loop: {original.__name__}")
    try:
        for step in range(args.steps):
            decode_s[0] = 0.0
            last = step == args.steps - 1
            # only the decode loop is profiled: from Python 3.12 one cProfile at a time covers every thread
            decode_profiler[0] = cProfile.Profile() if last else None
            started = time.perf_counter()
            with StepProfiler(trainer) as prof:
                row = trainer.run_step()
            wall = time.perf_counter() - started
            phases = " ".join(f"{k} {v:.2f}" for k, v in sorted(prof.phases.items(), key=lambda kv: -kv[1]))
            say(f"step {step + 1}{' (under cProfile)' if last else ''}: wall {wall:.2f} s, rollout "
                f"{row['rollout_time_s']:.2f}, decode loop {decode_s[0]:.2f}, tokens {row['generated_tokens']}; {phases}")
        if args.sync_debug:
            for line in sync_report(trainer, args.device):
                say(line)
        for key, top in (("tottime", 30), ("cumulative", 25)):
            buf = io.StringIO()
            pstats.Stats(decode_profiler[0], stream=buf).sort_stats(key).print_stats(top)
            say(f"\n## cProfile of the last step: the decode loop (engine thread), by {key}\n" + buf.getvalue())
    finally:
        trainer.close()
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "rollout_split.txt").write_text("\n".join(lines) + "\n")


def sync_report(trainer, device: str) -> list[str]:
    """One more training step with torch's sync debug mode on: each host<->device synchronisation (an `.item()`,
    a `.tolist()`, a blocking copy, a data-dependent shape) raises a warning, counted here by the line of rlvr's
    (or the library's) code that caused it. The decode runs on the sampler's engine thread: the mode is global
    and `catch_warnings` records every thread's warnings."""
    import warnings
    from collections import Counter

    import torch

    if not device.startswith("cuda"):
        return [f"syncs: not measured on {device} (torch's sync debug mode watches CUDA only)"]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            row = trainer.run_step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    places = Counter(f"{Path(w.filename).name}:{w.lineno}" for w in caught if "synchroniz" in str(w.message))
    tokens = row["generated_tokens"] / max(1, trainer.cfg.train.prompts_per_step * trainer.cfg.train.grpo.group_size)
    lines = [f"syncs in one step: {sum(places.values())} ({tokens:.0f} tokens per row on average); by place:"]
    lines += [f"syncs   {count:6d}  {place}" for place, count in places.most_common(15)]
    return lines


if __name__ == "__main__":
    main()
