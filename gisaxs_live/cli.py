"""``gisaxs-live``: the command-line entry point. Subcommands live in ``gisaxs_live.commands``."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from . import __version__
from .config import ConfigError

COMMANDS = ("simulate", "train", "train-size", "evaluate", "calibrate-ood", "calibrate-answer",
            "model-info", "classify", "watch", "tail", "demo",
            "stream", "publish", "reprocess", "report", "check-geometry", "refine")

EXIT_STATUS = """exit status:
  0  done: every frame classified (classify: no error row), or a clean stop (watch, stream: SIGTERM, Ctrl-C)
  1  classify: some or all rows are errors; watch, stream: the CSV log or the source failed
  2  usage or configuration error, nothing done"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gisaxs-live",
        description="Classify GISAXS detector frames by nanoparticle shape with a CNN trained on simulations.",
        epilog=EXIT_STATUS, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gisaxs-live {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".commands.{name.replace('-', '_')}", __package__).register(subparsers)
    return parser


#: commands that run as services: a SIGHUP (logrotate's, to reopen the log) must not end them while they start
SERVICES = ("watch", "stream", "demo")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in SERVICES and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the command installs its own handler (reopen the log)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"gisaxs-live {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
