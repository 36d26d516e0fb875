"""Model, algorithm and optimisation settings of a training run."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _yaml_off(value):
    """A choice whose values include "off": YAML reads a bare `off` as false."""
    return "off" if value is False else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraConfig(_Strict):
    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        min_length=1, description="Module names that get adapters (each must name modules of the model).",
    )


class ModelConfig(_Strict):
    path: str = Field("tiny", description="'tiny' (the bootstrapped model), a local HF directory, or a hub id.")
    lora: LoraConfig | None = Field(None, description="Train a LoRA adapter; None = full fine-tuning.")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="dtype of the weights and the optimizer state (bfloat16 alone = pure bf16 training)."
    )
    autocast: Literal["auto", "off", "bfloat16"] = Field(
        "auto", description="Matmul dtype under torch.autocast. auto: bfloat16 on CUDA with float32 weights (mixed "
        "precision: fp32 master weights, bf16 compute), off on CPU. See trainers/precision.py for the trade-off.",
    )
    device: str = Field("cpu", description="torch device for training (cpu, cuda, cuda:1, ...).")
    gradient_checkpointing: bool = Field(False, description="Trade compute for activation memory.")

    _autocast_off = field_validator("autocast", mode="before")(_yaml_off)


class GRPOConfig(_Strict):
    group_size: int = Field(8, ge=2, description="G: completions sampled per prompt.")
    scale: Literal["group", "batch", "none"] = Field(
        "group", description="Divide centred rewards by the group std, the batch std, or nothing (Dr. GRPO)."
    )
    zero_variance: Literal["keep", "filter", "resample", "virtual_max"] = Field(
        "keep", description="Groups whose rewards are all equal: keep, drop from the loss, resample (DAPO), or NGRPO."
    )
    max_resample_rounds: int = Field(2, ge=0, description="Cap on extra sampling rounds under zero_variance=resample.")
    epsilon_low: float = Field(0.2, ge=0.0, description="Lower clip: ratio >= 1 - epsilon_low.")
    epsilon_high: float = Field(0.2, ge=0.0, description="Upper clip: ratio <= 1 + epsilon_high (DAPO uses 0.28).")
    beta: float = Field(0.0, ge=0.0, description="Weight of the k3 KL to the reference; 0 skips the reference pass.")
    loss_aggregation: Literal["grpo", "dapo", "dr_grpo"] = Field(
        "dapo", description="grpo: per-sequence token mean; dapo: batch token mean; dr_grpo: sum / (G * max_tokens)."
    )
    num_iterations: int = Field(1, ge=1, description="mu: optimizer passes over each sampled batch.")
    mask_truncated: bool = Field(False, description="Exclude completions that hit max_tokens from the loss.")
    overlong_buffer: int = Field(0, ge=0, description="Soft overlong penalty window in tokens (DAPO); 0 disables.")
    overlong_penalty: float = Field(1.0, ge=0.0, description="Penalty at max_tokens, ramped linearly over the buffer.")
    sampler_correction: Literal["off", "token_truncate", "token_mask", "sequence_truncate", "sequence_mask"] = Field(
        "off", description="Importance weights for the sampler/trainer mismatch (a vLLM engine in bf16 against the "
        "trainer's precision): w = exp(pi_old - pi_sampler) per token or per sequence, capped (truncate) or "
        "zeroed above the cap (mask). TRL's vllm_importance_sampling_correction; docs/gpu.md.",
    )
    sampler_correction_max: float = Field(3.0, gt=1.0, description="C: the cap of sampler_correction's weights.")

    _sampler_correction_off = field_validator("sampler_correction", mode="before")(_yaml_off)


class DPOConfig(_Strict):
    beta: float = Field(0.1, gt=0.0, description="Inverse temperature of the implicit reward.")
    loss_type: Literal["sigmoid", "ipo"] = Field(
        "sigmoid", description="sigmoid: DPO's logistic loss on summed response log-probs; ipo: IPO's squared loss on "
        "per-token mean log-ratios (as TRL's loss_type ipo, so the same beta means the same objective).",
    )
    pairs_path: str | None = Field(
        None, description="JSONL of {prompt, chosen, rejected}; None = pairs built online from verified groups."
    )
    group_size: int = Field(8, ge=2, description="Completions sampled per prompt when building pairs online.")


class PPOConfig(_Strict):
    gamma: float = Field(1.0, ge=0.0, le=1.0, description="Discount factor.")
    lam: float = Field(0.95, ge=0.0, le=1.0, description="GAE lambda.")
    kl_coef: float = Field(0.05, ge=0.0, description="beta of the per-token KL penalty folded into the reward.")
    clip_epsilon: float = Field(0.2, ge=0.0, description="Policy ratio clip.")
    value_clip: float = Field(0.2, ge=0.0, description="Value prediction clip around the old values.")
    vf_coef: float = Field(0.5, ge=0.0, description="c1: value-loss weight. 0.5, the usual value when actor and critic "
                           "share one network as here (TRL's 0.1 is for its separate value model).")
    entropy_coef: float = Field(0.0, ge=0.0, description="c2: entropy bonus weight.")
    num_iterations: int = Field(1, ge=1, description="Optimizer passes over each sampled batch.")
    group_size: int = Field(4, ge=1, description="Completions sampled per prompt.")


class OptimConfig(_Strict):
    lr: float = Field(1e-5, gt=0.0, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps, then `schedule`.")
    schedule: Literal["constant", "linear", "cosine"] = Field(
        "constant", description="The lr after warm-up: constant (verl's default), or decayed to lr x min_lr_ratio at "
        "train.steps, linearly (transformers' Trainer and TRL's default) or along a half cosine.")
    min_lr_ratio: float = Field(0.0, ge=0.0, le=1.0, description="Where a decaying schedule ends, as a share of lr.")
    max_grad_norm: float = Field(1.0, gt=0.0, description="Gradient clipping norm.")
    micro_batch_size: int = Field(8, ge=1, description="Sequences per forward/backward (gradient accumulation).")
    micro_batch_tokens: int | None = Field(
        None, ge=1, description="Also at most this many tokens per forward/backward (prompt + completion columns; "
        "a shared prompt counts once): short batches then run in fewer, larger micro-batches and long ones in "
        "smaller, bounding activation memory. None: sequences only (DPO: pairs).",
    )


class CheckpointConfig(_Strict):
    dir: str | None = Field(
        None, description="Run directory; checkpoints go to <dir>/checkpoints/step-N. None: runs/<name> (the run's "
        "name with every character but letters, digits, `.`, `_` and `-` made `-`), so that runs of other names never "
        "share one; a run resumes only a directory holding a run of its own name and task (trainers/resume.py).")
    resume_from: str | None = Field(
        None, description="A checkpoint (runs/X/checkpoints/step-N) or run directory to resume from on purpose, "
        "whatever run wrote it (TRL's resume_from_checkpoint, verl's resume_from_path): its weights, optimizer state, "
        "step and data position; read only while `dir` holds no checkpoint, so a restarted run resumes its own.")
    every: int = Field(10, ge=1, description="Save every N optimizer steps (and always at the end).")
    keep: int = Field(3, ge=1, description="Keep the newest N checkpoints (the best one is never deleted).")


class FSDPConfig(_Strict):
    """Settings of `train.parallel: fsdp` (torch FSDP2 `fully_shard`, trainers/fsdp.py)."""

    param_dtype: Literal["float32", "bfloat16", "float16"] | None = Field(
        None, description="Mixed precision: dtype of the gathered parameters in forward/backward; None = model.dtype."
    )
    reduce_dtype: Literal["float32", "bfloat16"] = Field("float32", description="dtype of the gradient reduce-scatter.")
    cpu_offload: bool = Field(False, description="Keep sharded parameters, gradients and optimizer state in CPU memory.")
    reshard_after_forward: bool = Field(
        True, description="Free each layer's gathered weights after its forward (ZeRO-3); False keeps them to backward."
    )


class TrainConfig(_Strict):
    algorithm: Literal["grpo", "dpo", "ppo"] = Field("grpo", description="Which loss trains the policy.")
    steps: int = Field(20, ge=1, description="Optimizer steps.")
    prompts_per_step: int = Field(8, ge=1, description="Prompts sampled per step.")
    seed: int = Field(0, description="Run seed: data order, sampling and initialisation.")
    grpo: GRPOConfig = Field(default_factory=GRPOConfig)
    dpo: DPOConfig = Field(default_factory=DPOConfig)
    ppo: PPOConfig = Field(default_factory=PPOConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    stop_after_failing_steps: int = Field(
        3, ge=0, description="Stop the run (exit 1, its checkpoints kept) once a verifier's every verdict is "
        "error/timeout on this many consecutive steps: the verifier is failing, not the policy, and such steps teach "
        "nothing (TRL stops at a reward function's first exception). 0: never stop; each such step's line warns.",
    )
    parallel: Literal["ddp", "fsdp"] = Field(
        "ddp", description="Under torchrun/accelerate: replicate the model and sum gradients (ddp) or shard it (fsdp)."
    )
    fsdp: FSDPConfig = Field(default_factory=FSDPConfig)
    report_to: list[Literal["tensorboard", "mlflow", "wandb"]] = Field(
        default_factory=list,
        description="Also log each step's metrics to TensorBoard (<dir>/tensorboard), MLflow "
        "($MLFLOW_TRACKING_URI, else sqlite:///<dir>/mlflow.db) and/or W&B (offline under <dir>/wandb unless "
        "$WANDB_MODE or a W&B login says otherwise); needs the `track` extra.",
    )
