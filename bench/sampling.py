"""Sampling throughput and weight-sync cost: the vLLM backend against the HF backend.

Both backends get the same model, prompts, G and lengths: every completion is forced to exactly
`--tokens` tokens (`min_tokens == max_tokens`), so tokens/s compares like with like. Each
(model size, backend, mode) runs in a fresh process, so engines never share memory or threads:
- mode `full`: tokens/s with the base weights, then the cost of `sync_full` (all parameters);
- mode `lora`: the engine started with LoRA, the cost of `sync(peft_model)` (adapter extraction,
  hand-over, load), then tokens/s with the adapter active.
Random weights are fine for speed. Run (3-5 minutes on 2 idle CPU cores):

    python bench/sampling.py --out bench/RESULTS_sampling.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder leads sys.path and the file's name would shadow the `sampling` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

RESULT = "RESULT "
LORA_RANK = 16
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _problems(count: int):
    from rlvr.data.problem import Problem

    return [
        Problem(f"p{i}", "bench", [{"role": "user", "content": f"What is {i} + {2 * i + 1}? Think step by step."}], "")
        for i in range(count)
    ]


def _tokens_per_s(sampler, problems, group: int, tokens: int, repeats: int) -> tuple[float, float]:
    """(tokens per wall second, tokens per CPU second of this process): the second suffers less
    when other jobs share the cores."""
    from rlvr.sampling.config import SamplingParams

    params = SamplingParams(max_tokens=tokens, min_tokens=tokens, temperature=1.0, seed=0)
    sampler.generate(problems[:2], 2, params.model_copy(update={"max_tokens": 8, "min_tokens": 8}))  # warm-up
    rates = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        groups = sampler.generate(problems, group, params)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        produced = sum(len(c.token_ids) for g in groups for c in g.completions)
        assert produced == len(problems) * group * tokens, "lengths must be forced to be equal"
        rates.append((produced / elapsed, produced / cpu))
    return max(rates)


def _timed(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def worker(model_dir: str, backend: str, mode: str, prompts: int, group: int, tokens: int) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from rlvr.sampling.config import SamplerConfig
    from rlvr.sampling.factory import make_sampler

    cfg = SamplerConfig(backend=backend, gpu_memory_utilization=0.2, dtype="float32", max_model_len=512, hf_batch_size=64)
    start = time.perf_counter()
    sampler = make_sampler(cfg, model_dir, lora_rank=LORA_RANK if mode == "lora" else None)
    out = {"start_s": time.perf_counter() - start}
    problems = _problems(prompts)
    policy = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    out["params_m"] = sum(p.numel() for p in policy.parameters()) / 1e6

    def perturb(model):
        with torch.no_grad():
            for p in model.parameters():
                if p.requires_grad:
                    p.add_(torch.randn_like(p) * 1e-3)

    if mode == "full":
        out["tok_s"], out["tok_cpu_s"] = _tokens_per_s(sampler, problems, group, tokens, repeats=2)
        out["sync_ms"] = _timed(lambda: (perturb(policy), sampler.sync(policy)))
    else:
        peft = get_peft_model(policy, LoraConfig(r=LORA_RANK, lora_alpha=2 * LORA_RANK, target_modules=LORA_TARGETS))
        out["sync_ms"] = _timed(lambda: (perturb(peft), sampler.sync(peft)))
        out["tok_s"], out["tok_cpu_s"] = _tokens_per_s(sampler, problems, group, tokens, repeats=1)
    sampler.close()
    return out


def run_one(model_dir: Path, backend: str, mode: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", str(model_dir), backend, mode]
    cmd += ["--prompts", str(args.prompts), "--group", str(args.group), "--tokens", str(args.tokens)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[1])
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{backend}/{mode} on {model_dir.name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT) :])


def table(rows: list[dict]) -> str:
    head = (
        "| model | params | backend | tok/s base | tok/CPU-s base | tok/s with LoRA | full sync | LoRA sync | engine start |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    body = ""
    for r in rows:
        body += (
            f"| {r['size']} | {r['params_m']:.1f} M | {r['backend']} | {r['full_tok_s']:.0f} | {r['full_tok_cpu_s']:.0f} "
            f"| {r['lora_tok_s']:.0f} "
            f"| {r['full_sync_ms']:.0f} ms | {r['lora_sync_ms']:.0f} ms | {r['start_s']:.1f} s |\n"
        )
    ratios = "\n| model | vLLM / HF tok/s (base) | vLLM / HF tok/s (LoRA) | vLLM / HF full sync time | vLLM / HF LoRA sync time |\n"
    ratios += "|---|---|---|---|---|\n"
    for size in dict.fromkeys(r["size"] for r in rows):
        v, h = ({r["backend"]: r for r in rows if r["size"] == size}[b] for b in ("vllm", "hf"))
        ratios += (
            f"| {size} | {v['full_tok_s'] / h['full_tok_s']:.2f}x | {v['lora_tok_s'] / h['lora_tok_s']:.2f}x "
            f"| {v['full_sync_ms'] / h['full_sync_ms']:.2f}x | {v['lora_sync_ms'] / h['lora_sync_ms']:.2f}x |\n"
        )
    return head + body + ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, metavar=("MODEL_DIR", "BACKEND", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="tiny,small", help="rlvr.trainers.tiny_model sizes to build")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--group", type=int, default=8, help="G: completions per prompt")
    parser.add_argument("--tokens", type=int, default=32, help="completion length (forced)")
    parser.add_argument("--out", type=Path, default=None, help="write the table and the command here (markdown)")
    args = parser.parse_args()
    if args.worker:
        print(RESULT + json.dumps(worker(*args.worker, args.prompts, args.group, args.tokens)), flush=True)
        return

    from rlvr.trainers.tiny_model import build_tiny_model

    rows, loads = [], [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="rlvr-bench-") as tmp:
        for size in args.sizes.split(","):
            model_dir = build_tiny_model(Path(tmp) / size, seed=0, size=size)
            for backend in ("vllm", "hf"):
                full = run_one(model_dir, backend, "full", args)
                lora = run_one(model_dir, backend, "lora", args)
                rows.append(
                    {"size": size, "backend": backend, "params_m": full["params_m"], "start_s": full["start_s"],
                     "full_tok_s": full["tok_s"], "full_tok_cpu_s": full["tok_cpu_s"], "full_sync_ms": full["sync_ms"],
                     "lora_tok_s": lora["tok_s"], "lora_sync_ms": lora["sync_ms"]}
                )
                loads.append(os.getloadavg()[0])
                print(f"{size:>6} {backend:>5}: {full['tok_s']:.0f} tok/s, full sync {full['sync_ms']:.0f} ms, "
                      f"LoRA sync {lora['sync_ms']:.0f} ms", flush=True)
    result = table(rows)
    result += f"\n1-minute load average on the machine during the run: {min(loads):.1f} to {max(loads):.1f} "
    result += f"({os.cpu_count()} CPUs; other jobs share them, so compare rows of one run only).\n"
    print(result)
    if args.out:
        command = "python bench/sampling.py " + " ".join(sys.argv[1:])
        setup = f"{args.prompts} prompts x G={args.group}, {args.tokens} tokens each (forced), temperature 1, fp32"
        args.out.write_text(
            f"# Sampling backends: throughput and weight-sync cost\n\n`{command}`\n\n{setup}. "
            f"Median of 3 syncs; generate: best of 2 runs (base) or 1 run (LoRA) after a warm-up.\n\n{result}"
        )


if __name__ == "__main__":
    main()
