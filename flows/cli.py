"""`rlvr` command line: a thin layer over the flows and the library.

    rlvr bootstrap [--copy-from DIR]  build (or find cached) the tiny offline model; print its path
    rlvr config [-c FILE] [k=v ...] validate a run config and print it as YAML
    rlvr verify FILE.jsonl          verify a file of completions; summary by status
    rlvr train -c FILE [k=v ...]    train (Prefect flow); resumes from the latest checkpoint unless --no-resume
    rlvr eval TARGET [-c FILE] [k=v ...]   evaluate a checkpoint dir, a model dir/hub id or 'tiny'
    rlvr serve [-c FILE] [k=v ...]  register the train + evaluate deployments and run them here
    rlvr demo [-c FILE] [k=v ...]   offline demo: evaluate tiny model, GRPO-train it, evaluate again
    rlvr launch [torchrun options] -c FILE [k=v ...]   multi-process training (DDP/FSDP) under torchrun

Flows run in Prefect's ephemeral mode unless PREFECT_API_URL points at a server. A failed command ends with
one `rlvr: <what and where>` line and exits 2 for bad input (config, data, model path, checkpoint), 1 otherwise;
the full log of a flow command (tracebacks included) is in the file that line names. Ctrl-C or SIGTERM stops
a run within seconds (exit 130/143); the same command resumes it. See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import os
import sys

import yaml
from rlvr.trainers.run_config import load_config

FLOW_COMMANDS = ("train", "eval", "serve", "demo", "bootstrap")


def _cmd_bootstrap(args: argparse.Namespace) -> int:
    from rlvr.trainers.bootstrap import bootstrap_tiny

    print(bootstrap_tiny(copy_from=tuple(args.copy_from)))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), end="")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from rlvr.verifiers.cli import main as verify_main

    try:
        return verify_main(args.rest)
    except KeyboardInterrupt as stop:  # scoring has nothing to resume: say what a rerun redoes
        stop.resume_note = "nothing was written (the summary and --out come when every line is scored); rerun to score"
        raise


def _cmd_launch(args: argparse.Namespace) -> int:
    from rlvr.flows.torchrun import main as launch_main

    return launch_main(args.rest)


def _cmd_train(args: argparse.Namespace) -> int:
    from rlvr.flows.bootstrap import check_device, check_model_path, check_run_dir, load_dpo_pairs

    # fail fast, before Prefect's temporary server starts (~10 s); the flow is told, so a hub id costs one hub call
    # (run without this command, served or from Python, the flow checks the path itself). The device and a DPO pairs
    # file are cheap to check, so the flow checks them again rather than being told.
    cfg = load_config(args.config, args.overrides)
    check_run_dir(cfg.train.checkpoint.dir)
    check_model_path(cfg.model.path, cfg.sampler.max_model_len)
    check_device(cfg.model.device)
    load_dpo_pairs(cfg.train)
    from rlvr.flows.temporary_server import start_temporary_server
    from rlvr.flows.train import train_flow

    start_temporary_server()
    result = train_flow(config_path=args.config, overrides=args.overrides, resume=args.resume, final_eval=args.eval,
                        device_slots=args.device_slots, device_timeout=args.device_timeout, model_checked=True)
    print(f"trained {result['run_dir']} to step {result['step']}; checkpoint {result['checkpoint']}")
    if result["eval"]:
        print(f"eval score (mean pass@1) {result['eval']['score']:.3f}; report {result['eval']['saved']['report']}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from rlvr.flows.eval_report import report_markdown
    from rlvr.flows.eval_target import eval_config, resolve_target
    from rlvr.flows.evaluate import check_eval_inputs, evaluate_flow
    from rlvr.flows.temporary_server import start_temporary_server

    target = resolve_target(args.target)
    cfg = eval_config(target, args.config, args.overrides)  # fail fast, before Prefect starts (~7 s and its lines)
    check_eval_inputs(target, cfg)  # once: the flow is told (a served run, without this command, checks them itself)
    start_temporary_server()
    report = evaluate_flow(args.target, config_path=args.config, overrides=args.overrides,
                           device_slots=args.device_slots, device_timeout=args.device_timeout, inputs_checked=True)
    print(report_markdown(report), end="")
    print(f"report: {report['saved']['report']}" + (" (new best of its run)" if report["saved"]["best"] else ""))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from rlvr.flows.demo import default_config
    from rlvr.flows.deployments import TRAIN_CRON, serve_deployments

    serve_deployments(args.config or default_config(), args.overrides,
                      cron=None if args.no_schedule else (args.cron or TRAIN_CRON), limit=args.limit,
                      catch_up_every=args.catch_up_every)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from rlvr.flows.demo import default_config, demo_flow

    config = args.config or default_config()
    load_config(config, args.overrides)
    from rlvr.flows.temporary_server import start_temporary_server

    start_temporary_server()
    print(demo_flow(config_path=config, overrides=args.overrides)["summary"])
    return 0


def _with_config(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("-c", "--config", help="YAML run config (see configs/)")
    sub.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. train.steps=5")


def _with_device(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--device-slots", type=int, default=None, metavar="N",
                     help="runs that may share the device at once (default: $RLVR_DEVICE_SLOTS or 1)")
    sub.add_argument("--device-timeout", type=float, default=None, metavar="SECONDS",
                     help="give up (exit 1) if the device is still held by others after this long (default: wait)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlvr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    subs = parser.add_subparsers(dest="command", required=True)
    boot = subs.add_parser("bootstrap", help="build the tiny offline model")
    boot.add_argument("--copy-from", action="append", default=[], metavar="CACHE_DIR",
                      help="another rlvr cache (e.g. ~/.cache/rlvr); its finished build of the same recipe is "
                           "copied instead of rebuilt (repeatable)")
    boot.set_defaults(func=_cmd_bootstrap)
    config = subs.add_parser("config", help="validate and print a run config")
    _with_config(config)
    config.set_defaults(func=_cmd_config)
    # verify's options (and -h) are its own parser's, in verifiers/cli.py: `main` hands it all of argv after "verify"
    verify = subs.add_parser("verify", help="verify a JSONL file of completions", add_help=False)
    verify.add_argument("rest", nargs=argparse.REMAINDER)
    verify.set_defaults(func=_cmd_verify)
    train = subs.add_parser("train", help="train with a run config (Prefect flow)")
    _with_config(train)
    train.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                       help="continue from the latest checkpoint (default); --no-resume fails if one exists")
    train.add_argument("--eval", action=argparse.BooleanOptionalAction, default=True,
                       help="evaluate the final checkpoint (default)")
    _with_device(train)
    train.set_defaults(func=_cmd_train)
    ev = subs.add_parser("eval", help="evaluate a checkpoint or a model (Prefect flow)")
    ev.add_argument("target", help="checkpoint dir (runs/X/checkpoints/step-N), model dir, hub id, or 'tiny'")
    _with_config(ev)
    _with_device(ev)
    ev.set_defaults(func=_cmd_eval)
    serve = subs.add_parser("serve", help="serve the train and evaluate deployments from this machine",
                            description="Without -c: configs/arith_grpo.yaml of the current directory, else of "
                                        "the rlvr source tree. The k=v are the training deployment's "
                                        "serve_overrides; a run's own overrides parameter is applied after them. "
                                        "Ctrl-C stops the flow runs under way as it stops `rlvr train` (a training "
                                        "saves its last completed step) and exits 130.")
    _with_config(serve)
    serve.add_argument("--cron", help="training schedule, a cron expression (default: nightly, '0 2 * * *')")
    serve.add_argument("--no-schedule", action="store_true", help="register the training without a schedule")
    serve.add_argument("--limit", type=int, default=None, metavar="N",
                       help="at most N >= 1 flow runs at once (default: no limit); a training and each evaluation "
                            "take one, so with 1 a catch-up evaluation holds off the scheduled training")
    serve.add_argument("--catch-up-every", type=float, default=30.0, metavar="SECONDS",
                       help="look for checkpoints whose evaluation never ran this often (default: 30)")
    serve.set_defaults(func=_cmd_serve)
    launch = subs.add_parser("launch", help="train on several processes (torchrun's options, then -c FILE k=v ...)",
                             add_help=False)
    launch.add_argument("rest", nargs=argparse.REMAINDER)
    launch.set_defaults(func=_cmd_launch)
    demo = subs.add_parser("demo", help="offline demo: evaluate, GRPO-train and re-evaluate the tiny model",
                           description="Without -c: configs/arith_grpo.yaml of the current directory, else of the "
                                       "rlvr source tree. Run directories are made under the current directory.")
    _with_config(demo)
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Offline-friendly Prefect defaults (an explicit setting wins): no telemetry, and time for the ephemeral
    # API server to start on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    # launch: all of it is torchrun's and the ranks'; verify: all of it is verifiers/cli.py's (options before or after
    # the file, -h). argparse's REMAINDER would refuse leading options, so both skip this parser.
    if argv[:1] in (["launch"], ["verify"]):
        func = _cmd_launch if argv[0] == "launch" else _cmd_verify
        args, extra = argparse.Namespace(command=argv[0], func=func, rest=argv[1:]), []
    else:
        args, extra = parser.parse_known_args(argv)
    if extra:  # overrides after an option (`rlvr eval tiny -c FILE k=v`) are left over by argparse
        if not hasattr(args, "overrides") or any(e.startswith("-") or "=" not in e for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    log_path, restore_signals = None, None
    if args.command in FLOW_COMMANDS:
        from rlvr.flows.errors import quiet_console
        from rlvr.flows.stopping import install_stop_handlers

        restore_signals = install_stop_handlers()
        import prefect.main  # noqa: F401 - sets up Prefect's logging, which quiet_console adjusts

        quiet_console()
    from rlvr.flows.errors import start_run_log
    from rlvr.flows.stopping import name_log

    log_path = start_run_log(args.command)  # the file is created on the first record or failure only
    name_log(log_path)
    try:
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - every failure ends in one line and an exit code
        from rlvr.flows.errors import report_failure

        return report_failure(exc, log_path)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM turned into Stopped
        from rlvr.flows.stopping import end_stopped_run

        end_stopped_run(exc, log_path, drain_s=1.0)
    finally:
        from rlvr.flows.errors import end_run_log

        end_run_log(log_path)
        if restore_signals is not None:
            restore_signals()


if __name__ == "__main__":
    sys.exit(main())
