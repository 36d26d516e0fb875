"""The entry point of a multi-process (DDP) training run, started by torchrun or accelerate on every rank.

    torchrun --nproc_per_node 2 --master_addr 127.0.0.1 -m rlvr.flows.launch -c configs/arith_grpo_ddp.yaml
    accelerate launch --num_processes 2 -m rlvr.flows.launch -c configs/arith_grpo_ddp.yaml [key=value ...]

Each rank builds the same Trainer (it joins the process group from RANK / WORLD_SIZE, trainers/distributed.py)
and trains to `train.steps`, resuming from the run dir's newest valid checkpoint. No Prefect here: one flow
run per rank would mean N flow runs for one training. docs/scaleout.md says what a rank does.
"""

from __future__ import annotations

import argparse
import sys

from rlvr.trainers.loop import Trainer
from rlvr.trainers.run_config import ConfigError, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlvr.flows.launch")
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"rlvr: {exc}", file=sys.stderr)
        return 2
    trainer = Trainer(cfg, resume=True, log=lambda m: print(m, flush=True))
    try:
        trainer.train()
    finally:
        trainer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
