"""The entry point of a multi-process (DDP / FSDP) training run, started by torchrun or accelerate on every rank.

    rlvr launch --nproc_per_node 2 -c configs/arith_grpo_ddp.yaml [key=value ...]   (torchrun in-process: flows/torchrun.py)
    torchrun --nproc_per_node 2 --master_addr 127.0.0.1 -m rlvr.flows.launch -c configs/arith_grpo_ddp.yaml
    accelerate launch --num_processes 2 -m rlvr.flows.launch -c configs/arith_grpo_ddp.yaml [key=value ...]

Each rank builds the same Trainer and trains to `train.steps`, resuming from the run dir's newest valid
checkpoint. No Prefect flow here: one flow run per rank would mean N flow runs for one training. Rank 0 does what
the training flow does around the steps: reports to the `train.report_to` trackers, draws `curves.png`, and
announces each checkpoint as `rlvr.checkpoint.saved` when `PREFECT_API_URL` names a server. docs/scaleout.md
says what a rank does. The holds and failures are those of `rlvr train` (flows/locks.py, flows/errors.py):
- Every rank joins the process group first, then rank 0 takes the run-directory lock and tells the others
  whether it got it; each rank that holds a device (below) takes its slot and all ranks learn whether every
  one did. So a refused job ends on every rank at once, never with ranks left waiting in a collective, and
  the rank that was refused says why in one line (a second launch or `rlvr train` on the same
  `train.checkpoint.dir`: `rlvr: run directory ... is in use by pid ...`).
- Devices: on CUDA each rank holds its own GPU (`cuda:LOCAL_RANK`). On a CPU the ranks of a job share the
  one device, so the job holds one slot per machine (local rank 0 takes it): the job is one run on that CPU,
  which keeps other runs off it, and a 2-rank job starts with the default of 1 slot per device (a slot per
  rank would need `--device-slots N` for a job to start at all).
- A failure ends in one `rlvr: ... (full log: FILE)` line per failing rank (ranks other than 0 say
  `rlvr: rank N: ...`), exit 2 for input the user can fix, 1 otherwise; torchrun itself then exits 1 (`rlvr
  launch` exits with the rank's code). A rank whose collective failed because another rank's process is gone (the
  OOM killer) says so in a few words (`PeerLost`), rank 0 of a ddp job keeping its last completed step as at a
  stop; `rlvr launch` then names the rank that ended first and how. From its first failure on, a rank defers
  stop signals (torchrun's agent sends SIGTERM to every rank once one has ended): they cannot cut its save or
  its line short.
  Ctrl-C or SIGTERM stops every rank within seconds (rank 0 alone says so; exit 130 / 143), also after the last
  checkpoint (the line then says training had finished).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import ExitStack
from typing import NoReturn

from torch.distributed.checkpoint.api import CheckpointException

from rlvr.flows.artifacts import draw_curves
from rlvr.flows.errors import BadInput, PeerLost, end_run_log, exit_code, report_failure, start_run_log
from rlvr.flows.locks import device_hold, run_dir_lock
from rlvr.flows.stopping import (defer_stops, end_stopped_run, install_stop_handlers, note_resume,
                                 raise_deferred_stop, save_at_stop)
from rlvr.trainers import distributed

NOTES_ENV = "RLVR_LAUNCH_NOTES"  # a folder `rlvr launch` gives its ranks, for how each ended (flows/torchrun.py)


class Refused(RuntimeError):
    """A rank of the job could not start (a hold refused, bad input); that rank has already said why."""

    def __init__(self, code: int):
        super().__init__(f"a rank of the job could not start (exit {code})")
        self.code = code


def held_device(device: str, dist: distributed.Dist) -> str | None:
    """The device this rank holds for the job, or None when another rank on this machine holds it for all."""
    import torch

    if not dist.enabled or torch.device(device).type == "cuda":
        return distributed.rank_device(device, dist)  # each rank trains on its own GPU
    return device if dist.local_rank == 0 else None  # one CPU, shared by the job's ranks on this machine


def take_together(dist: distributed.Dist, attempt, report) -> None:
    """Run `attempt()` on this rank (None: nothing to do here); then every rank learns whether all succeeded.
    If not, the failing rank reports its error (`report(exc)`) BEFORE any rank leaves (a launcher stops the
    others as soon as one rank exits), then every rank raises Refused."""
    failed = None
    try:
        if attempt is not None:
            attempt()
    except Exception as exc:  # noqa: BLE001 - whatever it is, the other ranks must not wait for this one
        failed = exc
    codes = [code for code in dist.gather(None if failed is None else exit_code(failed)) if code is not None]
    if not codes:
        return
    if failed is not None:
        report(failed)
    dist.barrier()
    raise Refused(codes[0])


def check_rank_device(device: str, dist: distributed.Dist) -> None:
    """BadInput unless this rank's device exists; checked on every rank before the process group is joined, where
    torch's `set_device` would fail with an AttributeError (a CPU build) or `invalid device ordinal` (more ranks
    than GPUs), exit 1."""
    from rlvr.flows.bootstrap import check_device

    try:
        device = distributed.rank_device(device, dist)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    check_device(device)


def check_inputs(cfg) -> None:
    """What `rlvr train` checks before the device (flows/bootstrap.py), besides the device itself (checked by every
    rank first, `check_rank_device`): the training data (and a DPO pairs file) and the model path."""
    from rlvr.flows.bootstrap import check_model_path, load_dpo_pairs, load_task_problems
    from rlvr.flows.tracking import check_trackers

    check_trackers(cfg.train.report_to, cfg.name)
    load_task_problems(cfg.task, "training")
    load_dpo_pairs(cfg.train)
    check_model_path(cfg.model.path, cfg.sampler.max_model_len)


def train(args: argparse.Namespace, report) -> int:
    from rlvr.trainers.loop import Trainer
    from rlvr.trainers.run_config import load_config

    cfg = load_config(args.config, args.overrides)
    check_rank_device(cfg.model.device, distributed.from_env())  # set_device in setup would fail without a line
    dist, created = distributed.setup(cfg.model.device)  # first: whatever refuses the job then reaches every rank
    say = print if dist.is_main else (lambda m: print(f"[rank {dist.rank}] {m}", flush=True))
    try:
        with ExitStack() as holds:

            def lock_and_check() -> None:
                holds.enter_context(run_dir_lock(cfg.train.checkpoint.dir))
                check_inputs(cfg)

            take_together(dist, lock_and_check if dist.is_main else None, report)
            device = held_device(cfg.model.device, dist)
            hold = device_hold(device, args.device_slots, args.device_timeout, log=say) if device else None
            take_together(dist, (lambda: holds.enter_context(hold)) if hold else None, report)
            trainer = Trainer(cfg, resume=True, log=lambda m: print(m, flush=True))
            holds.callback(trainer.close)
            on_step, on_checkpoint = _rank0_hooks(cfg, trainer, holds) if dist.is_main else (None, None)
            if trainer.step >= cfg.train.steps and dist.is_main:  # as `rlvr train` says it
                say(f"nothing to train: {cfg.name} is already at step {trainer.step} of {cfg.train.steps}")
            _run_steps(trainer, on_step=on_step, on_checkpoint=on_checkpoint)
            # a stop from here on waits for the wrap-up (the curves, closing the trainer), then ends the run with a
            # line saying the training is complete. Raised into that work, it could land in a weakref callback,
            # where Python prints it as "Exception ignored" with a traceback and goes on.
            defer_stops()
            last = trainer.run_dir / "checkpoints" / f"step-{trainer.step}"
            note_resume(f"training had finished: saved {last} (step {trainer.step} of {cfg.train.steps})")
            if dist.is_main:
                draw_curves(trainer.run_dir, cfg.name, trainer.metrics.read())
    finally:
        distributed.teardown(created)
    raise_deferred_stop()
    return 0


def _run_steps(trainer, **hooks) -> None:
    """`trainer.train`, and `_ended_early` if it ends early. A stop signal can still raise as that begins (the
    first Python call after a collective's error runs the handler of a SIGTERM that came meanwhile): the run then
    ends as a stop, which keeps the last completed step as well."""
    try:
        trainer.train(**hooks)
    except BaseException as end:  # noqa: BLE001 - re-raised by _ended_early
        try:
            _ended_early(end, trainer)
        except KeyboardInterrupt as stop:
            if stop.__context__ is not end:  # `end` itself, re-raised
                raise
            _ended_early(stop, trainer)


def _ended_early(end: BaseException, trainer) -> NoReturn:
    """Re-raise how training ended early, having kept the last completed step (rank 0 of a ddp job; `save_at_stop`)
    when a stop signal or a lost peer rank ended it; a lost peer as `PeerLost`. From here on stop signals are
    deferred: torchrun's SIGTERM follows a peer's death, and a Stopped raised into the save would cut it short.
    A stop that came first is said as a stop, even if a peer's loss is in its context: a SIGTERM to the launcher
    reaches every rank, and the first to end breaks the collective that the others wait in."""
    defer_stops()  # a second signal still ends the process at once
    cause = None if isinstance(end, KeyboardInterrupt) else distributed.lost_peer(end)
    if cause is not None:
        raise PeerLost(cause, save_at_stop(end, trainer)) from end
    if isinstance(end, KeyboardInterrupt):
        save_at_stop(end, trainer)
    raise end


def _rank0_hooks(cfg, trainer, holds: ExitStack):
    """What `rlvr train` does around the steps, done by rank 0 alone: each step's metrics to the `train.report_to`
    trackers, and each checkpoint announced as `rlvr.checkpoint.saved` when a Prefect server is configured (it is
    what evaluates on that event; without one there is nothing to send to)."""
    from rlvr.flows.tracking import open_tracker

    tracker = open_tracker(cfg, trainer.run_dir, trainer.step)
    holds.callback(tracker.close)

    def on_checkpoint(path, step) -> None:
        if os.environ.get("PREFECT_API_URL"):
            from rlvr.flows.events import emit_checkpoint_saved

            emit_checkpoint_saved(path, step, cfg.name)

    return tracker.log, on_checkpoint


def _checkpoint_failure(exc: CheckpointException) -> RuntimeError:
    """A one-line error for a torch.distributed.checkpoint failure; the log file still gets its traceback."""
    from rlvr.trainers.fsdp_checkpoint import failure

    error = RuntimeError(f"torch.distributed.checkpoint failed ({failure(exc)})")
    error.__cause__ = exc
    return error


def _fail(exc: BaseException, log_path, prog: str) -> int:
    """This rank's failure line (flows/errors.report_failure) and exit code; a collective that lost its peer is
    said as `PeerLost`."""
    defer_stops()  # torchrun's agent stops the other ranks once one has ended: its SIGTERM must not cut this short
    cause = None if isinstance(exc, PeerLost) else distributed.lost_peer(exc)
    if cause is not None:
        lost = PeerLost(cause)
        lost.__cause__ = exc  # the log file keeps gloo's traceback
        exc = lost
    _leave_note(said=True, lost_peer=isinstance(exc, PeerLost))
    return report_failure(exc, log_path, prog=prog)


def _leave_note(**note) -> None:
    """Tell `rlvr launch` how this rank ended (`said`: it printed its closing line; `lost_peer`: it ended because
    another rank had), so that its own line names the rank that ended first and is not a second closing line.
    Under plain torchrun there is no folder and nothing to do."""
    folder = os.environ.get(NOTES_ENV)
    if folder:
        try:
            with open(os.path.join(folder, f"rank-{distributed.from_env().rank}.json"), "w") as fh:
                json.dump(note, fh)
        except OSError:  # the launcher is gone: nobody to tell
            pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rlvr.flows.launch",
                                     description="train on this rank (no final evaluation: run `rlvr eval` on a "
                                                 "checkpoint the job wrote)")
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    parser.add_argument("--device-slots", type=int, default=None, metavar="N",
                        help="runs that may share a device at once (default: $RLVR_DEVICE_SLOTS or 1)")
    parser.add_argument("--device-timeout", type=float, default=None, metavar="SECONDS",
                        help="give up (exit 1) if a device is still held by others after this long (default: wait)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dist = distributed.from_env()  # this process's rank, from the launcher's environment (no group yet)
    prog = "rlvr" if dist.is_main else f"rlvr: rank {dist.rank}"
    log_path = start_run_log("launch" if dist.is_main else f"launch-rank{dist.rank}")
    restore_signals = install_stop_handlers(announce=dist.is_main, log_path=log_path)
    try:
        return train(args, report=lambda exc: _fail(exc, log_path, prog))
    except Refused as exc:  # said by the refused rank
        return exc.code
    except Exception as exc:  # noqa: BLE001 - every failure ends in one line and an exit code
        return _fail(exc, log_path, prog)
    except CheckpointException as exc:  # torch's, a BaseException; its own text is every rank's traceback
        return _fail(_checkpoint_failure(exc), log_path, prog)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM turned into Stopped: every rank gets it from the launcher
        _leave_note(said=dist.is_main)
        end_stopped_run(exc, log_path, prog=prog, console=dist.is_main)  # stops the verifier workers too
    finally:
        end_run_log(log_path)
        restore_signals()


if __name__ == "__main__":
    sys.exit(main())
