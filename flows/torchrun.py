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
  the first rank that failed on its own (see `exit_code`);
- SIGTERM or Ctrl-C to the launcher reaches every rank (torchrun's agent passes it on); the ranks say they
  stopped, and the launcher exits 128 + the signal, without a traceback.
torchrun's elastic agent logs each failure and the signals it forwards; those lines repeat what the ranks and the
launcher's line say, so its loggers are set to CRITICAL here (its other output, such as the OMP_NUM_THREADS note,
comes from torchrun's own module and stays).
"""

from __future__ import annotations

import logging
import signal
import sys

from rlvr.flows.errors import BadInput

RANK_MODULE = "rlvr.flows.launch"
USAGE = "rlvr launch [torchrun options] -c FILE [key=value ...] [--device-slots N] [--device-timeout SECONDS]"
_STOPS = {128 + signal.SIGTERM, 128 + signal.SIGINT}  # a rank's exit code after a stop (flows/errors.py)
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


def failure_line(failures: dict) -> str:
    """One line for torchrun's failed ranks ({global rank: ProcessFailure})."""
    parts = []
    for rank in sorted(failures):
        code = failures[rank].exitcode
        parts.append(f"rank {rank} exited {code}" if code >= 0 else f"rank {rank} ended by {_signal_name(-code)}")
    said = any(f.exitcode >= 0 for f in failures.values())
    why = ("each rank's own line says why" if said
           else "a rank ended by a signal says nothing itself: see the system log")
    return f"rlvr launch: {len(failures)} rank{'s' if len(failures) > 1 else ''} failed: {', '.join(parts)} ({why})"


def exit_code(failures: dict) -> int:
    """The job's exit code: that of the first rank to fail on its own. torchrun's agent stops the other ranks
    with SIGTERM, which says nothing of the cause: a rank killed by it (a negative code) or one that stopped on it
    (rlvr's 143, 130 for SIGINT) counts only when no rank failed otherwise. A signal N is 128 + N, as a shell
    reports it."""
    by_time = sorted(failures.values(), key=lambda f: f.timestamp)
    codes = [f.exitcode if f.exitcode >= 0 else 128 - f.exitcode for f in by_time]
    causes = [code for code in codes if code not in _STOPS]
    return (causes or codes)[0]


def run_job(torchrun_options: list[str], rank_args: list[str]) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import run

    from rlvr.flows.launch import build_parser
    from rlvr.trainers.run_config import load_config

    args = torchrun_args(torchrun_options, rank_args)
    parser = build_parser()
    parser.prog = "rlvr launch"  # its errors are about this command line (the ranks run `python -m rlvr.flows.launch`)
    ours = parser.parse_args(rank_args)
    load_config(ours.config, ours.overrides)  # bad config: one line here rather than one per rank
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        run(args)
    except ChildFailedError as exc:
        print(failure_line(exc.failures), file=sys.stderr, flush=True)
        return exit_code(exc.failures)
    except SignalException as exc:  # the agent has already passed the signal on to the ranks and waited for them
        return 128 + int(exc.sigval)
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
