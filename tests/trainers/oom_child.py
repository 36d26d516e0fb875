"""One phase of a training step under an address-space limit a few MB above what the process already maps, so
that the phase's own allocations fail in torch's real CPU allocator; the failure ends as `rlvr train` ends it.

    python tests/trainers/oom_child.py MODEL_DIR RUN_DIR rollout|update MARGIN_MB

Prints the one closing line (stderr) and exits with its code, as the CLI does (flows/errors.py)."""

import resource
import sys


def mapped_bytes() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))


if __name__ == "__main__":
    from rlvr.flows.errors import report_failure, start_run_log
    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.run_config import validate_config

    model, run, phase, margin_mb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    cfg = validate_config({
        "model": {"path": model},
        "task": {"name": "arith", "level": 1},
        "sampler": {"backend": "hf", "hf_batch_size": 1024, "params": {"max_tokens": 64}},
        "verify": {"workers": 1},
        "train": {"steps": 1, "prompts_per_step": 8, "grpo": {"group_size": 64},
                  "optim": {"micro_batch_size": 512}, "checkpoint": {"dir": run}},
    })
    trainer = Trainer(cfg, resume=False, log=lambda _m: None)
    scored = trainer.collect() if phase == "update" else None
    log_path = start_run_log("oom-child")
    resource.setrlimit(resource.RLIMIT_AS, (mapped_bytes() + (margin_mb << 20), resource.RLIM_INFINITY))
    try:
        trainer.update(scored) if phase == "update" else trainer.collect()
        code = 0
        print("the phase fitted under the limit", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - ended as the CLI ends a run
        code = report_failure(exc, log_path)
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    trainer.close()
    sys.exit(code)
