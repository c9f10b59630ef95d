"""Frames per second of serial ``classify`` and of ``reprocess`` on Dask with 1 and 2 worker processes, on
the same N Pilatus 1M CBF frames (default 400), in one run, each as a separate ``gisaxs-live`` process.

Two figures per setting: ``end_to_end`` (N / wall time of the whole command: Python, TensorFlow and
model start-up, the Dask cluster's start and stop included) and ``marginal`` ((N − N0) / (wall(N) −
wall(N0)), from a second run of the command on the first N0 = 40 files: the rate once everything is
started, scheduling and CSV writing included). Each wall time is the least of --rounds runs (default 2),
the settings interleaved round by round so that they see the same machine load. The frames are the demo's growth series (40 distinct frames written by fabio, cycled to N files).
Writes benchmarks/results/dask.json. Run: .venv/bin/python benchmarks/bench_dask.py [--frames N]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gisaxs_live.config import load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config

DISTINCT = 40
RESULT = Path(__file__).parent / "results" / "dask.json"


def write_archive(root: Path, n: int) -> list[Path]:
    """``n`` CBF files cycling through ``DISTINCT`` frames of the growth series."""
    series = GrowthSeries(demo_config(load_config()), DISTINCT)
    payloads = [cbf_bytes(series.frame(i)) for i in range(DISTINCT)]
    paths = [root / f"frame_{i:05d}.cbf" for i in range(n)]
    for i, path in enumerate(paths):
        path.write_bytes(payloads[i % DISTINCT])
    return paths


def timed_command(args: list[str], out: Path) -> tuple[float, int]:
    """Run ``gisaxs-live ARGS --csv OUT``; its wall time (s) and the ``ok`` rows it wrote."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gisaxs_live.cli", *args, "--csv", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    with open(out, newline="") as fh:
        return wall, sum(1 for r in csv.DictReader(fh) if r["status"] == "ok")


def commands(paths: list[Path]) -> dict[str, list[str]]:
    """The three settings' arguments for ``paths``."""
    files = list(map(str, paths))
    return {"classify (serial)": ["classify", *files], "reprocess, 1 worker": ["reprocess", "--workers", "1", *files],
            "reprocess, 2 workers": ["reprocess", "--workers", "2", *files]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400, help="frames (files) to classify (default 400)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each command; the least wall time counts")
    options = parser.parse_args()
    n = options.frames
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive = root / "archive"
        archive.mkdir()
        paths = write_archive(archive, n)
        small, full = commands(paths[:DISTINCT]), commands(paths)
        walls: dict[str, list[tuple[float, float]]] = {name: [] for name in full}
        for r in range(options.rounds):
            for k, name in enumerate(full):
                wall0, rows0 = timed_command(small[name], root / f"{r}-{k}-small.csv")
                wall, rows = timed_command(full[name], root / f"{r}-{k}.csv")
                assert (rows0, rows) == (DISTINCT, n), (name, rows0, rows)
                walls[name].append((wall0, wall))
        figures = {}
        for name, runs in walls.items():
            wall0, wall = min(w0 for w0, _ in runs), min(w for _, w in runs)
            figures[name] = {"runs_wall_s": runs, "wall_s": wall, f"wall_s_{DISTINCT}_frames": wall0,
                             "end_to_end_fps": n / wall, "marginal_fps": (n - DISTINCT) / (wall - wall0)}
    serial = figures["classify (serial)"]
    for name, f in figures.items():
        f["end_to_end_vs_serial"] = f["end_to_end_fps"] / serial["end_to_end_fps"]
        f["marginal_vs_serial"] = f["marginal_fps"] / serial["marginal_fps"]
        print(f"{name:22s} {f['wall_s']:6.1f} s (start-up run {f[f'wall_s_{DISTINCT}_frames']:.1f} s)  end-to-end "
              f"{f['end_to_end_fps']:6.1f} frames/s ({f['end_to_end_vs_serial']:.2f}x serial)  marginal "
              f"{f['marginal_fps']:6.1f} frames/s ({f['marginal_vs_serial']:.2f}x serial)")
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps({"frames": n, "start_up_frames": DISTINCT, "rounds": options.rounds,
                                  "cpus": os.cpu_count(), "load_avg_1min": {"before": load_before, "after": os.getloadavg()[0]},
                                  "python": platform.python_version(), "settings": figures}, indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
