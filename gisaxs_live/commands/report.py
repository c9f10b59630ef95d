"""``gisaxs-live report``: a picture of a CSV log's trend: each family's probability, where the log has them
the sizes (D_y and the aspect with ±1σ bands, the interparticle distance, the model-free correlation distance
and Guinier radius), the ood_score against its threshold, the error / no_signal / unknown frames, and the class-change events of ``<log stem>.events.csv``
(when that file exists), on one shared time or frame axis. ``--out`` ending in .html writes a small page
embedding the PNG. ``--follow SECONDS`` rewrites the output every SECONDS while the log grows (until Ctrl-C);
the page then reloads itself as often."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import output_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="plot a CSV log's family probabilities, sizes, ood_score and events",
                              description=__doc__)
    p.add_argument("log", type=Path, metavar="LOG", help="CSV log written by classify, watch or stream")
    p.add_argument("--out", type=Path, default=None,
                   help="report .png or .html (default: <log stem>.report.png beside the log)")
    p.add_argument("--follow", type=float, default=None, metavar="SECONDS",
                   help="rewrite the output every SECONDS while the log grows, until Ctrl-C")
    p.add_argument("--axis", choices=("time", "frame"), default="time", help="shared x axis (default: time)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from ..sinks.csvlog import LogFollower
    from ..sinks.events import events_path

    out = args.out or args.log.with_name(f"{args.log.stem}.report.png")
    if out.suffix.lower() not in (".png", ".html", ".htm"):
        raise ValueError(f"--out {out}: give a .png or .html file")
    output_file(out, "--out")
    if args.follow is not None and args.follow <= 0:
        raise ValueError(f"--follow {args.follow:g}: must be a positive number of seconds")
    if args.log.is_dir():
        raise ValueError(f"{args.log}: a directory, not a CSV log")
    if args.follow is None and not args.log.is_file():
        raise FileNotFoundError(f"{args.log}: no such file")
    follower = LogFollower(args.log, tail_bytes=1 << 62)  # the whole log
    results: list = []
    seen_events = None
    waiting_said = False
    try:
        while True:
            news = follower.poll()
            results += news
            if not results and args.follow is not None and not waiting_said:
                print(f"{args.log}: no frame rows yet; the picture comes with the first", flush=True)
                waiting_said = True
            events = _mtime(events_path(args.log))
            if results and (news or events != seen_events) or args.follow is None:
                seen_events = events
                _write(args, out, results)
                print(f"{out}: {len(results)} rows", flush=True)
            if args.follow is None:
                return 0
            time.sleep(args.follow)
    except KeyboardInterrupt:
        return 0
    finally:
        follower.close()


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def _write(args: argparse.Namespace, out: Path, results: list) -> None:
    from ..pictures.report import build_trend, figure_png, html_page, read_events, report_figure, write_atomically
    from ..sinks.events import events_path

    if not results:
        raise ValueError(f"{args.log}: no frame rows (an empty log, or not a gisaxs-live CSV log)")
    title = f"{args.log.name}: {len(results)} frames"
    png = figure_png(report_figure(build_trend(results, read_events(events_path(args.log)), args.axis), title))
    data = html_page(png, title, args.follow).encode() if out.suffix.lower() != ".png" else png
    write_atomically(out, data)
