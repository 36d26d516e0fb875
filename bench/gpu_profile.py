"""Where the GPU step's time goes: decoding on the trainer's module, and the packed-segment attention kernels.

Issue 15 measured the hf decode loop at 2.1-2.3 s on a freshly loaded 181M model and 7.3-10.7 s on the trainer's
own module (same rows). Part 1 decodes the same rows (CUDA-synchronised wall time, median of --repeats) with:
    fresh      a model loaded for sampling only (eval, no grad)
    policy     the trainer's module (Policy.from_config: parameters require grad, autocast per model.autocast)
    trained    the same module after one AdamW update (optimizer state allocated, caching allocator warmed)
    trained, caller's thread   the same decode on the calling thread instead of the sampler's engine thread
and writes a torch-profiler table of the `trained` decode (top CUDA and CPU ops) to --out.
Part 2 times forward + backward of one packed micro-batch (groups of a prompt + G completions, the 181M
shape's heads) with segment attention's two kernels (`buckets`, `flex`) and SDPA with the dense block mask.

    python bench/gpu_profile.py --device cuda --shape 181m --out /tmp/profile      # on the GPU (scripts/gpu_check.sh)
    python bench/gpu_profile.py --device cpu --shape micro --rows 16 --max-tokens 8 --repeats 1   # a dry run
"""

from __future__ import annotations

import argparse
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
    from rlvr.sampling.prompts import prompt_token_ids
    from rlvr.trainers.config import ModelConfig
    from rlvr.trainers.logprobs import make_batch, token_logprobs
    from rlvr.trainers.policy import Policy

    problems = load_problems(TaskConfig(name="arith", level=1, split="train"))[: args.rows // args.group]
    params = SamplingParams(max_tokens=args.max_tokens, min_tokens=args.max_tokens, seed=0, logprobs=False)
    cfg = SamplerConfig(backend="hf", hf_batch_size=args.rows, timeout_s=600)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    autocast = "bfloat16" if args.precision == "bf16_mixed" else "off"

    fresh = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(args.device).eval()
    if autocast == "bfloat16":
        from rlvr.trainers.precision import autocast_forward

        autocast_forward(fresh, torch.bfloat16)
    policy = Policy.from_config(ModelConfig(path=model_path, device=args.device, dtype=str(dtype).split(".")[1],
                                            autocast=autocast))
    rows = {}
    with HFSampler(cfg, model_path, model=fresh) as s:
        s.generate(problems, args.group, params)  # warm-up
        rows["fresh"] = timed(lambda: s.generate(problems, args.group, params), args.device, args.repeats)
    with HFSampler(cfg, model_path, model=policy.model) as s:
        s.generate(problems, args.group, params)
        rows["policy"] = timed(lambda: s.generate(problems, args.group, params), args.device, args.repeats)
        groups = s.generate(problems, args.group, params)
        comps = [c for g in groups for c in g.completions]
        batch = make_batch([c.prompt_token_ids for c in comps], [c.token_ids for c in comps], policy.pad_id)
        opt = torch.optim.AdamW(policy.trainable_parameters(), lr=1e-6)
        for micro in range(0, batch.size, 32):
            logp, mask = token_logprobs(policy.model, batch.select(range(micro, min(micro + 32, batch.size))))
            (-(logp * mask).sum() / mask.sum()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        rows["trained"] = timed(lambda: s.generate(problems, args.group, params), args.device, args.repeats)
        ids = [prompt_token_ids(s.tokenizer, p) for p in problems]
        rows["trained, caller's thread"] = timed(  # the sampler decodes on its engine thread: is the hop a cost?
            lambda: s._generate_rows(ids, args.group, params, time.monotonic() + 600), args.device, args.repeats)
        if args.out:
            from torch.profiler import ProfilerActivity, profile

            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device.startswith("cuda") else [])
            with profile(activities=activities) as prof:  # on this thread: the profiler sees only its own
                s._generate_rows(ids, args.group, params, time.monotonic() + 600)
                _sync(args.device)
            key = "cuda_time_total" if args.device.startswith("cuda") else "cpu_time_total"
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "decode_profile.txt").write_text(
                prof.key_averages().table(sort_by=key, row_limit=25) + "\n\n"
                + prof.key_averages().table(sort_by="cpu_time_total", row_limit=25))
    print(f"\n## decode: {len(problems)} prompts x G={args.group} = {args.rows} rows, exactly {args.max_tokens} tokens, "
          f"{args.precision}, {args.device}")
    print("| module | s per generate (median) | tokens/s |\n|---|---:|---:|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.3f} | {args.rows * args.max_tokens / seconds:.0f} |")


def attention_part(args, shape: dict) -> None:
    import torch
    import torch.nn.functional as F

    from rlvr.trainers.segment_attention import plan_segments, segment_attention_forward
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
        layers, so it is timed apart (plan_ms)."""
        plan = None if kernel == "dense" else plan_segments(segments, n, kernel=kernel).to(args.device)

        def step():
            if plan is None:
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True).transpose(1, 2)
            else:
                out = segment_attention_forward(Attn(), q, k, v, None, rlvr_segments=plan)[0]
            out.float().sum().backward()

        return step

    print(f"\n## segment attention: {args.attn_groups} groups x (prompt {args.prompt_len} + G={args.group} completions "
          f"up to {args.max_tokens}) = {n} tokens, {heads}/{kv} heads x {dim}, {dtype}, {args.device}")
    print("| kernel | ms per layer, forward + backward (median) | plan ms, once per micro-batch |\n|---|---:|---:|")
    for kernel in ("buckets", "flex", "dense"):
        if kernel == "flex" and not grad_ok:
            print("| flex | n/a: torch has no FlexAttention backward on CPU |")
            continue
        step = run(kernel)
        try:
            step()  # warm-up (and flex's compilation)
            plan_ms = 0.0 if kernel == "dense" else timed(
                lambda: plan_segments(segments, n, kernel=kernel).to(args.device), args.device, 3) * 1e3
            print(f"| {kernel} | {timed(step, args.device, max(args.repeats, 5)) * 1e3:.2f} | {plan_ms:.2f} |")
        except Exception as exc:  # noqa: BLE001 - a kernel that cannot run here is reported, not fatal
            print(f"| {kernel} | failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]} |")


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
