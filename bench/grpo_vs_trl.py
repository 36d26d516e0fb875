"""rlvr's GRPO against TRL's `GRPOTrainer` on identical work (issue #8).

Both sides train the same tiny bootstrapped model on the same `arith` prompts in the same order (rlvr's data
order, handed to TRL as an unshuffled dataset), with the same G, prompts per step, max completion length,
learning rate, beta, epsilon, seed, number of steps, reward (rlvr's `math` verifier; TRL calls it as a reward
function) and the same sampling backend: vLLM colocated in the trainer's process, or transformers `generate`.
How TRL's knobs are set to mean what rlvr's do is listed in `bench/trl_side.py`.

Every (side, backend[, LoRA]) runs in its own subprocess, one after another, so peak RSS is each side's own
and the two never share the 2 CPU cores. Per configuration the table gives the median seconds per optimizer step
(all steps, and without the first), completion tokens/s, peak RSS, start-up time and the accuracy curve;
then the rlvr/TRL ratios.

    python bench/grpo_vs_trl.py                              # vllm and hf, full fine-tuning, 10 steps
    python bench/grpo_vs_trl.py --steps 3 --backends hf      # quick look
    python bench/grpo_vs_trl.py --lora --out bench/RESULTS_trl.md

On a GPU, at a real size, with a reward a random model can earn (issue 15; scripts/gpu_check.sh runs this):

    python bench/grpo_vs_trl.py --device cuda --shape 181m --reward coin --precision bf16_mixed --backends hf \
        --prompts 32 --group 8 --max-tokens 128 --micro-batch 32 --steps 6

`--shape` builds a random-init Qwen2 of that shape with the tiny tokenizer (bench/model_shape.py); `--reward coin`
scores every completion by a hash of its text (bench/coin_reward.py, loaded by rlvr as the import-path verifier
`bench.coin_reward:score` and called by TRL as its reward function), so advantages are non-zero; `--precision`
is the same on both sides (bf16_mixed = rlvr's model.autocast=bfloat16 with fp32 weights = TRL's bf16=True; bf16 =
bf16 weights on both). Nothing here needs prefect or vllm when `--backends hf`.
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

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "arith_grpo.yaml"
SIDES = ["rlvr", "trl", "trl+reload", "rlvr+eager-logprobs", "rlvr+merged-sync"]


PRECISION = {  # rlvr's model settings per --precision; TRL's are in bench/trl_side.py:grpo_args
    "fp32": ["model.dtype=float32", "model.autocast=off"],
    "bf16_mixed": ["model.dtype=float32", "model.autocast=bfloat16"],
    "bf16": ["model.dtype=bfloat16", "model.autocast=off"],
}
REWARDS = {"math": None, "coin": "bench.coin_reward:score"}  # None: the task's own verifier


# ---- the rlvr side --------------------------------------------------------------------------------
def rlvr_overrides(spec: dict, run_dir: str) -> list[str]:
    o = [
        f"model.path={spec['model_path']}", f"task.level={spec['task']['level']}", f"sampler.backend={spec['backend']}",
        f"sampler.gpu_memory_utilization={spec['gpu_memory_utilization']}", f"sampler.max_model_len={spec['max_model_len']}",
        f"sampler.dtype={spec['sampler_dtype'] if spec['backend'] == 'vllm' else 'auto'}",
        f"sampler.params.temperature={spec['temperature']}", f"sampler.params.top_p={spec['top_p']}",
        "sampler.params.top_k=-1", f"sampler.params.max_tokens={spec['max_tokens']}",
        f"train.steps={spec['steps']}", f"train.prompts_per_step={spec['prompts']}", f"train.seed={spec['seed']}",
        f"train.grpo.group_size={spec['group']}", "train.grpo.loss_aggregation=dapo", "train.grpo.scale=group",
        "train.grpo.zero_variance=keep", "train.grpo.num_iterations=1", f"train.grpo.beta={spec['beta']}",
        f"train.grpo.epsilon_low={spec['epsilon']}", f"train.grpo.epsilon_high={spec['epsilon']}",
        f"train.grpo.mask_truncated={spec['mask_truncated']}", f"train.optim.lr={spec['lr']}",
        f"train.grpo.sampler_correction={spec['sampler_correction'] if spec['backend'] == 'vllm' else 'off'}",
        "train.optim.warmup_steps=0", "train.optim.weight_decay=0.0", "train.optim.max_grad_norm=1.0",
        f"train.optim.micro_batch_size={spec['micro_batch']}", f"train.checkpoint.dir={run_dir}",
        f"train.checkpoint.every={spec['steps'] + 1}",
        f"model.device={spec.get('device', 'cpu')}", *PRECISION[spec.get("precision", "fp32")],
    ]
    if REWARDS[spec.get("reward", "math")]:
        o.append(f"verify.verifiers=[{{name: '{REWARDS[spec['reward']]}'}}]")
    if spec["backend"] == "hf":  # the step's P x G rows decoded together, as TRL generates its whole batch at once
        o.append(f"sampler.hf_batch_size={spec['prompts'] * spec['group']}")
        o.append(f"sampler.hf_decode={spec.get('hf_decode', 'auto')}")
    if spec["lora"]:
        o += [f"model.lora.r={spec['lora_r']}", f"model.lora.alpha={spec['lora_alpha']}"]
    return o


def merged_lora_sampler(cfg):
    """Proposal check (`rlvr+merged-sync`): under LoRA, sync the MERGED weights into a plain engine (no LoRA in
    vLLM, no adapter files) instead of the adapter; sampling runs at full-weight speed."""
    from rlvr.sampling.factory import make_sampler
    from rlvr.trainers.bootstrap import resolve_model_path

    sampler = make_sampler(cfg.sampler, resolve_model_path(cfg.model.path, log=lambda _m: None), lora_rank=None)

    def sync(model):  # model: the PEFT model; merge scale * B @ A into the base weights, send them in place
        from rlvr.trainers.policy import _merged_state_dict

        sampler.sync_full(_merged_state_dict(model).items())

    sampler.sync = sync
    return sampler


def run_rlvr(spec: dict) -> dict:
    t0 = time.perf_counter()
    from rlvr.trainers.run_config import load_config
    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.metrics import peak_rss_mb

    cfg = load_config(RECIPE, rlvr_overrides(spec, tempfile.mkdtemp(prefix="rlvr-bench-rlvr-")))
    merged = spec["variant"] == "rlvr+merged-sync" and spec["lora"]
    sampler = merged_lora_sampler(cfg) if merged else None
    trainer = Trainer(cfg, sampler=sampler, resume=False, log=lambda _m: None)
    if merged:
        trainer._owns_sampler = True
    startup_s = time.perf_counter() - t0
    profile = spec.get("profile", False)
    rows, phases = [], []
    try:
        for _ in range(spec["steps"]):  # run_step, not train(): no checkpoint writes inside the timed steps
            if profile:
                from bench.step_profile import StepProfiler

                with StepProfiler(trainer) as prof:
                    rows.append(trainer.run_step())
                phases.append(prof.phases)
            else:
                rows.append(trainer.run_step())
            rows[-1]["problem_ids"] = list(dict.fromkeys(g.problem.id for g in trainer.last_groups))
    finally:
        trainer.close()
    return {
        "side": spec["variant"], "backend": spec["backend"], "lora": spec["lora"], "startup_s": startup_s,
        "step_time_s": [r["step_time_s"] for r in rows], "rollout_time_s": [r["rollout_time_s"] for r in rows],
        "tokens": [r["generated_tokens"] for r in rows], "accuracy": [r["accuracy"] for r in rows],
        "reward_mean": [r["reward_mean"] for r in rows], "loss": [r["loss"] for r in rows],
        "problem_ids": [r["problem_ids"] for r in rows], "peak_rss_mb": peak_rss_mb(), "phases": phases,
        "peak_gpu_mb": peak_gpu_mb(), "peak_gpu_reserved_mb": peak_gpu_mb(reserved=True),
    }


def peak_gpu_mb(reserved: bool = False) -> float | None:
    """Peak GPU memory of this process (None on CPU), the same measures on both sides: what torch allocated, or
    (`reserved`) what its caching allocator held from the driver -- which also counts cached free blocks and
    private pools such as the CUDA-graph decode's, memory the rest of the step cannot use."""
    import torch

    if not torch.cuda.is_available():
        return None
    return (torch.cuda.max_memory_reserved() if reserved else torch.cuda.max_memory_allocated()) / 2**20


