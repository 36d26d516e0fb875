"""The TRL side of bench/grpo_vs_trl.py: TRL's `GRPOTrainer` on the work spec the parent wrote.

Run only as a worker of the parent (`python bench/grpo_vs_trl.py`), which starts it in its own process so
its peak RSS is its own. It prints one `RESULT {json}` line.

Semantics matched to rlvr's GRPO (trainers/grpo.py) for one optimizer step over P prompts x G completions:
- the dataset is the parent's prompt list in rlvr's data order, `shuffle_dataset=False`;
- `per_device_train_batch_size` = rlvr's micro-batch, `gradient_accumulation_steps` = P*G / micro-batch and
  `steps_per_generation` = that (one generation per optimizer step), `num_iterations=1` (no old-log-prob pass);
- `loss_type="dapo"` (token mean over the accumulated batch = rlvr's `dapo`), `scale_rewards="group"`,
  epsilon = epsilon_high, beta, `mask_truncated_completions`, temperature, top_p, top_k disabled;
- constant LR without warm-up, AdamW (torch, fused: both sides' default; no weight decay), max_grad_norm 1,
  float32, no gradient checkpointing (rlvr's defaults), no dropout;
- vLLM: the IS correction as the parent's `--sampler-correction` on both sides (default off, rlvr's default;
  on, TRL adds a no-grad forward of the whole batch per step, rlvr with mu = 1 none);
- vLLM dtype: the parent's `--sampler-dtype` on both sides (TRL passes none, i.e. vLLM's "auto": `pin_vllm_dtype`
  sets another);
- reward: rlvr's own `math` verifier, called in-process per completion (or, with `--reward coin`, the same
  hash-of-text coin rlvr loads as an import-path verifier: bench/coin_reward.py);
- device and precision (`--device`, `--precision`): `use_cpu` off on a GPU; bf16_mixed = `bf16=True` with the
  model loaded in float32 (accelerate's autocast: fp32 master weights), bf16 = the model loaded in bfloat16.
Not matchable without patching TRL: TRL's std is the sample std (rlvr: population std) and its eps is 1e-4
(rlvr: 1e-6), so TRL's advantages are sqrt((G-1)/G) smaller; AdamW is nearly invariant to that scale.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_reward(log: dict, name: str = "math"):
    """rlvr's verifier `name` (built-in or import path) as a TRL reward function; records statuses, token counts
    and the prompt ids per call."""
    from rlvr.verifiers.registry import resolve

    verify = resolve(name)

    def math_reward(prompts, completions, completion_ids, reference, problem_id, **_kw):
        started = time.perf_counter()
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        verdicts = [verify(t, ref) for t, ref in zip(texts, reference)]
        log["verify_s"].append(time.perf_counter() - started)
        log["accuracy"].append(sum(v.status == "correct" for v in verdicts) / len(verdicts))
        log["reward_mean"].append(sum(v.reward for v in verdicts) / len(verdicts))
        log["tokens"].append(sum(len(ids) for ids in completion_ids))
        log["problem_ids"].append(list(dict.fromkeys(problem_id)))
        return [v.reward for v in verdicts]

    return math_reward


def grpo_args(spec: dict, out_dir: str):
    from trl import GRPOConfig

    rows = spec["prompts"] * spec["group"]
    micro = spec["micro_batch"]
    if rows % micro:
        raise ValueError(f"prompts*group={rows} must be a multiple of micro_batch={micro}")
    vllm = spec["backend"] == "vllm"
    return GRPOConfig(
        output_dir=out_dir,
        max_steps=spec["steps"],
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=rows // micro,
        num_generations=spec["group"],
        max_completion_length=spec["max_tokens"],
        temperature=spec["temperature"], top_p=spec["top_p"], top_k=0,
        learning_rate=spec["lr"], lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        optim="adamw_torch_fused", max_grad_norm=1.0, adam_epsilon=1e-8,
        beta=spec["beta"], epsilon=spec["epsilon"], epsilon_high=spec["epsilon"],
        loss_type="dapo", scale_rewards="group", num_iterations=1,
        mask_truncated_completions=spec["mask_truncated"],
        shuffle_dataset=False, seed=spec["seed"], data_seed=spec["seed"],
        use_cpu=spec.get("device", "cpu") == "cpu", bf16=spec.get("precision") == "bf16_mixed", fp16=False,
        gradient_checkpointing=False, disable_dropout=True,
        use_vllm=vllm, vllm_mode="colocate", vllm_gpu_memory_utilization=spec["gpu_memory_utilization"],
        vllm_max_model_length=spec["max_model_len"],
        vllm_importance_sampling_correction=spec.get("sampler_correction", "off") != "off",
        **({"vllm_importance_sampling_mode": spec["sampler_correction"], "vllm_importance_sampling_clip_max": 3.0}
           if spec.get("sampler_correction", "off") != "off" else {}),
        logging_steps=1, save_strategy="no", report_to=[], dataloader_num_workers=0,
        remove_unused_columns=False, log_completions=False,
    )


def pin_vllm_dtype(dtype: str) -> None:
    """TRL builds its colocated `LLM(...)` without a dtype; give it the one rlvr's side runs (`--sampler-dtype`)."""
    import functools

    import trl.generation.vllm_generation as vg

    vg.LLM = functools.partial(vg.LLM, dtype=dtype)


