"""Where the GPU step's time goes: decoding on the trainer's module, and the packed-segment attention kernels.

Issue 15 measured the hf decode loop at 2.1-2.3 s on a freshly loaded 181M model and 7.3-10.7 s on the trainer's
own module (same rows). Part 1 decodes the same rows (CUDA-synchronised wall time, median of --repeats) with:
    fresh      a model loaded for sampling only (eval, no grad; its forward under the same autocast as the policy)
    trained    the trainer's module (Policy.from_config: parameters require grad, autocast per model.autocast)
               after one AdamW update (optimizer state allocated, caching allocator warmed); the sampler's default
               decode (for Qwen2: sampling/static_decode.py, CUDA graphs on a GPU)
    trained, static decode without graphs   the same fixed-shape loop, every op launched from Python
    trained, dynamic decode   the transformers forward with a growing cache (sampler.hf_decode=dynamic)
    trained, dynamic, per-op autocast (before)   (bf16_mixed only) that loop as it ran before the sampler cast
               the linear weights once per call: autocast re-casting every fp32 weight at every token
    fresh, pure bf16   (bf16_mixed only) bf16 weights, no autocast: other numerics
and, for the rows that have them, aten ops per decoded token (two decodes of 2 and 4 tokens, the difference;
counted by a TorchDispatchMode, so after autocast: its casts count) and how many of those cast a weight or a
whole K/V cache. Rows print as they are measured, the issue's comparison first (a run cut short keeps them).
A torch-profiler table of the `trained` decode (top CUDA and CPU ops) goes to --out. Part 2 times forward +
backward of one packed micro-batch (groups of a prompt + G completions, the 181M shape's heads) with segment
attention's two kernels (`buckets`, `flex`) and SDPA with the dense block mask; `buckets` and `dense` each with
the SDPA kernels the project allows on CUDA (all but cuDNN's: sampling/sdpa_kernels.py) and with torch's own
choice (cuDNN allowed). A torch-profiler table of the default `buckets` layer goes to --out too.

    python bench/gpu_profile.py --device cuda --shape 181m --out /tmp/profile      # on the GPU (scripts/gpu_check.sh)
    python bench/gpu_profile.py --device cpu --shape micro --rows 16 --max-tokens 8 --repeats 1   # a dry run

Measured on CPU (2 shared cores, 2026-12-04; torch 2.13, transformers 5.19), bf16_mixed (CPU autocast):

    python bench/gpu_profile.py --device cpu --shape 181m --rows 16 --max-tokens 8 --repeats 1 --parts decode
    aten ops / token: fresh 1042, fresh pure bf16 913, trained 1042, per-op autocast (before) 1219 of which
    161 weight casts (16 layers x 7 linears + lm_head, + 48 biases) and 32 whole-KV-cache casts.
    python bench/gpu_profile.py --device cpu --shape tiny --rows 64 --max-tokens 32 --repeats 5 --parts decode
    ops 298 / 265 / 298 / 343 (41 weight, 8 cache casts); s per generate: fresh 0.503, pure bf16 0.451,
    trained 0.501, per-op autocast (before) 0.656.
What the GPU run adds: whether removing those casts closes the issue's 3-5x (the CPU wall times say little:
CPU decode is bound by the matmuls, a small model's GPU decode by per-op overhead); docs/gpu.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def decode_part(args, model_path: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from rlvr.data.config import TaskConfig
    from rlvr.data.tasks import load_problems
    from rlvr.sampling.config import SamplerConfig, SamplingParams
    from rlvr.sampling.hf_backend import HFSampler
    from rlvr.sampling.hf_decode import decode
    from rlvr.sampling.static_decode import decode_static
    from rlvr.sampling.prompts import prompt_token_ids
    from rlvr.trainers.config import ModelConfig
    from rlvr.trainers.logprobs import make_batch, token_logprobs
    from rlvr.trainers.policy import Policy

    problems = load_problems(TaskConfig(name="arith", level=1, split="train"))[: args.rows // args.group]
    params = SamplingParams(max_tokens=args.max_tokens, min_tokens=args.max_tokens, seed=0, logprobs=False)
    cfg = SamplerConfig(backend="hf", hf_batch_size=args.rows, timeout_s=600)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    autocast = "bfloat16" if args.precision == "bf16_mixed" else "off"

    def load(weights, mixed):
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=weights).to(args.device).eval()
        if mixed:
            from rlvr.trainers.precision import autocast_forward

            autocast_forward(model, torch.bfloat16)
        return model

    fresh = {"fresh": load(dtype, autocast == "bfloat16")}
    if autocast == "bfloat16":  # the lower bound: a plain bf16 model, no autocast (other numerics: bf16 residuals)
        fresh["fresh, pure bf16"] = load(torch.bfloat16, False)
    policy = Policy.from_config(ModelConfig(path=model_path, device=args.device, dtype=str(dtype).split(".")[1],
                                            autocast=autocast))
    print(f"\n## decode: {len(problems)} prompts x G={args.group} = {args.rows} rows, exactly {args.max_tokens} "
          f"tokens, {args.precision}, {args.device}; ops per decoded token counted on the calling thread")
    print("| module | s per generate (median) | tokens/s | aten ops / token | weight casts / token "
          "| KV-cache casts / token |\n|---|---:|---:|---:|---:|---:|")

    def row(name, seconds, ops=None):  # printed as measured: a run cut short by its timeout keeps its rows
        counts = " | ".join(f"{ops[k]:.0f}" if ops else "" for k in ("all", "weight casts", "cache casts"))
        print(f"| {name} | {seconds:.3f} | {args.rows * args.max_tokens / seconds:.0f} | {counts} |", flush=True)

    # the question first (fresh vs trained vs the old decode): a run cut short by its timeout keeps those
    with HFSampler(cfg, model_path, model=fresh["fresh"]) as s:
        s.generate(problems, args.group, params)  # warm-up
        row("fresh", timed(lambda: s.generate(problems, args.group, params), args.device, args.repeats),
            ops_per_token(s, problems, args))
    with HFSampler(cfg, model_path, model=policy.model) as s:
        groups = s.generate(problems, args.group, params)  # warm-up, and the completions of one update
        comps = [c for g in groups for c in g.completions]
        batch = make_batch([c.prompt_token_ids for c in comps], [c.token_ids for c in comps], policy.pad_id)
        opt = torch.optim.AdamW(policy.trainable_parameters(), lr=1e-6)
        for micro in range(0, batch.size, 32):
            logp, mask = token_logprobs(policy.model, batch.select(range(micro, min(micro + 32, batch.size))))
            (-(logp * mask).sum() / mask.sum()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        row("trained", timed(lambda: s.generate(problems, args.group, params), args.device, args.repeats),
            ops_per_token(s, problems, args))
        ids = [prompt_token_ids(s.tokenizer, p) for p in problems]
        if args.out:
            # one decode of the trained module
            write_profile(lambda: s._generate_rows(ids, args.group, params, time.monotonic() + 600), args,
                          "decode")
        default = s.decode
        if default is decode_static:  # the default's two parts apart: the fixed-shape loop, and the CUDA graphs
            s.decode = functools.partial(decode_static, graphs=False)
            row("trained, static decode without graphs", timed(lambda: s.generate(problems, args.group, params),
                                                             args.device, args.repeats), ops_per_token(s, problems, args))
        s.decode = decode  # the transformers forward with a growing cache (the decode before the static one)
        row("trained, dynamic decode", timed(lambda: s.generate(problems, args.group, params), args.device,
                                             args.repeats), ops_per_token(s, problems, args))
        if autocast == "bfloat16":  # and before the weights were cast once per call
            row("trained, dynamic, per-op autocast (before)", timed(
                lambda: per_op_autocast_rows(s, ids, args.group, params), args.device, args.repeats),
                ops_per_token(s, problems, args, before=True))
        s.decode = default
    if "fresh, pure bf16" in fresh:
        with HFSampler(cfg, model_path, model=fresh["fresh, pure bf16"]) as s:
            row("fresh, pure bf16", timed(lambda: s.generate(problems, args.group, params), args.device, args.repeats),
                ops_per_token(s, problems, args))


def per_op_autocast_rows(sampler, ids, group, params):
    """The sampler's decode as it ran before issue 15's fix: autocast casting every fp32 weight at every op (no
    weights cast once per call) and the KV cache kept in fp32 (re-cast whole by SDPA at every step)."""
    import torch

    from rlvr.sampling.hf_decode import decode

    model = sampler.model
    was_training = model.training
    model.eval()
    try:
        devices = [sampler.device] if sampler.device.type == "cuda" else []
        with torch.inference_mode(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(params.seed)
            return decode(model, ids, group, params, params.max_tokens, pad_id=sampler.pad_id, eos_ids=sampler.eos_ids,
                          stop_hit=lambda *_: False, deadline=time.monotonic() + 600, timeout_s=600)
    finally:
        model.train(was_training)


def ops_per_token(sampler, problems, args, before: bool = False, short: int = 2, long: int = 4) -> dict[str, float]:
    """aten ops per decoded token (and how many cast a weight, or a whole K/V cache): two decodes of exactly
    `short` and `long` tokens, the difference divided out. A proxy that CPU measures as a GPU would: decoding
    a small model is bound by per-op overhead there (kernel launch, dispatch)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    from rlvr.sampling.config import SamplingParams
    from rlvr.sampling.prompts import prompt_token_ids

    params_ids = {id(p) for p in sampler.model.parameters()}
    config = sampler.model.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    casts = {torch.ops.aten.to.dtype, torch.ops.aten._to_copy.default}

    class Counter(TorchDispatchMode):  # dispatch modes are per thread: the decode runs on this one
        def __init__(self):
            super().__init__()
            self.n = {"all": 0, "weight casts": 0, "cache casts": 0}

        def __torch_dispatch__(self, func, types, a=(), kw=None):
            self.n["all"] += 1
            if func in casts and len(a) > 1 and isinstance(a[1], torch.dtype) and a[0].dtype != a[1]:
                if id(a[0]) in params_ids:
                    self.n["weight casts"] += 1
                elif a[0].dim() == 4 and a[0].shape[-2] > 1 and a[0].shape[-1] == head_dim:  # [rows, heads, positions, dim]
                    self.n["cache casts"] += 1
            return func(*a, **(kw or {}))

    ids = [prompt_token_ids(sampler.tokenizer, p) for p in problems]
    counts = []
    for length in (short, long):
        params = SamplingParams(max_tokens=length, min_tokens=length, seed=0, logprobs=False)
        with Counter() as counter:
            if before:
                per_op_autocast_rows(sampler, ids, args.group, params)
            else:
                sampler._generate_rows(ids, args.group, params, time.monotonic() + 600)
        counts.append(counter.n)
    return {k: (counts[1][k] - counts[0][k]) / (long - short) for k in counts[0]}


