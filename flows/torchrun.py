"""`rlvr launch`: torchrun with rlvr's rank entry point (flows/launch.py), run inside this process so that a
multi-process job ends like every other rlvr command, in one line and with an exit code that means something.

    rlvr launch --nproc_per_node 8 -c configs/arith_grpo_ddp.yaml model.device=cuda [key=value ...]

Everything before `-c` (or before a `--`) is torchrun's, parsed by torchrun's own parser; the rest is what
`python -m rlvr.flows.launch` takes. Why not plain `torchrun -m rlvr.flows.launch` (which still works): torchrun
exits 1 whatever its ranks exited with, so a scheduler cannot tell bad input (2) from a crash (1) or a stop
(130/143), and under the ranks' own one-line reasons it prints its ChildFailedError traceback and a failure
table. Here:
- the run config is validated once, before any rank starts (a typo is one line, not one per rank);
- when ranks fail, each has said why in its own line; the launcher adds one line naming each failed rank's exit
  code or signal (a rank killed by the kernel, say for memory, says nothing itself), and exits with the code of
  the first rank that failed on its own (see `exit_code`). When a rank was killed (SIGKILL: the OOM killer)
  and the others ended after it (they lost their peer, or torchrun stopped them), the line names the killed
  rank first, with a hint, and where the run resumes;
- SIGTERM or Ctrl-C to the launcher reaches every rank (torchrun's agent passes it on); the ranks say they
  stopped, and the launcher exits 128 + the signal, without a traceback. When no rank said it (they had all
  finished, or died before their handlers), the launcher says it, with where the run stands on disk.
Each rank leaves a note of how it ended in a folder named by $RLVR_LAUNCH_NOTES (flows/launch.py): whether it
printed its closing line, and whether it ended because it lost a peer rank.
torchrun's elastic agent logs each failure and the signals it forwards; those lines repeat what the ranks and the
launcher's line say, so its loggers are set to CRITICAL here (its other output, such as the OMP_NUM_THREADS note,
comes from torchrun's own module and stays).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

from rlvr.flows.errors import BadInput

RANK_MODULE = "rlvr.flows.launch"
USAGE = "rlvr launch [torchrun options] -c FILE [key=value ...] [--device-slots N] [--device-timeout SECONDS]"
_STOPS = {128 + signal.SIGTERM, 128 + signal.SIGINT}  # a rank's exit code after a stop (flows/errors.py)
_AGENT_SIGNALS = {signal.SIGTERM, signal.SIGINT}  # what torchrun's agent stops ranks with (passed on, or its own)
_KILL_HINTS = {"SIGKILL": "out of memory? the kernel's OOM killer sends SIGKILL: see `dmesg`",
               "SIGSEGV": "a crash in native code", "SIGBUS": "a crash in native code",
               "SIGABRT": "aborted by native code: see its output above"}
_SCRIPT_OPTIONS = {"-m", "--module", "--no-python", "--no_python", "--run-path", "--run_path"}


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """(torchrun's options, the rank entry point's arguments): split at `--` (dropped) or at `-c`/`--config`."""
    for i, arg in enumerate(argv):
        if arg == "--":
            return argv[:i], argv[i + 1:]
        if arg in ("-c", "--config") or arg.startswith("--config="):
            return argv[:i], argv[i:]
    raise BadInput(f"launch: no run config; usage: {USAGE}")


def torchrun_args(torchrun_options: list[str], rank_args: list[str]):
    """torchrun's parsed arguments for a job whose every rank runs `python -m rlvr.flows.launch RANK_ARGS`."""
    chosen = sorted(_SCRIPT_OPTIONS.intersection(o.split("=")[0] for o in torchrun_options))
    if chosen:
        raise BadInput(f"launch: {', '.join(chosen)}: rlvr launch chooses what each rank runs "
                       f"({RANK_MODULE}); use torchrun directly for another script")
    parser = _torchrun_parser()
    return parser.parse_args([*torchrun_options, "--module", RANK_MODULE, *rank_args])


def _torchrun_parser():
    """torchrun's own parser, with a refused option as one BadInput line instead of its usage text and exit."""
    from torch.distributed.run import get_args_parser

    parser = get_args_parser()
    parser.prog = "rlvr launch"

    def refuse(message: str):
        raise BadInput(f"launch: {message} (torchrun's options: rlvr launch --help)")

    parser.error = refuse
    return parser


