"""rlvr's hf sampler (its decode loop: `--hf-decode`, sampling/static_decode.py or sampling/hf_decode.py) against transformers `generate`, side by side in one process.

Same model (the tiny bootstrapped one unless --model), the same `arith` prompts, G samples each, the same
max_tokens, temperature 1, float32, one thread. `generate` gets the G copies of each prompt as rows
(what the hf backend did before its own loop, and what TRL's hf path does), in batches of the same
number of rows. Two length regimes: natural (completions end at EOS, so rows end at different steps) and
forced (every row exactly max_tokens: only the shared prefill differs). Prints tokens/s and the ratio.

    python bench/hf_decode.py                       # 32 prompts x G=8, 64 tokens, 3 repeats
    python bench/hf_decode.py --hf-decode dynamic   # the transformers-forward loop instead of the static one
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model dir (default: the tiny bootstrapped model)")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-rows", type=int, default=256, help="rows per call on both sides (hf_batch_size)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hf-decode", default="auto", choices=["auto", "static", "dynamic"])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from rlvr.data.config import TaskConfig
    from rlvr.data.tasks import load_problems
    from rlvr.sampling.config import SamplerConfig, SamplingParams
    from rlvr.sampling.hf_backend import HFSampler
    from rlvr.sampling.prompts import prompt_token_ids
    from rlvr.trainers.bootstrap import resolve_model_path

    path = args.model or resolve_model_path("tiny", log=lambda _m: None)
    problems = load_problems(TaskConfig(name="arith", level=1, split="train"))[: args.prompts]
    sampler = HFSampler(SamplerConfig(backend="hf", dtype="float32", hf_batch_size=args.batch_rows,
                                      hf_decode=args.hf_decode), path)
    model, tok = sampler.model, sampler.tokenizer
    prompts = [prompt_token_ids(tok, p) for p in problems]

    def rlvr(forced: bool) -> int:
        params = SamplingParams(max_tokens=args.max_tokens, min_tokens=args.max_tokens if forced else 0, seed=0,
                                logprobs=False)
        groups = sampler.generate(problems, args.group, params)
        return sum(len(c.token_ids) for g in groups for c in g.completions)

    def hf_generate(forced: bool) -> int:
        rows = [ids for ids in prompts for _ in range(args.group)]
        produced = 0
        for start in range(0, len(rows), args.batch_rows):
            chunk = rows[start : start + args.batch_rows]
            width = max(map(len, chunk))
            ids = torch.tensor([[sampler.pad_id] * (width - len(r)) + r for r in chunk])
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in chunk])
            with torch.no_grad():
                out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=1.0, top_k=0,
                                     top_p=1.0, max_new_tokens=args.max_tokens,
                                     min_new_tokens=args.max_tokens if forced else 0,
                                     pad_token_id=sampler.pad_id, eos_token_id=sorted(sampler.eos_ids))
            for row in out[:, width:].tolist():  # up to and with the first EOS, as the sampler counts
                end = next((t + 1 for t, x in enumerate(row) if x in sampler.eos_ids), len(row))
                produced += end
        return produced

    print(f"{args.prompts} prompts x G={args.group}, max {args.max_tokens} tokens, {args.batch_rows} rows per call, "
          f"float32, 1 thread, model {path}, decode loop {sampler.decode.__name__}")
    print("| lengths | rlvr hf sampler tok/s | transformers generate tok/s | rlvr / generate |")
    print("|---|---:|---:|---:|")
    for forced in (False, True):
        rates = {"rlvr": [], "generate": []}
        for _ in range(args.repeats):  # interleaved, so both sides see the same machine load
            for name, fn in (("rlvr", rlvr), ("generate", hf_generate)):
                torch.manual_seed(0)
                started = time.perf_counter()
                produced = fn(forced)
                rates[name].append(produced / (time.perf_counter() - started))
        a, b = statistics.median(rates["rlvr"]), statistics.median(rates["generate"])
        print(f"| {'forced' if forced else 'natural (EOS)'} | {a:.0f} | {b:.0f} | {a / b:.2f}x |")
    sampler.close()
    sys.stdout.flush()
    os._exit(0)  # the table is out; skip interpreter teardown (it aborted once in a C++ thread destructor here)


if __name__ == "__main__":
    main()
