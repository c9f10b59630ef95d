"""``gisaxs-live report``: a picture of a CSV log's trend: each family's probability, where the log has them
the sizes (D_y and the aspect with ±1σ bands, the interparticle distance, the model-free correlation distance
and Guinier radius), the ood_score against its threshold, the error / no_signal / unknown frames, and the class-change events of ``<log stem>.events.csv``
(when that file exists), on one shared time or frame axis. ``--out`` ending in .html writes a small page
embedding the PNG. ``--follow SECONDS`` rewrites the output every SECONDS while the log grows (until Ctrl-C);
the page then reloads itself as often. ``--source PATTERN``, ``--since`` and ``--until`` keep the rows of one sample
or session of a log that holds several (and their events); the title says how many of the log's rows are shown."""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
from dataclasses import dataclass
from pathlib import Path

from . import HTML_PAGE, PNG_PICTURE, output_file, rate_or_seconds


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="plot a CSV log's family probabilities, sizes, ood_score and events",
                              description=__doc__)
    p.add_argument("log", type=Path, metavar="LOG", help="CSV log written by classify, watch or stream")
    p.add_argument("--out", type=Path, default=None,
                   help="report .png or .html (default: <log stem>.report.png beside the log)")
    p.add_argument("--follow", type=rate_or_seconds, default=None, metavar="SECONDS",
                   help="rewrite the output every SECONDS while the log grows, until Ctrl-C")
    p.add_argument("--axis", choices=("time", "frame"), default="time", help="shared x axis (default: time)")
    p.add_argument("--source", default=None, metavar="PATTERN",
                   help="only rows whose source matches this shell pattern, e.g. '*/sample_B/*' or "
                        "'tcp://*series 3' (quote it)")
    p.add_argument("--since", default=None, metavar="TIME",
                   help="only rows logged at or after TIME, ISO 8601 as in time_utc (UTC unless it gives an offset), "
                        "e.g. 2026-12-07T14:30")
    p.add_argument("--until", default=None, metavar="TIME", help="only rows logged before TIME (as --since)")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class Selection:
    """Which rows of a log the report shows: ``source`` a shell pattern (None: any), ``since`` ≤ t < ``until``
    (Unix s of the row's time_utc; None: open)."""

    source: str | None = None
    since: float | None = None
    until: float | None = None

    @classmethod
    def of(cls, args: argparse.Namespace) -> "Selection":
        selection = cls(args.source, _time(args.since, "--since"), _time(args.until, "--until"))
        if None not in (selection.since, selection.until) and selection.until <= selection.since:
            raise ValueError(f"--until {args.until} is not after --since {args.since}")
        return selection

    @property
    def everything(self) -> bool:
        return self == Selection()

    def keeps(self, source: str, t: float | None) -> bool:
        """Whether a row or event of ``source`` at Unix ``t`` (None: not known) is shown."""
        if self.source is not None and not fnmatch.fnmatchcase(source, self.source):
            return False
        if self.since is None and self.until is None:
            return True
        return t is not None and (self.since is None or t >= self.since) and (self.until is None or t < self.until)

    def describe(self) -> str:
        """The selection in words, for the title ('' for everything)."""
        words = [f"source {self.source}"] if self.source is not None else []
        words += [f"{name} {_utc(t)}" for name, t in (("since", self.since), ("until", self.until)) if t is not None]
        return ", ".join(words)


def _time(text: str | None, option: str) -> float | None:
    """Unix s of an ISO 8601 time given to ``option`` (UTC unless it states an offset); None for None."""
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{option} {text}: not an ISO 8601 time such as 2026-12-07T14:30 or "
                         "2026-12-07T14:30:00Z") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()


def _utc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def run(args: argparse.Namespace) -> int:
    import time

    from ..sinks.csvlog import LogFollower
    from ..sinks.events import events_path
    from ..sinks.text import plural

    selection = Selection.of(args)
    out = args.out or args.log.with_name(f"{args.log.stem}.report.png")
    if out.suffix.lower() not in (".png", ".html", ".htm"):
        raise ValueError(f"--out {out}: give a .png or .html file")
    output_file(out, "--out", [args.log], PNG_PICTURE if out.suffix.lower() == ".png" else HTML_PAGE)
    if args.follow is not None and args.follow <= 0:
        raise ValueError(f"--follow {args.follow:g}: must be a positive number of seconds")
    if args.log.is_dir():
        raise ValueError(f"{args.log}: a directory, not a CSV log")
    if args.follow is None and not args.log.is_file():
        raise FileNotFoundError(f"{args.log}: no such file")
    follower = LogFollower(args.log, tail_bytes=1 << 62)  # the whole log
    results: list = []
    logged = 0  # the log's frame rows, selected or not
    seen_events = None
    waiting_said = False
    try:
        while True:
            news = follower.poll()
            logged += len(news)
            news = [r for r in news if selection.keeps(r.source, _row_time(r))]
            results += news
            if not results and args.follow is not None and not waiting_said:
                which = "no frame rows" if selection.everything else f"no frame rows with {selection.describe()}"
                print(f"{args.log}: {which} yet; the picture comes with the first", flush=True)
                waiting_said = True
            events = _mtime(events_path(args.log))
            if results and (news or events != seen_events) or args.follow is None:
                seen_events = events
                _write(args, out, results, selection, logged)
                shown = plural(len(results), "row") if selection.everything else (
                    f"{len(results)} of {plural(logged, 'row')}")
                if follower.skipped:
                    shown += f"; {plural(follower.skipped, 'line')} of the log left out (not readable as rows)"
                print(f"{out}: {shown}", flush=True)
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


def _row_time(result) -> float | None:
    from ..results import parse_time

    try:
        return parse_time(result.time_utc)
    except ValueError:
        return None


def _write(args: argparse.Namespace, out: Path, results: list, selection: Selection, logged: int) -> None:
    from ..pictures.report import build_trend, figure_png, html_page, read_events, report_figure
    from ..replacing import write_bytes_replacing
    from ..sinks.events import events_path
    from ..sinks.text import plural

    if not results and not selection.everything and logged:
        raise ValueError(f"{args.log}: none of its {plural(logged, 'frame row')} has {selection.describe()}")
    if not results:
        raise ValueError(f"{args.log}: no frame rows (an empty log, or not a gisaxs-live CSV log)")
    title = f"{args.log.name}: {plural(len(results), 'frame')}"
    if not selection.everything:
        title = f"{args.log.name}: {len(results)} of {plural(logged, 'frame')} ({selection.describe()})"
    events = [e for e in read_events(events_path(args.log)) if selection.keeps(e.source, e.t)]
    png = figure_png(report_figure(build_trend(results, events, args.axis), title))
    data = html_page(png, title, args.follow).encode() if out.suffix.lower() != ".png" else png
    write_bytes_replacing(out, data)