PROFILES = "profiles.txt"  # one file for every table: the device tool brings back at most 8 files from $OUT


def write_profile(run, args, name: str) -> None:
    """The torch-profiler tables of `run()` (top device ops, then top CPU ops), appended to --out/profiles.txt
    under the heading `name`. On this thread: the profiler sees only its own."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        run()
        _sync(args.device)
    key = "cuda_time_total" if args.device.startswith("cuda") else "cpu_time_total"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    with open(Path(args.out) / PROFILES, "a") as out:
        out.write(f"## {name}\n\n" + prof.key_averages().table(sort_by=key, row_limit=25) + "\n\n"
                  + prof.key_averages().table(sort_by="cpu_time_total", row_limit=25) + "\n\n")


def attention_part(args, shape: dict) -> None:
    import torch
    import torch.nn.functional as F

    from rlvr.sampling.sdpa_kernels import without_cudnn
    from rlvr.trainers.segment_attention import SEGMENT_SDPA_ENV, plan_segments, segment_attention_forward
    from rlvr.trainers.shared_prompt import _dense_mask

    heads, kv = shape["num_attention_heads"], shape["num_key_value_heads"]
    dim = shape["hidden_size"] // heads
    dtype = torch.float32 if args.precision == "fp32" else torch.bfloat16
    segments, n = [], 0
    for _ in range(args.attn_groups):  # a prompt, then G completions of mixed lengths
        prompt = list(range(n, n + args.prompt_len))
        n += len(prompt)
        segments.append(([], prompt))
        for j in range(args.group):
            length = max(1, args.max_tokens * (j + 1) // args.group)
            segments.append((prompt, list(range(n, n + length))))
            n += length

    class Attn(torch.nn.Module):
        num_key_value_groups = heads // kv

    g = torch.Generator(device=args.device).manual_seed(0)
    q, k, v = (torch.randn(1, h, n, dim, generator=g, device=args.device, dtype=dtype, requires_grad=True)
               for h in (heads, kv, kv))
    mask = _dense_mask(segments, n).to(args.device)
    grad_ok = args.device.startswith("cuda")

    def run(kernel):
        """One layer's attention, forward + backward; the plan is made once per micro-batch and shared by all
        layers, so it is timed apart (plan_ms). The SDPA kernels allowed are the trainer's: all but cuDNN's on
        CUDA unless RLVR_SEGMENT_SDPA=all (sampling/sdpa_kernels.py); the dense row gets the same choice."""
        plan = None if kernel == "dense" else plan_segments(segments, n, kernel=kernel, device=args.device).to(
            args.device)  # planned for the device, as the trainer plans (shared_prompt.py)

        def step():
            if plan is None:  # kv heads repeated: with a mask and enable_gqa, SDPA on CUDA falls back to math
                with without_cudnn(args.device, SEGMENT_SDPA_ENV):
                    out = F.scaled_dot_product_attention(q, k.repeat_interleave(heads // kv, 1),
                                                         v.repeat_interleave(heads // kv, 1),
                                                         attn_mask=mask).transpose(1, 2)
            else:
                out = segment_attention_forward(Attn(), q, k, v, None, rlvr_segments=plan)[0]
            out.float().sum().backward()

        return step

    print(f"\n## segment attention: {args.attn_groups} groups x (prompt {args.prompt_len} + G={args.group} completions "
          f"up to {args.max_tokens}) = {n} tokens, {heads}/{kv} heads x {dim}, {dtype}, {args.device}")
    print("| kernel | ms per layer, forward + backward (median) | plan ms, once per micro-batch |\n|---|---:|---:|")
    rows = [("buckets", "buckets", False), ("buckets, cuDNN allowed", "buckets", True), ("flex", "flex", True),
            ("dense", "dense", False), ("dense, cuDNN allowed", "dense", True)]
    for label, kernel, cudnn_allowed in rows:
        if kernel == "flex" and not grad_ok:
            print("| flex | n/a: torch has no FlexAttention backward on CPU |")
            continue
        step = run(kernel)
        try:
            with _env(SEGMENT_SDPA_ENV, "all" if cudnn_allowed else None):
                step()  # warm-up (and flex's compilation)
                plan_ms = 0.0 if kernel == "dense" else timed(
                    lambda: plan_segments(segments, n, kernel=kernel, device=args.device).to(args.device),
                    args.device, 3) * 1e3
                print(f"| {label} | {timed(step, args.device, max(args.repeats, 5)) * 1e3:.2f} | {plan_ms:.2f} |")
                if label == "buckets" and args.out:  # which kernels the layer's time goes to (SDPA's among them)
                    write_profile(lambda: [step() for _ in range(3)], args, "attention (buckets)")
        except Exception as exc:  # noqa: BLE001 - a kernel that cannot run here is reported, not fatal
            print(f"| {label} | failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]} |")


@contextlib.contextmanager
def _env(name: str, value: str | None):
    """`name` set to `value` (unset for None) inside the block, as it was after."""
    before = os.environ.pop(name, None)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)
        if before is not None:
            os.environ[name] = before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--shape", default="181m", help="bench/model_shape.py shape")
    parser.add_argument("--precision", default="bf16_mixed", choices=["fp32", "bf16_mixed", "bf16"])
    parser.add_argument("--rows", type=int, default=256, help="decode rows (prompts x G)")
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--attn-groups", type=int, default=4, help="groups packed into one micro-batch row")
    parser.add_argument("--prompt-len", type=int, default=60)
    parser.add_argument("--out", help="folder for the decode profile table")
    parser.add_argument("--parts", nargs="+", default=["decode", "attention"], choices=["decode", "attention"])
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from bench.model_shape import build_shape_model, parse_shape

    slug = "".join(c if c.isalnum() else "-" for c in args.shape)
    model_path = str(build_shape_model(args.shape, REPO / ".cache" / "bench-shapes" / slug))
    if "decode" in args.parts:
        decode_part(args, model_path)
    if "attention" in args.parts:
        attention_part(args, parse_shape(args.shape))


if __name__ == "__main__":
    main()
