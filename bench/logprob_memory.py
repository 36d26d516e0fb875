"""Peak memory and time of the token log-probs' forward + backward at a hub vocabulary: rlvr's chunked
`selected_logprobs` against TRL's `selective_log_softmax` (its Triton kernel on CUDA, its row loop on CPU) and
the plain float32 form rlvr used before (`logits.float()` -> gather - logsumexp).

    python bench/logprob_memory.py                         # CPU: 2,048 scored tokens x 151,936 (Qwen2.5) in bf16
    python bench/logprob_memory.py --device cuda --tokens 8192

Each side runs in its own subprocess (peak RSS on CPU is per process; on CUDA `max_memory_allocated`), on the same
seeded logits. Peak = the high-water mark (on CPU the process's VmHWM, reset before the pass) during forward + backward minus the memory held before (the logits and
targets), so the logits themselves are not counted and their gradient is (every side must produce it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIDES = ("rlvr", "trl", "plain")


def _plain(logits, targets, temperature):
    z = logits.float() / temperature if temperature != 1.0 else logits.float()
    return z.gather(-1, targets[..., None]).squeeze(-1) - z.logsumexp(-1)


def _side(name):
    if name == "rlvr":
        from rlvr.trainers.chunked_logits import selected_logprobs

        return selected_logprobs
    if name == "trl":
        from trl.trainer.utils import selective_log_softmax

        return lambda logits, targets, t: selective_log_softmax(logits, targets, temperature=t).float()
    return _plain


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _reset_peak_rss() -> None:
    """Linux >= 4.0: writing 5 to clear_refs resets the process's peak RSS (VmHWM) to its current RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def _random_logits(tokens: int, vocab: int, dtype, generator):
    """[1, tokens, vocab] of N(0, 2^2), made a block of rows at a time (no float32 copy of the whole)."""
    import torch

    out = torch.empty(1, tokens, vocab, dtype=dtype)
    for s in range(0, tokens, 256):
        out[0, s:s + 256] = torch.randn(min(256, tokens - s), vocab, generator=generator) * 2
    return out


def run_one(args) -> dict:
    import torch

    fn = _side(args.side)
    dtype = getattr(torch, args.dtype)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    logits = _random_logits(args.tokens, args.vocab, dtype, g).to(device).requires_grad_(True)
    targets = torch.randint(0, args.vocab, (1, args.tokens), generator=g).to(device)
    weights = torch.randn(1, args.tokens, generator=g).to(device)
    # warm-up (kernels, lazy imports): 16 tokens, as Triton specialises a kernel on an integer's divisibility by 16
    # (TRL's kernel on CUDA), so the timed pass of a multiple of 16 tokens does not compile again
    fn(logits[:, :16], targets[:, :16], args.temperature).sum().backward()
    logits.grad = None
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        _reset_peak_rss()
        before = _rss_mb()
    start = time.perf_counter()
    logp = fn(logits, targets, args.temperature)
    (logp * weights).sum().backward()
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    if cuda:
        peak = (torch.cuda.max_memory_allocated() - before) / 2**20
    else:
        peak = _peak_rss_mb() - before
    return {"side": args.side, "peak_mb": peak, "seconds": elapsed, "logp_sum": float(logp.sum()),
            "grad_abs_sum": float(logits.grad.float().abs().sum()),
            "logits_mb": logits.numel() * logits.element_size() / 2**20}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--vocab", type=int, default=151_936)
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--sides", nargs="+", default=list(SIDES), choices=SIDES)
    p.add_argument("--side", help=argparse.SUPPRESS)  # one side, in a child process
    args = p.parse_args()
    if args.side:
        print(json.dumps(run_one(args)))
        return
    rows = []
    for side in args.sides:
        cmd = [sys.executable, __file__, "--side", side, "--device", args.device, "--tokens", str(args.tokens),
               "--vocab", str(args.vocab), "--dtype", args.dtype, "--temperature", str(args.temperature)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            print(f"{side}: failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if not rows:
        sys.exit(1)
    print(f"{args.tokens} tokens x {args.vocab} vocab, {args.dtype} logits ({rows[0]['logits_mb']:.0f} MB), "
          f"temperature {args.temperature}, {args.device}; peak = memory added by forward + backward")
    print("| side | peak MB | x logits | s | sum log-p | sum abs grad |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['side']} | {r['peak_mb']:.0f} | {r['peak_mb'] / r['logits_mb']:.2f} | {r['seconds']:.3f} | "
              f"{r['logp_sum']:.2f} | {r['grad_abs_sum']:.2f} |")
    by = {r["side"]: r for r in rows}
    for peer in ("trl", "plain"):
        if "rlvr" in by and peer in by:
            print(f"rlvr/{peer}: peak memory {by['rlvr']['peak_mb'] / by[peer]['peak_mb']:.2f}x, "
                  f"time {by['rlvr']['seconds'] / by[peer]['seconds']:.2f}x")


if __name__ == "__main__":
    main()
