"""``gisaxs-live``: the command-line entry point. Subcommands live in ``gisaxs_live.commands``."""

from __future__ import annotations

import signal
import sys

#: commands that run as services: a SIGHUP (logrotate's, to reopen the log) must not end them while they start
SERVICES = ("watch", "stream", "demo")
#: services whose stop (SIGTERM, Ctrl-C) during start-up is a clean stop, as later (demo's Ctrl-C interrupts it)
MONITORS = ("watch", "stream")


def _guard_a_service_s_start(argv: list[str]) -> None:
    """From the first moment of a service command, ignore SIGHUP (its own handler, reopening the log, comes once it
    runs): imported lazily, the command modules took 0.3-0.7 s, and a SIGHUP then ended the service with status
    129, which systemd does not restart. A monitor's stop meanwhile is remembered for it (``early_stop``)."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in SERVICES and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if command in MONITORS:
        from .early_stop import remember_stops

        remember_stops()


def _spawned_by_a_command() -> bool:
    """Whether this process was spawned by a command's process (Dask's local workers): ``multiprocessing`` starts a
    fresh interpreter that first runs the command's main module again as ``__mp_main__`` (the ``gisaxs-live``
    script, which imports this module), while ``__main__`` is still its own; elsewhere the two are one module."""
    main = sys.modules.get("__mp_main__")
    return main is not None and main is not sys.modules.get("__main__")


if _spawned_by_a_command():
    # Ctrl-C is the command's: a terminal sends it to every process of the group, and a worker still importing
    # printed a KeyboardInterrupt traceback of its imports (a Dask worker's own handler, ``dask_setup``, came later)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
elif __name__ == "__main__" or sys.argv[0].endswith("gisaxs-live"):
    _guard_a_service_s_start(sys.argv[1:])  # before the imports below

import argparse  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402

from . import __version__  # noqa: E402
from .causes import Unavailable, in_words  # noqa: E402
from .config import ConfigError  # noqa: E402

COMMANDS = ("simulate", "train", "train-size", "evaluate", "calibrate-ood", "calibrate-answer",
            "model-info", "classify", "watch", "tail", "demo",
            "stream", "publish", "reprocess", "report", "check-geometry", "refine")

EXIT_STATUS = """exit status:
  0    done: every frame classified (classify: no error row), or a clean stop (watch, stream: SIGTERM, Ctrl-C)
  1    classify, reprocess: some or all rows are errors, or the CSV log cannot be written (a full disk);
       watch, stream: the CSV log or the source failed, or the log's directory is not there but its parent is;
       check-geometry: the frame DISAGREES with the geometry; refine: a frame not fitted or not converged;
       publish: a file that is no image, a ZeroMQ error; any command: an output it could not write (a full disk)
  2    usage or configuration error, nothing done
  130  stopped by Ctrl-C (but watch, stream: 0)"""


class SubcommandParser(argparse.ArgumentParser):
    """A subcommand's parser: an argument it does not know is its usage error (its usage line and
    ``gisaxs-live watch: error: unrecognized arguments: --csvv``), not the top-level parser's."""

    def parse_known_args(self, args: list[str] | None = None, namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        """As argparse's, but no argument is left over: an unknown one ends the parse with status 2."""
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gisaxs-live",
        description="Classify GISAXS detector frames by nanoparticle shape with a CNN trained on simulations.",
        epilog=EXIT_STATUS, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gisaxs-live {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                       parser_class=SubcommandParser)
    for name in COMMANDS:
        importlib.import_module(f".commands.{name.replace('-', '_')}", __package__).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` (None: this process's arguments, as the console script does) and return its exit
    status; the signal handlers of a monitor's start are put back as they were where no monitor took them over."""
    from .early_stop import forget_stops

    _guard_a_service_s_start(sys.argv[1:] if argv is None else argv)  # until the command installs its handlers
    try:
        status = _run(argv)
    finally:
        forget_stops()
    if status == 130 and argv is None:  # what the interrupt left half made (a file object a reader was opening)
        sys.unraisablehook = lambda unraisable: None  # prints no traceback as Python clears it away at exit
    return status


def _run(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)  # imports every command's module: 0.3-0.7 s
    except KeyboardInterrupt:
        return 130
    # every command's warnings and errors, on stderr with their level (a monitor's log lines add the time,
    # its dashboard a column: sinks.console); without it, those of most commands came bare, as Python's last resort
    from .sinks.text import printable_stderr_handler

    logging.basicConfig(level=logging.WARNING, handlers=[printable_stderr_handler("%(levelname)s: %(message)s")])
    from .sinks.text import one_line  # a file name in the line may hold a line end or an escape sequence

    try:
        return int(args.func(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"gisaxs-live {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except Unavailable as exc:
        print(f"gisaxs-live {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:  # a device that failed
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"gisaxs-live {args.command}: error: {one_line(where + (exc.strerror or in_words(exc)))}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
