"""``gisaxs-live watch``: classify every new frame in a detector directory, into a CSV log and a dashboard.

On start, once the watcher runs, the directory is scanned. Files with rows in the CSV log are not classified
again, unless written again after their row (new content under the same name: while running, told by its
inode, size and mtime; at a start, its mtime and ctime both more than watch.resume_grace_s after its row). With
--backlog every other file present is classified, oldest first. Without it, only files modified since the log
began (its first row's arrival; for a log without rows, the end of the log it was rotated from, else now) less
watch.resume_grace_s (60 s, for the clocks of network file systems): those that arrived while the monitor was
down or were in flight when it stopped. So a first start without --backlog skips what was already there (but for
the last minute), and a restart on the same log misses nothing and repeats nothing. (Of the rows rotated out of
the log, those in the last 4 MiB of the newest uncompressed rotated log, NAME.1 or NAME-DATE, still count; a log
without rows yet begins where that one ended, if its last rows name a file present.) A file whose last row is an
error is read again when it changes or its mode or owner changes (a chmod: at once with the inotify observer, at
the next start with polling); with --retry-errors, also at start (after a mended config). Exit status 1 where the
log or a file beside it cannot be written at start for a cause that may pass (a full disk), 2 for a usage or
configuration error.

The CSV log is --csv, else output.csv of the config, else gisaxs-live.csv in the watched directory
(an error if that directory is not writable). The config must give the detector geometry
(geometry.distance_mm and direct_beam_px, or poni_file); without --config the bundled default is used:
the geometry of the demo's synthetic Pilatus 1M. The model is loaded and warmed up (one dummy batch)
before the first frame is classified; then, the watcher running, one ``ready`` line is logged and
systemd is notified (READY=1 to $NOTIFY_SOCKET; the unit in systemd/ is Type=notify).

With --bluesky tcp://HOST:PORT (or watch.bluesky) results also go to a bluesky 0MQ proxy as event-model
documents (one run from the first frame to the exit; see ``gisaxs_live.sinks.bluesky``).

With --refine (or output.refine) the newest ok frame is also fitted by the bundled simulator in a
child process whenever the last fit has finished, one row per fit in <log stem>.refine.csv beside
the log; frames that come while a fit runs are skipped for refinement, and the rows never wait for it
(see ``gisaxs_live.sinks.refine``).

SIGTERM or Ctrl-C: finish the frames already found, flush the log, exit 0 (a second Ctrl-C aborts;
the next start picks up what was left); also during start-up, and then no ``ready`` line. SIGHUP reopens the
CSV log (after logrotate). Exit status: 0 after a clean stop, 1 if the log or the directory failed, 2 for a usage
or configuration error.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config, Watch
    from ..daemon import Daemon

#: the CSV log's name in the watched directory when neither --csv nor output.csv gives one
DEFAULT_CSV_NAME = "gisaxs-live.csv"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("watch", help="classify each new frame in a detector directory (dashboard + CSV log)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directory", nargs="?", type=Path, default=None, metavar="DIR",
                   help="detector directory (default: watch.directory)")
    p.add_argument("--config", type=Path, default=None, help="YAML config (experiment, geometry, mask, watch, output)")
    p.add_argument("--csv", type=Path, default=None,
                   help=f"CSV log, appended (default: output.csv of the config, else DIR/{DEFAULT_CSV_NAME})")
    p.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    p.add_argument("--backlog", action="store_true", help="also classify files present at start that the log lacks")
    p.add_argument("--retry-errors", action="store_true",
                   help="also classify again, at start, the files whose last row is an error (after mending the "
                        "config that caused it: mask, PONI file, detector shape)")
    p.add_argument("--recursive", action="store_true", default=None, help="watch subdirectories too")
    p.add_argument("--observer", choices=("inotify", "polling"), default=None,
                   help="inotify (local disks) or polling (NFS, GPFS); default: watch.observer")
    p.add_argument("--no-dashboard", action="store_true",
                   help="one log line per frame instead of the dashboard (automatic without a terminal)")
    p.add_argument("--bluesky", metavar="tcp://HOST:PORT", default=None,
                   help="also publish results as Bluesky event-model documents (one run until the exit) to the "
                        "bluesky 0MQ proxy's input port (default: watch.bluesky; needs the bluesky extra)")
    p.add_argument("--refine", action="store_true",
                   help="also fit the simulator to the newest ok frame whenever the last fit is done, into "
                        "<log stem>.refine.csv (default: output.refine)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..sinks.console import want_dashboard

    config = load_config(args.config, detector=True)
    overrides = {k: v for k, v in (("recursive", args.recursive), ("observer", args.observer)) if v is not None}
    settings = dataclasses.replace(config.watch, **overrides)
    directory = args.directory or settings.directory
    if directory is None:
        raise ValueError("give the directory to watch (DIR or watch.directory)")
    csv_path = args.csv or config.output.csv or default_csv(directory)
    return watch(config, settings, directory, csv_path, args.model, args.backlog, want_dashboard(args.no_dashboard),
                 bluesky=args.bluesky or settings.bluesky, refine=args.refine or config.output.refine,
                 retry_errors=args.retry_errors)


def default_csv(directory: Path) -> Path:
    """``DIR/gisaxs-live.csv``, where DIR is writable; else a ValueError naming the fix."""
    path = directory / DEFAULT_CSV_NAME
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory}: not a directory")
    if not directory.is_dir():
        raise ValueError(f"{directory}: no such directory (yet), so the CSV log cannot go into it: give --csv PATH "
                         "(or output.csv in the config) to start and wait for it")
    if not os.access(path if path.exists() else directory, os.W_OK):
        raise ValueError(f"{directory}: not writable, so the CSV log cannot go to {path}: give --csv PATH "
                         "(or output.csv in the config)")
    return path


def watch(config: Config, settings: Watch, directory: Path, csv_path: Path, model: Path | None, backlog: bool,
          dashboard: bool, on_start: Callable[[Daemon], None] | None = None, bluesky: str | None = None,
          refine: bool = False, retry_errors: bool = False) -> int:
    """Run the daemon in this (main) thread until a signal stops it; ``on_start(daemon)`` runs before;
    ``bluesky``: the bluesky 0MQ proxy (tcp://HOST:PORT) that also gets the results, as documents;
    ``refine``: fit the newest ok frame in the background (``sinks.refine``); ``retry_errors``: see ``Daemon.run``."""
    from ..classify.modeldir import ModelInfo
    from ..daemon import Daemon, handle_signals
    from ..sinks.bluesky import bluesky_sinks
    from ..sinks.console import dashboard_sink, log_line_sink
    from ..sinks.csvlog import open_log
    from ..sinks.events import EventsSink
    from ..sources.watch import DirectoryWatcher

    watcher = DirectoryWatcher(directory, settings)
    if watcher.sees(csv_path):
        raise ValueError(f"{csv_path}: the CSV log would be watched as a frame (watch.patterns match its name): "
                         "give --csv another name or place")
    # the log's p_* columns in the model's class order, read from its model.json before TensorFlow loads
    csv_log = open_log(csv_path, ModelInfo.read(model).class_names, config.output.fsync, monitor=True)
    events = EventsSink(csv_path, config.output.events)
    console = dashboard_sink(config) if dashboard else log_line_sink()
    events.show_on(console)
    sinks = [console, events,
             *bluesky_sinks(bluesky, {"gisaxs_live_command": "watch", "directory": str(directory)})]
    if refine:
        from ..refine.process import FitProcess
        from ..sinks.refine import RefineSink

        sinks.append(RefineSink(csv_path, FitProcess(config, model)))

    def load():
        from ..classify.pipeline import Classifier

        from ..notify import announce_ready

        classifier = Classifier(config, model)
        classifier.warm_up()
        if not daemon.stopping:  # the daemon loads it once the watcher runs; a stop meanwhile: no longer ready
            announce_ready(f"model loaded, watching {directory}")
        return classifier  # callable: its classify; the daemon's readers use its prepare_early

    daemon = Daemon(watcher, load, csv_log, sinks)
    handle_signals(daemon, csv_log)
    if on_start is not None:
        on_start(daemon)
    return daemon.run(backlog=backlog, retry_errors=retry_errors)