def reload_sync(trainer):
    """A replacement for TRL's colocated `sync_weights` that works on vLLM-CPU (used with `--trl-vllm-sync reload`).

    TRL's own sync calls `model.load_weights([(name, param)])` on vLLM's model. On CPU, vLLM's post-load step
    (`dispatch_cpu_unquantized_gemm(layer, remove_weight=True)`) packs every linear weight into a kernel handle
    and replaces `layer.weight` by an empty Parameter without `weight_loader`, so that call raises
    `AttributeError: 'Parameter' object has no attribute 'weight_loader'` at the first sync (before the first
    generation). vLLM's layer-wise `reload_weights` restores the loaders and re-packs, as rlvr's sampler does.
    Full fine-tuning only (TRL's LoRA path merges the adapter first)."""
    gen = trainer.vllm_generation

    def sync_weights():
        model = trainer.accelerator.unwrap_model(trainer.model)
        if hasattr(model, "peft_config"):
            raise NotImplementedError("reload sync: full fine-tuning only")
        weights = [(name, p.detach()) for name, p in model.named_parameters()]
        gen.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
        gen.llm.apply_model(_refresh_tied_head)
        gen.llm.reset_prefix_cache()

    gen.sync_weights = sync_weights


def _refresh_tied_head(model) -> None:
    """The reload re-packs the embedding only; a tied LM head keeps its own packed copy on CPU: re-pack it."""
    head = getattr(model, "lm_head", None)
    if getattr(head, "weight", None) is not None and hasattr(head, "quant_method"):
        if any(m is not head and getattr(m, "weight", None) is head.weight for m in model.modules()):
            head.quant_method.process_weights_after_loading(head)


def main(spec_path: str) -> None:
    spec = json.loads(open(spec_path).read())
    t0 = time.perf_counter()
    if spec["backend"] == "vllm":
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOTrainer

    from bench.grpo_vs_trl import REWARDS, peak_gpu_mb
    from rlvr.data.config import TaskConfig
    from rlvr.data.tasks import load_problems

    torch.manual_seed(spec["seed"])
    problems = load_problems(TaskConfig(**spec["task"]))
    order = [problems[i] for step in spec["order"] for i in step]
    data = Dataset.from_list([{"prompt": p.prompt, "reference": p.reference, "problem_id": p.id} for p in order])
    tokenizer = AutoTokenizer.from_pretrained(spec["model_path"])
    weights = torch.bfloat16 if spec.get("precision") == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(spec["model_path"], dtype=weights)
    peft_config = None
    if spec["lora"]:
        from peft import LoraConfig

        peft_config = LoraConfig(r=spec["lora_r"], lora_alpha=spec["lora_alpha"], lora_dropout=0.0,
                                 target_modules=TARGETS, task_type="CAUSAL_LM")
    log = {k: [] for k in ("verify_s", "accuracy", "reward_mean", "tokens", "problem_ids", "generate_s", "step_end")}

    class StepClock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            log["train_begin"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            log["step_end"].append(time.perf_counter())

    out_dir = tempfile.mkdtemp(prefix="rlvr-bench-trl-")
    if spec["backend"] == "vllm" and spec.get("sampler_dtype", "auto") != "auto":
        pin_vllm_dtype(spec["sampler_dtype"])
    trainer = GRPOTrainer(
        model=model, reward_funcs=make_reward(log, REWARDS[spec.get("reward", "math")] or "math"), args=grpo_args(spec, out_dir),
        train_dataset=data,
        processing_class=tokenizer, callbacks=[StepClock()], peft_config=peft_config,
    )
    generate = trainer._generate  # timing only: the rollout (sampling + decode) part of each step

    def timed_generate(prompts):
        started = time.perf_counter()
        out = generate(prompts)
        log["generate_s"].append(time.perf_counter() - started)
        return out

    trainer._generate = timed_generate
    if spec["backend"] == "vllm" and spec.get("trl_sync", "stock") == "reload":
        reload_sync(trainer)
    startup_s = time.perf_counter() - t0
    profiler = None
    if os.environ.get("RLVR_BENCH_CPROFILE"):  # a development aid: where TRL's step time goes
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    trainer.train()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(os.environ["RLVR_BENCH_CPROFILE"])
    ends = [log["train_begin"], *log["step_end"]]
    step_s = [b - a for a, b in zip(ends, ends[1:])]
    result = {
        "side": "trl" if spec.get("trl_sync", "stock") == "stock" or spec["backend"] != "vllm" else "trl+reload",
        "backend": spec["backend"], "lora": spec["lora"], "startup_s": startup_s, "step_time_s": step_s,
        "rollout_time_s": log["generate_s"], "verify_s": log["verify_s"], "tokens": log["tokens"],
        "accuracy": log["accuracy"], "reward_mean": log["reward_mean"], "problem_ids": log["problem_ids"],
        "loss": [h["loss"] for h in trainer.state.log_history if "loss" in h],
        "peak_rss_mb": _rss_mb(),
        "peak_gpu_mb": peak_gpu_mb(), "peak_gpu_reserved_mb": peak_gpu_mb(reserved=True),  # as on rlvr's side
    }
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # skip vLLM / torch.distributed teardown at exit (it can hang on CPU); results are printed


if __name__ == "__main__":
    main(sys.argv[1])