# ---- the parent -----------------------------------------------------------------------------------
def make_spec(args, backend: str) -> dict:
    from rlvr.data.config import TaskConfig
    from rlvr.data.tasks import load_problems
    from rlvr.trainers.bootstrap import resolve_model_path
    from rlvr.trainers.data_order import batch_indices

    from rlvr.trainers.run_config import load_config

    task = {"name": "arith", "level": load_config(RECIPE).task.level, "split": "train"}  # the recipe's level
    count = len(load_problems(TaskConfig(**task)))
    order = [batch_indices(count, s * args.prompts, args.prompts, args.seed) for s in range(args.steps)]
    if args.shape:
        from bench.model_shape import build_shape_model

        slug = "".join(c if c.isalnum() else "-" for c in args.shape)
        model_path = str(build_shape_model(args.shape, REPO / ".cache" / "bench-shapes" / slug, seed=args.seed))
    else:
        model_path = args.model or str(resolve_model_path("tiny", log=lambda _m: None))
    return {
        "model_path": model_path, "task": task, "order": order,
        "device": args.device, "precision": args.precision, "reward": args.reward,
        "backend": backend, "lora": args.lora, "lora_r": 16, "lora_alpha": 32, "steps": args.steps,
        "prompts": args.prompts, "group": args.group, "max_tokens": args.max_tokens, "micro_batch": args.micro_batch,
        "lr": args.lr, "beta": args.beta, "epsilon": 0.2, "seed": args.seed, "temperature": 1.0, "top_p": 1.0,
        "mask_truncated": False, "gpu_memory_utilization": 0.15, "max_model_len": 1024, "profile": args.profile,
        "threads": args.threads, "sampler_dtype": args.sampler_dtype, "sampler_correction": args.sampler_correction,
        "hf_decode": getattr(args, "hf_decode", "auto"),
    }


