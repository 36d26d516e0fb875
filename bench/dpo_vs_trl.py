"""rlvr's offline DPO against TRL's `DPOTrainer` on the same preference pairs, side by side.

Both sides train the same tiny bootstrapped model (full fine-tuning or `--lora`, float32, CPU unless `--device`) on the same
pairs in the same order, with the same pairs per optimizer step, micro-batch, learning rate, beta and loss:
- pairs: `arith` training problems; chosen = the problem's worked solution, rejected = the same text with a wrong
  final `\\boxed{}`; the prompt is the chat-templated text, so both sides see identical prompt tokens (TRL's
  standard format: it appends the EOS text to each completion, as rlvr appends the EOS id);
- rlvr: `train.algorithm=dpo` with `train.dpo.pairs_path` (nothing sampled), `Trainer.run_step` per step; TRL:
  `DPOConfig(per_device_train_batch_size=micro, gradient_accumulation_steps=pairs/micro,
  train_sampling_strategy="sequential")` on the pairs in rlvr's data order (`batch_indices`), constant LR,
  no warm-up, no weight decay, max_grad_norm 1, a frozen reference (a copy, or under LoRA the adapter disabled)
  whose log-probs each step computes;
- each pair is seen once (steps x pairs-per-step rows), so rlvr's reference cache saves nothing here.
Each side runs in its own subprocess, one after the other, so the peak RSS is its own. The table gives the
median seconds per optimizer step (without the first), the first step and the start-up (model load, TRL's
dataset tokenisation) apart, peak RSS, the tokens trained on per step (a check that
both sides see the same sequences), and the loss of the first and last step: at the first step the policy is
its reference, so both must print ln 2 = 0.6931.

    python bench/dpo_vs_trl.py                      # 8 steps x 32 pairs, micro-batch 8
    python bench/dpo_vs_trl.py --steps 4 --pairs 16 --level 2
    python bench/dpo_vs_trl.py --lora               # LoRA r 16 on the 7 projections, on both sides
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
RECIPE = REPO / "configs" / "arith_dpo.yaml"


def build_pairs(model_path: str, level: int, count: int, seed: int) -> list[dict]:
    """`count` pairs in rlvr's data order for a file of exactly those pairs (so the order is the same on both sides)."""
    from transformers import AutoTokenizer

    from rlvr.data.config import TaskConfig
    from rlvr.data.tasks import load_problems

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    rows = []
    for problem in load_problems(TaskConfig(name="arith", level=level, split="train"))[:count]:
        solution = problem.meta["solution"]
        wrong = solution[: solution.rindex("\\boxed{")] + f"\\boxed{{{int(problem.reference) + 1}}}"
        prompt = tokenizer.apply_chat_template(problem.prompt, add_generation_prompt=True, tokenize=False)
        rows.append({"prompt": prompt, "chosen": solution, "rejected": wrong})
    return rows


# ---- the two sides (each in its own process) -------------------------------------------------------------
def run_rlvr(spec: dict) -> dict:
    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.metrics import peak_rss_mb
    from rlvr.trainers.run_config import load_config

    t0 = time.perf_counter()
    overrides = [
        f"model.path={spec['model_path']}", "model.dtype=float32", f"model.device={spec['device']}",
        "sampler.backend=hf", f"train.dpo.pairs_path={spec['pairs_path']}", f"train.dpo.beta={spec['beta']}",
        "train.dpo.loss_type=sigmoid", f"train.steps={spec['steps']}", f"train.prompts_per_step={spec['pairs']}",
        f"train.seed={spec['seed']}", f"train.optim.lr={spec['lr']}", "train.optim.warmup_steps=0",
        "train.optim.weight_decay=0.0", "train.optim.max_grad_norm=1.0",
        f"train.optim.micro_batch_size={spec['micro_batch']}", f"train.checkpoint.dir={tempfile.mkdtemp()}",
        f"train.checkpoint.every={spec['steps'] + 1}",
    ]
    if spec["lora"]:  # rlvr's default targets: the 7 projections; the reference is the adapter-disabled model
        overrides += ["model.lora.r=16", "model.lora.alpha=32"]
    trainer = Trainer(load_config(RECIPE, overrides), resume=False, log=lambda _m: None)
    startup_s = time.perf_counter() - t0
    try:
        rows = [trainer.run_step() for _ in range(spec["steps"])]
        tokens = sum(len(c) + len(r) for _, c, r in trainer.algorithm._file_pairs) / spec["steps"]
    finally:
        trainer.close()
    return {"step_time_s": [r["step_time_s"] for r in rows], "loss": [r["loss"] for r in rows],
            "tokens_per_step": tokens, "peak_rss_mb": peak_rss_mb(), "startup_s": startup_s}


