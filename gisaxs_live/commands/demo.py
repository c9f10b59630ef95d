"""``gisaxs-live demo``: watch a synthetic in-situ growth series arrive.

A Pilatus 1M "records" islands growing from hemispheroids through truncated spheroids to spheroids:
CBF frames with Poisson noise, module gaps and a beam stop, written in stages and renamed into place
in a temporary directory at a steady rate, while the monitor watches it with the dashboard and a CSV
log. Ends after the series, or on Ctrl-C; the directory is removed unless --keep.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import rate_or_seconds

if TYPE_CHECKING:
    from ..daemon import Daemon
    from ..publisher.demo_series import GrowthSeries


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="watch a synthetic growth series arrive (dashboard + CSV log)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=40, help="frames in the series")
    p.add_argument("--rate", type=rate_or_seconds, default=2.0, help="frames per second written")
    p.add_argument("--seed", type=int, default=0, help="seed of the counting noise")
    p.add_argument("--config", type=Path, default=None, help="YAML config (experiment, geometry)")
    p.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    p.add_argument("--keep", action="store_true", help="keep the frames and the CSV log")
    p.add_argument("--no-dashboard", action="store_true", help="one log line per frame instead of the dashboard")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..config import load_config
    from ..publisher.demo_series import GrowthSeries, demo_config
    from ..sinks.console import want_dashboard
    from .watch import watch

    if args.frames < 1 or args.rate <= 0:
        raise ValueError("--frames must be >= 1 and --rate > 0")
    console = Console(stderr=True)
    config = demo_config(load_config(args.config))
    workdir = Path(tempfile.mkdtemp(prefix="gisaxs-live-demo-"))
    frames_dir, csv_path = workdir / "frames", workdir / "results.csv"
    frames_dir.mkdir()
    try:
        with console.status("simulating the key patterns of the series"):
            series = GrowthSeries(config, args.frames, args.seed)

        def start_writer(daemon: Daemon) -> None:
            threading.Thread(target=_write_series, args=(series, frames_dir, args.rate, daemon), daemon=True,
                             name="demo-writer").start()

        status = watch(config, config.watch, frames_dir, csv_path, args.model, backlog=False,
                       dashboard=want_dashboard(args.no_dashboard), on_start=start_writer)
        console.print(f"CSV log: {csv_path}" if args.keep else f"done; frames and CSV log removed ({workdir}; "
                      "--keep keeps them)")
        return status
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _write_series(series: GrowthSeries, directory: Path, rate: float, daemon: Daemon) -> None:
    """Write the series at ``rate`` (Hz) once the model is loaded; stop the daemon when all are logged."""
    from ..publisher.demo_series import cbf_bytes, write_staged

    while daemon.model != "ready" and not daemon.stopping:
        time.sleep(0.05)
    start = time.monotonic()
    for i in range(series.n_frames):
        payload = cbf_bytes(series.frame(i))
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        if daemon.stopping:
            return
        write_staged(directory / f"growth_{i + 1:05d}.cbf", payload, stages=3, pause_s=0.01)
    deadline = time.monotonic() + 60.0
    while daemon.rows < series.n_frames and time.monotonic() < deadline and not daemon.stopping:
        time.sleep(0.05)
    daemon.request_stop()