def run_worker(side: str, spec: dict, timeout_s: float) -> dict:
    spec = dict(spec, trl_sync="reload" if side == "trl+reload" else "stock", variant=side)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
    cmd = [sys.executable, "-m", "bench.trl_side", fh.name] if side.startswith("trl") else \
        [sys.executable, "-m", "bench.grpo_vs_trl", "--worker", fh.name]
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))  # keep the caller's (GPU: wheels)
    env = dict(os.environ, VLLM_ENABLE_V1_MULTIPROCESSING="0", PYTHONPATH=path, TOKENIZERS_PARALLELISM="false")
    if side == "rlvr+eager-logprobs":  # proposal check: no torch.compile of vLLM's logprob-rank op (first-step cost)
        env["TORCHDYNAMO_DISABLE"] = "1"
    if spec["threads"]:  # the same intra-op thread count on both sides (see --threads)
        env.update(OMP_NUM_THREADS=str(spec["threads"]), MKL_NUM_THREADS=str(spec["threads"]))
    started = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:  # a row that says so; the other side still runs
        return {"side": side, "backend": spec["backend"], "lora": spec["lora"],
                "error": f"{side} did not finish within --timeout {timeout_s:.0f} s"}
    for said in (l for l in out.stderr.splitlines() if "rlvr: " in l):  # e.g. a CUDA graph capture that failed
        print(f"  [{side}] {said.strip()}", flush=True)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        return {"side": side, "backend": spec["backend"], "lora": spec["lora"], "error": (out.stdout[-2000:] + "\n" + out.stderr[-4000:]).strip()}
    result = json.loads(line[len("RESULT "):])
    result["wall_s"] = time.perf_counter() - started
    result["order_ok"] = result["problem_ids"] == [[f"arith-L{spec['task']['level']}-train-{i}" for i in step] for step in spec["order"]]
    return result


