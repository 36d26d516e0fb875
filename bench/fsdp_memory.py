"""Memory per rank: rlvr's ddp engine (replicated model, summed gradients) vs FSDP2 (`train.parallel: fsdp`),
same model, same step, 2 gloo ranks on CPU.

    python bench/fsdp_memory.py                       # ~100M-parameter Qwen2 (random init), 2 ranks
    python bench/fsdp_memory.py --layers 4 --hidden 256 --vocab 2048

Each rank builds the model (seeded), the engine prepares it (ddp: nothing; fsdp: `trainers.fsdp.shard_module`),
runs one forward/backward on a fixed batch, syncs gradients (ddp: `Dist.all_reduce_grads`; fsdp: reduce-scatter in
backward), clips and takes one AdamW step. Then it counts the bytes of what training keeps per rank: its
parameters, gradients and AdamW state (local shards under fsdp), and reads its resident memory (RSS now, and the
peak). Printed: per-rank bytes, bytes per model parameter, fsdp/ddp ratios, and the largest model whose training
state fits in 24 GiB at that many bytes per parameter (for fsdp at N ranks the state is 1/N: the measured 2-rank
figure times 2/N). Not counted: activations, the one layer FSDP gathers at a time, the CUDA context.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

import torch
import torch.distributed as tdist
import torch.multiprocessing as mp

GIB = 2**30


def _rss_now() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _local_bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        t = getattr(t, "_local_tensor", t)  # a DTensor's own shard
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
    return total


def _model(args):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(
        vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.hidden * 8 // 3,
        num_hidden_layers=args.layers, num_attention_heads=args.hidden // 64, num_key_value_heads=max(1, args.hidden // 256),
        tie_word_embeddings=True, max_position_embeddings=512,
    )
    torch.manual_seed(0)
    return Qwen2ForCausalLM(cfg)


def _rank(rank: int, world: int, engine: str, args, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    tdist.init_process_group("gloo", rank=rank, world_size=world)
    from rlvr.trainers import fsdp
    from rlvr.trainers.config import FSDPConfig
    from rlvr.trainers.distributed import Dist

    model = _model(args)
    n_params = sum(p.numel() for p in model.parameters())
    if engine == "fsdp":
        fsdp.shard_module(model, FSDPConfig())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq), generator=torch.Generator().manual_seed(rank))
    loss = model(input_ids=ids, labels=ids, use_cache=False).loss
    loss.backward()
    params = list(model.parameters())
    if engine == "ddp":
        Dist(rank=rank, world_size=world).all_reduce_grads(params)
    fsdp.clip_grad_norm(params, 1.0)
    optimizer.step()
    state = [t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t)]
    row = {
        "engine": engine, "rank": rank, "params": n_params,
        "param_bytes": _local_bytes(params), "grad_bytes": _local_bytes([p.grad for p in params]),
        "optim_bytes": _local_bytes(state), "rss_now": _rss_now(), "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    with open(out, "a") as fh:
        fh.write(json.dumps(row) + "\n")
    tdist.destroy_process_group()


def measure(engine: str, args, out: str) -> list[dict]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    Path(out).unlink(missing_ok=True)
    mp.spawn(_rank, args=(args.ranks, engine, args, port, out), nprocs=args.ranks, join=True)
    return [json.loads(line) for line in Path(out).read_text().splitlines()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--budget-gib", type=float, default=24.0)
    args = ap.parse_args(argv)
    rows = {e: measure(e, args, f"/tmp/rlvr-fsdp-memory-{e}.jsonl") for e in ("ddp", "fsdp")}
    n = rows["ddp"][0]["params"]
    print(f"model: {n / 1e6:.1f}M parameters (fp32), {args.ranks} ranks, gloo on CPU")
    print(f"{'engine':6} {'rank':>4} {'params MiB':>10} {'grads MiB':>9} {'AdamW MiB':>9} {'state B/param':>13} "
          f"{'RSS now MiB':>11} {'RSS peak MiB':>12}")
    per_param = {}
    for engine, ranks in rows.items():
        for r in sorted(ranks, key=lambda r: r["rank"]):
            state = r["param_bytes"] + r["grad_bytes"] + r["optim_bytes"]
            per_param.setdefault(engine, []).append(state / n)
            print(f"{engine:6} {r['rank']:>4} {r['param_bytes'] / 2**20:>10.1f} {r['grad_bytes'] / 2**20:>9.1f} "
                  f"{r['optim_bytes'] / 2**20:>9.1f} {state / n:>13.2f} {r['rss_now'] / 2**20:>11.0f} {r['rss_peak'] / 2**20:>12.0f}")
    ddp_bpp, fsdp_bpp = max(per_param["ddp"]), max(per_param["fsdp"])
    print(f"fsdp/ddp training state per rank: {fsdp_bpp / ddp_bpp:.3f}")
    budget = args.budget_gib * GIB
    print(f"largest model whose training state fits {args.budget_gib:g} GiB per rank (activations not counted):")
    print(f"  ddp  ({ddp_bpp:.2f} B/param, any number of ranks): {budget / ddp_bpp / 1e9:.2f}B parameters")
    for world in (args.ranks, 8):
        bpp = fsdp_bpp * args.ranks / world
        print(f"  fsdp ({bpp:.2f} B/param, {world} ranks): {budget / bpp / 1e9:.2f}B parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
