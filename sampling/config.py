"""How completions are sampled: backend, decoding parameters and engine options."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SamplingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(1.0, ge=0.0, description="Softmax temperature; 0 is greedy.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    top_k: int = Field(-1, description="Keep the k most likely tokens; -1 disables.")
    max_tokens: int = Field(128, ge=1, description="Maximum completion length in tokens.")
    min_tokens: int = Field(0, ge=0, description="Minimum completion length: EOS and stop strings are ignored before it.")
    stop: list[str] = Field(default_factory=list, description="Stop strings (not included in the output).")
    seed: int | None = Field(None, description="Sampling seed; None draws from the run seed per step.")
    logprobs: bool | None = Field(
        None, description="Return each sampled token's log-prob (Completion.sample_logprobs). None: the caller "
        "decides -- training skips them (no algorithm reads them; vLLM spends ~10% of its time on them on CPU), "
        "evaluation records them.",
    )

    def wants_logprobs(self) -> bool:
        return self.logprobs is not False


def problem_seed(seed: int | None, index: int, n: int) -> int | None:
    """The seed of problem `index` of a generate call (vLLM's per-request convention: its n samples get
    `seed + index * n + j`). A batch sampled in slices -- DDP shards, evaluation chunks -- offsets each slice's
    seed by its first problem's, so every problem keeps the seed it has in one whole call."""
    return None if seed is None else seed + index * n


class SamplerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["vllm", "hf"] = Field("vllm", description="vllm (colocated engine) or hf (transformers generate).")
    params: SamplingParams = Field(default_factory=SamplingParams)
    gpu_memory_utilization: float | None = Field(
        None, gt=0.0, le=0.95, description="vLLM memory fraction for weights + KV cache. None: 0.2 on CPU (of the RAM; "
        "keep <= 0.3 there), 0.3 on a GPU, colocated with the trainer (the rest is the trainer's; see docs/gpu.md).",
    )
    max_model_len: int = Field(1024, ge=16, description="vLLM context length (prompt + completion).")
    max_num_batched_tokens: int | None = Field(
        None, ge=16, description="vLLM tokens per engine step (None: vLLM's default on CPU, 4096 on a GPU, as TRL "
        "colocated: vLLM's start-up memory profile at its larger default can leave no KV cache room within "
        "gpu_memory_utilization). On CPU, with seed_per_request, "
        "requests are sent in waves that fit one step (see sampling/vllm_backend.py), so a larger value means fewer waves.",
    )
    seed_per_request: bool | None = Field(
        None, description="vLLM: give every request its own seed, so a problem's samples do not depend on the rest "
        "of the batch (slower on CPU, where such requests go in waves). False: one seed per generate call seeds the "
        "engine's generator; samples repeat for the same problems, n and engine settings. None: False on CPU, True "
        "on a GPU (vLLM's GPU model runner draws an unseeded request's seed from its own stream, which torch's "
        "seed does not reach: only per-request seeds make a GPU run repeatable).",
    )
    tensor_parallel_size: int = Field(
        1, ge=1, description="vLLM tensor parallelism (GPUs per engine). Only 1 is supported: the colocated engine is "
        "one whole engine per process/rank (see docs/scaleout.md).",
    )
    data_parallel_size: int = Field(1, ge=1, description="vLLM data-parallel engines.")
    enforce_eager: bool | None = Field(
        None, description="vLLM: skip CUDA-graph/compile capture. None: eager on CPU (capture costs ~60 s start-up "
        "there and gains nothing), CUDA graphs on a GPU (decoding is launch-bound without them).",
    )
    sleep_mode: bool | None = Field(
        None, description="vLLM on a GPU: free the KV cache and offload the weights while the trainer updates "
        "(sleep level 1 after each generate, wake-up before the weight sync). None: on for CUDA, off on CPU "
        "(vLLM has no sleep mode there).",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="vLLM engine dtype; hf: the dtype of a copy it loads (hf_share_model=false, an "
        "evaluation). auto: the checkpoint's dtype, but a float32 checkpoint on CUDA loads as bfloat16 (float16 "
        "without bf16), as vLLM's auto does. A shared module samples in the trainer's own precision (model.dtype, "
        "model.autocast).",
    )
    hf_share_model: bool = Field(
        True, description="hf backend: sample with the trainer's own module (same parameters, same device; nothing "
        "copied at sync). False: load a second copy from the model path (on the policy's device) and copy the weights "
        "at every sync.",
    )
    hf_batch_size: int = Field(
        256, ge=1, description="hf backend: rows (prompts x samples) decoded together. Rows that end leave the "
        "batch (the static decode gathers the rest once half have ended), so larger is faster until the KV cache of "
        "that many rows no longer fits.",
    )
    hf_decode: Literal["auto", "static", "dynamic"] = Field(
        "auto", description="hf backend: `static` decodes with a fixed-shape KV cache and, on CUDA, replays one captured "
        "graph per token (Llama-family models: llama, mistral, qwen2, qwen3); `dynamic` runs the transformers forward "
        "with a growing cache. auto: static where the model allows it, else dynamic (sampling/static_decode.py says why).",
    )
    timeout_s: float = Field(600.0, gt=0, description="A generate or weight sync taking longer fails the step.")