def failure_line(failures: dict, lost_peer=(), kept: str = "") -> str:
    """One line for torchrun's failed ranks ({global rank: ProcessFailure}). `lost_peer`: the ranks that ended
    because another rank had (flows/launch.PeerLost); `kept`: where the run stands on disk (`on_disk`)."""
    killed = sorted(rank for rank, failure in failures.items() if _killed(failure))
    after = [rank for rank in sorted(failures) if rank not in killed]
    if killed:  # the ones killed first, then what followed (gloo's lost peer, torchrun's SIGTERM), if any
        how = ", ".join(f"rank {rank} was killed by {_signal_name(-failures[rank].exitcode)}" for rank in killed)
        hints = sorted({_KILL_HINTS.get(_signal_name(-failures[rank].exitcode), "") for rank in killed} - {""})
        hint = f" ({'; '.join(hints)})" if hints else ""
        then = ", ".join(_after(rank, failures[rank], rank in lost_peer) for rank in after)
        return (f"rlvr launch: {how}{hint}" + (f", and the job ended with it: {then}" if then else "")
                + (f"; {kept}" if kept else ""))
    parts = []
    for rank in sorted(failures):
        code = failures[rank].exitcode
        parts.append(f"rank {rank} exited {code}" if code >= 0 else f"rank {rank} ended by {_signal_name(-code)}")
    said = any(f.exitcode >= 0 for f in failures.values())
    why = ("each rank's own line says why" if said
           else "a rank ended by a signal says nothing itself: see the system log")
    return f"rlvr launch: {len(failures)} rank{'s' if len(failures) > 1 else ''} failed: {', '.join(parts)} ({why})"


def _killed(failure) -> bool:
    """Ended by a signal that torchrun's agent does not send: the kernel's (SIGKILL for memory, SIGSEGV)."""
    return failure.exitcode < 0 and -failure.exitcode not in _AGENT_SIGNALS


def _after(rank: int, failure, lost_peer: bool) -> str:
    """How a rank that ended after a killed one ended."""
    code = failure.exitcode
    if lost_peer:
        return f"rank {rank} lost its peer (exit {code})" if code >= 0 else f"rank {rank} lost its peer"
    if code in _STOPS or -code in _AGENT_SIGNALS:
        return f"rank {rank} was stopped by torchrun ({f'exit {code}' if code >= 0 else _signal_name(-code)})"
    return f"rank {rank} exited {code}"


def exit_code(failures: dict, lost_peer=()) -> int:
    """The job's exit code: that of the first rank to fail on its own. torchrun's agent stops the other ranks
    with SIGTERM, which says nothing of the cause: a rank killed by it (a negative code), one that stopped on it
    (rlvr's 143, 130 for SIGINT) or one that lost its peer (`lost_peer`: its collective failed because another
    rank had ended) counts only when no rank failed otherwise. A signal N is 128 + N, as a shell reports it."""
    by_time = sorted(failures.items(), key=lambda item: item[1].timestamp)
    codes = [(rank, f.exitcode if f.exitcode >= 0 else 128 - f.exitcode) for rank, f in by_time]
    causes = [code for rank, code in codes if code not in _STOPS and rank not in lost_peer]
    return (causes or [code for _, code in codes])[0]


def on_disk(run_dir: str, steps: int) -> str:
    """Where the run stands on disk, for a line that no rank could say (it was killed, or had ended)."""
    from rlvr.trainers.checkpoint import latest_checkpoint, step_of

    last = latest_checkpoint(run_dir)
    if last is None:
        return "no checkpoint was written: the same command starts from the beginning"
    if step_of(last) >= steps:
        return f"training had finished: saved {last} (step {step_of(last)} of {steps})"
    return f"the newest checkpoint is {last}: the same command resumes from step {step_of(last)}"


def _read_notes(folder: str) -> dict[int, dict]:
    """{rank: its note} (flows/launch._leave_note); a rank that left none was killed or ended quietly."""
    notes = {}
    for path in Path(folder).glob("rank-*.json"):
        try:
            notes[int(path.stem[5:])] = json.loads(path.read_text())
        except (OSError, ValueError):  # cut short by a kill: as if it had left none
            pass
    return notes


def run_job(torchrun_options: list[str], rank_args: list[str]) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import run

    from rlvr.flows.launch import NOTES_ENV, build_parser
    from rlvr.trainers.run_config import load_config

    args = torchrun_args(torchrun_options, rank_args)
    parser = build_parser()
    parser.prog = "rlvr launch"  # its errors are about this command line (the ranks run `python -m rlvr.flows.launch`)
    ours = parser.parse_args(rank_args)
    cfg = load_config(ours.config, ours.overrides)  # bad config: one line here rather than one per rank
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    where = cfg.train.checkpoint.dir, cfg.train.steps
    with tempfile.TemporaryDirectory(prefix="rlvr-launch-") as folder:
        os.environ[NOTES_ENV] = folder  # the ranks inherit the launcher's environment
        try:
            run(args)
        except ChildFailedError as exc:
            lost_peer = {rank for rank, note in _read_notes(folder).items() if note.get("lost_peer")}
            print(failure_line(exc.failures, lost_peer, on_disk(*where)), file=sys.stderr, flush=True)
            return exit_code(exc.failures, lost_peer)
        except SignalException as exc:  # the agent has already passed the signal on to the ranks and waited for them
            if not any(note.get("said") for note in _read_notes(folder).values()):  # e.g. after the last step
                name = _signal_name(int(exc.sigval))
                print(f"rlvr: stopped by {name}; {on_disk(*where)}", file=sys.stderr, flush=True)
            return 128 + int(exc.sigval)
        finally:
            os.environ.pop(NOTES_ENV, None)
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: {USAGE}\n\nThe options before -c are torchrun's:\n")
        print(_torchrun_parser().format_help())
        return 0
    return run_job(*split_argv(argv))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