def run_trl(spec: dict) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from rlvr.trainers.metrics import peak_rss_mb

    t0 = time.perf_counter()
    rows = [json.loads(line) for line in Path(spec["pairs_path"]).read_text().splitlines()]
    ordered = [rows[i] for i in spec["order"]]
    model = AutoModelForCausalLM.from_pretrained(spec["model_path"], dtype=torch.float32)
    args = DPOConfig(
        output_dir=tempfile.mkdtemp(), max_steps=spec["steps"], per_device_train_batch_size=spec["micro_batch"],
        gradient_accumulation_steps=spec["pairs"] // spec["micro_batch"], learning_rate=spec["lr"],
        lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, beta=spec["beta"],
        loss_type=["sigmoid"], max_length=None, train_sampling_strategy="sequential", seed=spec["seed"],
        use_cpu=spec["device"] == "cpu", bf16=False, report_to=[], save_strategy="no", logging_steps=1,
        dataloader_num_workers=0, disable_tqdm=True,
    )
    peft_config = None
    if spec["lora"]:  # what rlvr's model.lora means: r 16, alpha 32, no dropout, the 7 projections
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    times, losses = [], []

    class Clock(TrainerCallback):
        def on_step_begin(self, *_a, **_k):
            self.start = time.perf_counter()

        def on_step_end(self, *_a, **_k):
            times.append(time.perf_counter() - self.start)

        def on_log(self, _args, _state, _control, logs=None, **_k):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(ordered),
                         processing_class=AutoTokenizer.from_pretrained(spec["model_path"]), callbacks=[Clock()],
                         peft_config=peft_config)
    data = trainer.train_dataset
    tokens = sum(len(c) + len(r) for c, r in zip(data["chosen_ids"], data["rejected_ids"])) / spec["steps"] \
        if "chosen_ids" in data.column_names else None
    startup_s = time.perf_counter() - t0
    trainer.train()
    return {"step_time_s": times, "loss": losses, "tokens_per_step": tokens, "peak_rss_mb": peak_rss_mb(),
            "startup_s": startup_s}


# ---- the parent ----------------------------------------------------------------------------------------
def run_worker(side: str, spec: dict, timeout_s: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               TOKENIZERS_PARALLELISM="false")
    try:
        out = subprocess.run([sys.executable, "-m", "bench.dpo_vs_trl", "--worker", side, fh.name], capture_output=True,
                             text=True, cwd=REPO, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout_s:.0f} s"}
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}


def table(results: dict[str, dict]) -> str:
    lines = ["| side | s/step (median after the first) | first step s | start-up s | peak RSS MB | tokens/step | "
             "loss, first step | loss, last step |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for side, r in results.items():
        if "error" in r:
            lines.append(f"| {side} | error: {r['error']} | | | | | | |")
            continue
        later = r["step_time_s"][1:] or r["step_time_s"]
        tokens = f"{r['tokens_per_step']:.0f}" if r["tokens_per_step"] else "?"
        lines.append(f"| {side} | {statistics.median(later):.3f} | {r['step_time_s'][0]:.2f} | {r['startup_s']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} | {tokens} | "
                     f"{r['loss'][0]:.4f} | {r['loss'][-1]:.4f} |")
    rlvr, trl = results.get("rlvr", {}), results.get("trl", {})
    if "error" not in rlvr and "error" not in trl and rlvr and trl:
        ratio = statistics.median(rlvr["step_time_s"][1:]) / statistics.median(trl["step_time_s"][1:])
        lines.append(f"\nrlvr/TRL: s/step {ratio:.2f}, peak RSS {rlvr['peak_rss_mb'] / trl['peak_rss_mb']:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=32, help="pairs per optimizer step")
    parser.add_argument("--micro-batch", type=int, default=8, help="pairs per forward/backward")
    parser.add_argument("--level", type=int, default=1, help="arith level: longer solutions at higher levels")
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lora", action="store_true", help="LoRA r 16 on both sides (reference: the adapter disabled)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per side")
    parser.add_argument("--worker", nargs=2, metavar=("SIDE", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        side, path = args.worker
        spec = json.loads(Path(path).read_text())
        print("RESULT " + json.dumps(run_rlvr(spec) if side == "rlvr" else run_trl(spec)), flush=True)
        return
    if args.pairs % args.micro_batch:
        parser.error("--pairs must be a multiple of --micro-batch (TRL accumulates whole micro-batches)")
    from rlvr.trainers.bootstrap import resolve_model_path
    from rlvr.trainers.data_order import batch_indices

    model_path = str(resolve_model_path("tiny", log=lambda _m: None))
    count = args.steps * args.pairs
    pairs_path = Path(tempfile.mkdtemp(prefix="dpo-bench-")) / "pairs.jsonl"
    pairs_path.write_text("".join(json.dumps(r) + "\n" for r in build_pairs(model_path, args.level, count, args.seed)))
    order = [i for s in range(args.steps) for i in batch_indices(count, s * args.pairs, args.pairs, args.seed)]
    spec = {"model_path": model_path, "pairs_path": str(pairs_path), "order": order, "steps": args.steps,
            "pairs": args.pairs, "micro_batch": args.micro_batch, "lr": args.lr, "beta": args.beta,
            "seed": args.seed, "device": args.device, "lora": args.lora}
    results = {}
    for side in ("rlvr", "trl"):
        started = time.perf_counter()
        results[side] = run_worker(side, spec, args.timeout)
        print(f"{side}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"\n## DPO: rlvr vs TRL `DPOTrainer`, {args.steps} steps x {args.pairs} pairs (micro-batch {args.micro_batch}), "
          f"arith level {args.level}, {'LoRA' if args.lora else 'full fine-tuning'}, {args.device}\n")
    print(table(results))


if __name__ == "__main__":
    main()
