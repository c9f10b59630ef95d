"""``gisaxs-live tail``: follow a CSV log (like ``tail -F``, across rotation) and show it as the dashboard's
recent-frames table, class mix and rates; for a second terminal or a remote login. Into a file or a pipe it
prints one line per row instead (the dashboard would draw nothing there): the last --rows rows of the log as it is,
as ``tail -f`` begins, then every new one (every row of a log that appears after the start)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import rate_or_seconds


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("tail", help="follow a CSV log and show its recent frames", description=__doc__)
    p.add_argument("log", type=Path, metavar="LOG", help="CSV log written by `gisaxs-live watch`")
    p.add_argument("--once", action="store_true", help="print the current table and exit")
    p.add_argument("--rows", type=int, default=12, help="rows of the recent-frames table (default %(default)s)")
    p.add_argument("--mix", type=int, default=20, help="frames in the class mix (default %(default)s)")
    p.add_argument("--interval", type=rate_or_seconds, default=0.5, help="seconds between looks at the log (default %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..sinks import Update
    from ..sinks.csvlog import LogFollower
    from ..sinks.dashboard import Dashboard, DashboardState, render

    if args.rows < 1 or args.mix < 1 or args.interval <= 0:
        raise ValueError("--rows and --mix must be >= 1, --interval > 0")
    if args.log.is_dir():
        raise ValueError(f"{args.log}: a directory, not a CSV log")
    if args.log.exists() and not args.log.is_file():  # a device or a FIFO: read without end, or waited on for good
        raise ValueError(f"{args.log}: not a regular file (a device, a FIFO or a socket), not a CSV log")
    state = DashboardState(args.rows, args.mix)
    follower = LogFollower(args.log)

    def news() -> Update:
        """The rows written since the last look; a file that shows itself no frame log is an error."""
        found = args.log.exists()
        update = Update(tuple(follower.poll()), source=str(args.log) + ("" if found else " (not there yet)"))
        if follower.foreign or (args.once and follower.skipped and not follower.has_header):
            follower.close()
            raise ValueError(f"{args.log}: not a gisaxs-live CSV log ({follower.foreign or 'no header line'})")
        return update

    if args.once:
        if not args.log.is_file():
            raise FileNotFoundError(f"{args.log}: no such file")
        state.add(news())
        Console().print(render(state, time.time()))
        return 0
    console = Console()
    if not console.is_terminal:  # a file or a pipe: one line per row, as ``tail -f`` gives
        return _lines(news, args.interval, follower, args.rows)
    dashboard = Dashboard(state, console)
    try:
        while True:
            dashboard.update(news())
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
    finally:
        dashboard.close()
        follower.close()


def _lines(news, interval: float, follower, rows: int) -> int:
    """Print the last ``rows`` rows of the log, then each new row, as one line (``logline.result_line``) until
    interrupted; a reader that went away (``| head``) ends it quietly."""
    import os
    import sys

    from ..sinks.logline import result_line

    first = True
    try:
        while True:
            results = news().results
            lines = [result_line(r) for r in (results[-rows:] if first else results)]
            first = False
            if lines:
                sys.stdout.write("\n".join(lines) + "\n")
                sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        follower.close()
