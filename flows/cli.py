"""`rlvr` command line: a thin layer over the flows and the library.

    rlvr bootstrap                  build (or find cached) the tiny offline model; print its path
    rlvr config [-c FILE] [k=v ...] validate a run config and print it as YAML
    rlvr verify FILE.jsonl          verify a file of completions; summary by status
"""

from __future__ import annotations

import argparse
import sys

import yaml

from flows.config import ConfigError, load_config


def _cmd_bootstrap(args: argparse.Namespace) -> int:
    from trainers.bootstrap import bootstrap_tiny

    print(bootstrap_tiny())
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), end="")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from verifiers.cli import main as verify_main

    return verify_main(args.rest)


def _with_config(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("-c", "--config", help="YAML run config (see configs/)")
    sub.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. train.steps=5")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlvr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    subs = parser.add_subparsers(dest="command", required=True)
    subs.add_parser("bootstrap", help="build the tiny offline model").set_defaults(func=_cmd_bootstrap)
    config = subs.add_parser("config", help="validate and print a run config")
    _with_config(config)
    config.set_defaults(func=_cmd_config)
    verify = subs.add_parser("verify", help="verify a JSONL file of completions", add_help=False)
    verify.add_argument("rest", nargs=argparse.REMAINDER)
    verify.set_defaults(func=_cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"rlvr: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