def summary(r: dict) -> dict:
    steps = r["step_time_s"]
    later = steps[1:] or steps
    return {
        "median_s": statistics.median(steps), "median_after_first_s": statistics.median(later), "first_s": steps[0],
        "tokens_per_s": sum(r["tokens"]) / sum(steps), "rss_mb": r["peak_rss_mb"], "startup_s": r["startup_s"],
        "rollout_median_s": statistics.median(r["rollout_time_s"]),
        "gpu_mb": r.get("peak_gpu_mb") or float("nan"), "gpu_reserved_mb": r.get("peak_gpu_reserved_mb") or float("nan"),
    }


def table(results: list[dict]) -> str:
    lines = [
        "| side | backend | tuning | s/step median | s/step median (steps 2+) | first step s | rollout s median "
        "| tokens/s | peak RSS MB | peak GPU MB (reserved) | start-up s | order ok | accuracy per step |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        tuning = "LoRA" if r.get("lora") else "full"
        if "error" in r:
            lines.append(f"| {r['side']} | {r['backend']} | {tuning} | failed: {r['error'].splitlines()[-1][:150]} |")
            continue
        s = summary(r)
        acc = " ".join(f"{a:.2f}" for a in r["accuracy"])
        lines.append(
            f"| {r['side']} | {r['backend']} | {tuning} | {s['median_s']:.2f} | {s['median_after_first_s']:.2f} "
            f"| {s['first_s']:.1f} | {s['rollout_median_s']:.2f} | {s['tokens_per_s']:.0f} | {s['rss_mb']:.0f} "
            f"| {s['gpu_mb']:.0f} ({s['gpu_reserved_mb']:.0f}) | {s['startup_s']:.1f} | {r['order_ok']} | {acc} |"
        )
    return "\n".join(lines)


def ratios(results: list[dict]) -> str:
    out = ["| backend | tuning | rlvr | TRL | s/step rlvr/TRL (median) | (steps 2+) | tokens/s rlvr/TRL | RSS rlvr/TRL "
           "| GPU mem rlvr/TRL (reserved) | mean accuracy rlvr / TRL |", "|---|---|---|---|---:|---:|---:|---:|---:|---|"]
    ok = [r for r in results if "error" not in r]
    pairs = [(r, t) for r in ok if r["side"].startswith("rlvr") for t in ok
             if t["side"].startswith("trl") and (t["backend"], t["lora"]) == (r["backend"], r["lora"])]
    for r, t in pairs:
        backend, lora = r["backend"], r["lora"]
        a, b = summary(r), summary(t)
        acc_r, acc_t = statistics.mean(r["accuracy"]), statistics.mean(t["accuracy"])
        out.append(
            f"| {backend} | {'LoRA' if lora else 'full'} | {r['side']} | {t['side']} | {a['median_s'] / b['median_s']:.2f} "
            f"| {a['median_after_first_s'] / b['median_after_first_s']:.2f} | {a['tokens_per_s'] / b['tokens_per_s']:.2f} "
            f"| {a['rss_mb'] / b['rss_mb']:.2f} | {a['gpu_mb'] / b['gpu_mb']:.2f} ({a['gpu_reserved_mb'] / b['gpu_reserved_mb']:.2f}) "
            f"| {acc_r:.3f} / {acc_t:.3f} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--sides", nargs="+", default=["rlvr", "trl"], choices=SIDES,
                        help="rlvr+eager-logprobs / rlvr+merged-sync: rlvr with a proposed change (see the report); "
                        "trl+reload: TRL with its colocated vLLM sync replaced by vLLM's reload_weights "
                        "(stock TRL cannot sync weights into vLLM on CPU; see bench/trl_side.py:reload_sync)")
    parser.add_argument("--repeats", type=int, default=1, help="run every configuration this many times, interleaved")
    parser.add_argument("--backends", nargs="+", default=["vllm", "hf"], choices=["vllm", "hf"])
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter (r=16, alpha=32) instead of all weights")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--prompts", type=int, default=16, help="prompts per optimizer step")
    parser.add_argument("--group", type=int, default=8, help="G: completions per prompt")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--micro-batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--beta", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="model dir (default: the tiny bootstrapped model)")
    parser.add_argument("--shape", help="instead of --model: a random-init Qwen2 of this shape with the tiny tokenizer "
                        "(181m, tiny, micro, or 'hidden=..,layers=..,heads=..,kv=..,inter=..'; bench/model_shape.py)")
    parser.add_argument("--device", default="cpu", help="training device on both sides (cpu, cuda)")
    parser.add_argument("--precision", default="fp32", choices=sorted(PRECISION),
                        help="the same on both sides: fp32, bf16_mixed (fp32 weights, bf16 autocast; TRL bf16=True), bf16")
    parser.add_argument("--reward", default="math", choices=sorted(REWARDS),
                        help="math: the task's verifier; coin: a hash-of-text coin a random model can earn")
    parser.add_argument("--profile", action="store_true", help="rlvr side: per-phase timings (bench/step_profile.py)")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP_NUM_THREADS for both sides (0 = unset). 1 by default: on a shared, loaded 2-core machine "
                        "2-thread OpenMP regions stall on descheduled threads (a 32x256x768 matmul: 18 ms vs 0.3 ms)")
    parser.add_argument("--hf-decode", default="auto", choices=["auto", "static", "dynamic"],
                        help="rlvr's hf decode loop (sampler.hf_decode)")
    parser.add_argument("--sampler-dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                        help="vLLM's dtype on both sides. auto (default) is what TRL always runs (it passes none): on a "
                        "CPU with bf16 instructions vLLM then samples the float32 model in bfloat16. rlvr's recipes pin "
                        "float32 (on-policy samples for the float32 trainer); TRL gets it by a patched LLM(dtype=...)")
    parser.add_argument("--sampler-correction", default="off",
                        choices=["off", "token_truncate", "token_mask", "sequence_truncate", "sequence_mask"],
                        help="vLLM rows: the sampler-mismatch IS correction on both sides, cap 3 (rlvr "
                        "grpo.sampler_correction; TRL vllm_importance_sampling_correction + _mode)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per-worker timeout, seconds")
    parser.add_argument("--json", help="also write all raw results here")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))  # `bench.*` as the workers see it (they run with PYTHONPATH=REPO)
    if args.worker:
        print("RESULT " + json.dumps(run_rlvr(json.loads(Path(args.worker).read_text()))), flush=True)
        os._exit(0)  # results are out; skip interpreter teardown of vLLM / torch.distributed
    results = []
    for backend in args.backends:
        spec = make_spec(args, backend)
        for repeat in range(args.repeats):
            for side in args.sides:
                if side in ("trl+reload", "rlvr+eager-logprobs") and backend != "vllm" or \
                        side == "rlvr+merged-sync" and not (args.lora and backend == "vllm"):
                    continue
                print(f"running {side} / {backend} ({'LoRA' if args.lora else 'full'}) #{repeat + 1} ...", flush=True)
                results.append(run_worker(side, spec, args.timeout))
                results[-1]["load_avg"] = os.getloadavg()[0]
                if "error" in results[-1]:
                    print(results[-1]["error"][-3000:], flush=True)
                if args.json:  # after every side: a run cut short keeps the rows it has
                    Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"\nload average at the end: {os.getloadavg()}\n")
    print(table(results) + "\n")
    print(ratios(results))
    for r in results:
        for i, p in enumerate(r.get("phases") or []):
            print(f"{r['side']} {r['backend']} step {i + 1} phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in p.items()))


if __name__ == "__main__":
    main()
