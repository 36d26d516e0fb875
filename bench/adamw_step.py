"""One AdamW step, fused (what trainers/optimizer.py builds, and TRL's default) against torch's multi-tensor
form, on the same random parameters and gradients: seconds per step and the ratio.

    python bench/adamw_step.py                      # 181M fp32 params in 200 tensors, then 1M in 40, on CPU
    python bench/adamw_step.py --device cuda        # on a GPU
"""

from __future__ import annotations

import argparse
import time

import torch


def seconds_per_step(params, device: str, repeats: int, **form) -> float:
    optimizer = torch.optim.AdamW(params, lr=1e-5, **form)
    optimizer.step()  # the first step allocates the moments
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        optimizer.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print("| params | tensors | foreach s/step | fused s/step | fused / foreach |\n|---:|---:|---:|---:|---:|")
    for total, tensors in ((181_000_000, 200), (1_000_000, 40)):
        torch.manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(total // tensors, device=args.device)) for _ in range(tensors)]
        for p in params:
            p.grad = torch.randn_like(p)
        foreach = seconds_per_step(params, args.device, args.repeats, foreach=True)
        fused = seconds_per_step(params, args.device, args.repeats, fused=True)
        print(f"| {total:,} | {tensors} | {foreach:.4f} | {fused:.4f} | {fused / foreach:.2f} |")


if __name__ == "__main__":
    main()
