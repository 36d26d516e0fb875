"""A Trainer's state in its checkpoints, both ways: what `Trainer.save` writes besides the weights (the optimizer and
scheduler states, the RNG states, the data cursor) and how a resumed run reads all of it back, on every rank.

    found = resumable(cfg, dist, sharded, log)   # before any model loads: a refusal costs nothing (trainers/resume.py)
    store = TrainerCheckpoints(cfg, dist, sharded, policy, optimizer, scheduler, log)
    path, step, cursor = store.restore(found)    # None: nothing to resume
    store.save(step, cursor)                     # rank 0 writes (DDP: the others wait); FSDP: every rank its shards

Which checkpoints a run may resume from, and what it refuses before loading anything, is trainers/resume.py; the
files themselves (atomic save, listing, `trainer_state.pt`) are trainers/checkpoint.py and, sharded,
trainers/fsdp_checkpoint.py. Here: a checkpoint that does not load is skipped for the next older one with one line
saying why, and every rank takes the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rlvr.trainers import checkpoint as ckpt
from rlvr.trainers import fsdp_checkpoint
from rlvr.trainers.distributed import Dist
from rlvr.trainers.optimizer import configured, keep_configured
from rlvr.trainers.resume import checkpoints_to_resume, why_not_resumable

Resumable = tuple[list[Path], bool]  # the checkpoints to try, oldest first; whether they are resume_from's


def resumable(cfg, dist: Dist, sharded: bool, log) -> Resumable:
    """The checkpoints to try, oldest first, and whether they are `train.checkpoint.resume_from`'s; refused
    (CheckpointError, on every rank) when the newest cannot be resumed by this config (trainers/resume.py).
    Rank 0 looks; the others wait for its answer. `sharded`: this run is FSDP over several ranks."""
    found, deliberate, refusal = [], False, None
    if dist.is_main:
        try:
            found, deliberate = checkpoints_to_resume(cfg.train.checkpoint.dir, cfg.train.checkpoint.resume_from)
            if found:
                refusal = why_not_resumable(found[-1], cfg.model_dump(mode="json"), sharded, deliberate, log)
        except ckpt.CheckpointError as exc:
            refusal = str(exc)
    found, deliberate, refusal = dist.broadcast((found, deliberate, refusal))
    if refusal:  # on every rank: none is left waiting for the others
        raise ckpt.CheckpointError(refusal)
    return found, deliberate


@dataclass
class TrainerCheckpoints:
    """Saves and restores what a Trainer trains: its policy, optimizer and scheduler (`sharded`: FSDP over several
    ranks; `dist`: the ranks, trainers/distributed.py)."""

    cfg: Any
    dist: Dist
    sharded: bool
    policy: Any
    optimizer: Any
    scheduler: Any
    log: Callable[[str], None]

    @property
    def run_dir(self) -> Path:
        return Path(self.cfg.train.checkpoint.dir)

    def save(self, step: int, cursor: int) -> Path:
        """A checkpoint of `step` (`cursor`: the data position the next step starts at), with the RNG states as they
        are now. FSDP: every rank writes its shards. Else rank 0 writes it and the others wait until it is complete."""
        if self.sharded:
            return self._save_sharded(step, cursor)
        path = self.save_whole(step, cursor, ckpt.rng_state()) if self.dist.is_main else \
            ckpt.checkpoints_dir(self.run_dir) / f"step-{step}"
        self.dist.barrier()
        return path

    def save_whole(self, step: int, cursor: int, rng: dict) -> Path:
        """The whole trainer state, written by this process alone (one process, or rank 0 of DDP's replicas), with
        the RNG states `rng` (`checkpoint.rng_state()` as `step` ended)."""
        state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(), "rng": rng,
                 "cursor": cursor}
        path = ckpt.save_checkpoint(self.run_dir, step, self.policy.save, state, self.cfg.model_dump(mode="json"),
                                    keep=self.cfg.train.checkpoint.keep, protect=self._best())
        self.log(f"checkpoint saved: {path}")
        return path

    def _save_sharded(self, step: int, cursor: int) -> Path:
        """FSDP: every rank writes its shards (DCP) and joins the streamed HF export (trainers/fsdp_checkpoint.py)."""
        state = {"scheduler": self.scheduler.state_dict(), "rng": ckpt.rng_state(), "cursor": cursor}
        path = fsdp_checkpoint.save_checkpoint(self.run_dir, step, self.policy, self.optimizer, state,
                                               self.cfg.model_dump(mode="json"), self.dist,
                                               keep=self.cfg.train.checkpoint.keep, protect=self._best())
        self.log(f"checkpoint saved: {path}")
        return path

    def _best(self) -> tuple[Path, ...]:
        """The checkpoint `best` points at (flows/eval_basis.py): pruning keeps it."""
        best = self.run_dir / "best"
        return (best.resolve(),) if best.exists() else ()

    def restore(self, found: Resumable) -> tuple[Path, int, int] | None:
        """Load the newest of the `found` checkpoints (`resumable`) that loads, and return it with its step and data
        cursor; None when there are none. Each newer one that does not load is skipped with one line saying why.
        Every rank tries the same ones in the same order (a sharded checkpoint loads as a collective) and all take
        the first that loaded on every rank. The run config's optimizer hyper-parameters and lr schedule replace
        the checkpoint's (`optimizer.keep_configured`)."""
        candidates, deliberate = found
        settings = configured(self.optimizer)  # as built from this config, before a checkpoint's state replaces them
        for path in reversed(candidates):
            state = self._load_on_every_rank(path)
            if state is not None:
                break
        else:
            if candidates:
                where = candidates[-1].parent
                fix = "name another train.checkpoint.resume_from" if deliberate else "move them aside to start over"
                raise ckpt.CheckpointError(f"no checkpoint in {where} loads (see above); {fix}")
            return None
        self.scheduler.load_state_dict(state["scheduler"])
        keep_configured(self.optimizer, self.scheduler, settings)
        ckpt.set_rng_state(state["rng"])
        self.log(f"resumed from {path} (step {state['step']})")
        return path, state["step"], state["cursor"]

    def _load_on_every_rank(self, path: Path) -> dict | None:
        """The trainer state of `path` once its weights and optimizer state are loaded on every rank; None (and one
        line saying why) when any rank's load failed. The ranks agree before the collective sharded load, so a
        checkpoint that one rank finds damaged never leaves the others waiting in it."""
        state = {}
        why = self._failed_anywhere(lambda: state.update(self._load(path)))
        if why is None and fsdp_checkpoint.is_sharded_checkpoint(path):
            why = self._failed_anywhere(lambda: fsdp_checkpoint.load_sharded(path, self.policy, self.optimizer))
        if why is not None:
            self.log(f"skipped checkpoint {path}: {why}")
            return None
        return state

    def _failed_anywhere(self, load) -> str | None:
        """Run `load()` on this rank; the first rank's CheckpointError message, or None if it succeeded on all."""
        try:
            load()
            why = None
        except ckpt.CheckpointError as exc:
            why = str(exc)
        return next((reason for reason in self.dist.gather(why) if reason), None)

    def _load(self, path: Path) -> dict:
        """The checkpoint's trainer state, after its weights and optimizer state are loaded (a sharded checkpoint's:
        only checked here, `fsdp_checkpoint.load_sharded` loads them on every rank at once); CheckpointError if any
        of them is missing or unreadable (the policy is left as it was when the state file fails)."""
        state = ckpt.load_state(path)
        if fsdp_checkpoint.is_sharded_checkpoint(path):
            fsdp_checkpoint.check(path)
            return state
        if "optimizer" not in state:  # an FSDP save keeps its optimizer state in sharded/
            raise ckpt.CheckpointError(f"{fsdp_checkpoint.SHARDED_DIR}/ is missing (this FSDP checkpoint's weights "
                                       "and optimizer state)")
        if self.sharded:
            raise ckpt.CheckpointError("it was written by one process or a ddp run; train.parallel=fsdp resumes FSDP "
                                       "checkpoints (start a new run from its model/ as model.path)")
        try:
            self.policy.load(path / ckpt.MODEL_DIR)
        except ckpt.UNREADABLE as exc:
            raise ckpt.CheckpointError(f"its weights do not load ({ckpt.describe(exc)})") from None
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except ckpt.UNREADABLE as exc:
            raise ckpt.CheckpointError(f"its optimizer state does not load ({ckpt.describe(exc)})") from None
        return state
