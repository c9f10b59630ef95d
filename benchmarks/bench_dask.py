"""Frames per second of serial ``classify`` and of ``reprocess`` on Dask with 1 and 2 worker processes, on
the same N Pilatus 1M CBF frames (default 400), in one run, each as a separate ``gisaxs-live`` process.

Two figures per setting: ``end_to_end`` (N / wall time of the whole command: Python, TensorFlow and
model start-up, the Dask cluster's start and stop included) and ``marginal`` ((N − N0) / (wall(N) −
wall(N0)), from a second run of the command on the first N0 = 40 files: the rate once everything is
started, scheduling and CSV writing included). Each wall time is the least of --rounds runs (default 2),
the settings interleaved round by round so that they see the same machine load. The frames are the demo's growth series (40 distinct frames written by fabio, cycled to N files).

Simulate (``--part simulate``): patterns/s of ``gisaxs-live simulate --protocol paper`` (2,688 patterns) serial
(``--workers 1 --out``) and with ``--shards DIR --chunk 336`` (8 tasks) on a local cluster of 1 and 2 workers,
the least wall time of --rounds runs each, interleaved, in one run of the benchmark: wall time of the whole command (Python start, cluster start and
stop, manifest and read-back included), the overhead against serial, and whether the shards hold the serial
file's intensities bit for bit. Two figures for the on-paper cluster estimate (README): the scheduler's cost
per task (500 no-op tasks through a 2-worker ``LocalCluster``) and the rows/s of the reprocess CSV writer
(``CsvLog.write`` of 100-row batches, one task's rows per write).
Writes benchmarks/results/dask.json; ``--part classify|simulate`` reruns one part and keeps the other's
figures. Run: .venv/bin/python benchmarks/bench_dask.py [--frames N] [--part all|classify|simulate]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gisaxs_live.config import load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config

DISTINCT = 40
RESULT = Path(__file__).parent / "results" / "dask.json"
PAPER_PATTERNS = 2688
SIM_CHUNK = 336  # patterns per shard task: the paper grid in 8 tasks
NOOP_TASKS = 500
CSV_ROWS = 20000


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


def classify_part(n: int, rounds: int) -> dict:
    """Serial classify and reprocess with 1 and 2 workers on ``n`` frames (the figures described above)."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive = root / "archive"
        archive.mkdir()
        paths = write_archive(archive, n)
        small, full = commands(paths[:DISTINCT]), commands(paths)
        walls: dict[str, list[tuple[float, float]]] = {name: [] for name in full}
        for r in range(rounds):
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
    return {"frames": n, "start_up_frames": DISTINCT, "rounds": rounds,
            "load_avg_1min": {"before": load_before, "after": os.getloadavg()[0]}, "settings": figures}


def simulate_commands(root: Path) -> dict[str, list[str]]:
    """The three simulate settings' arguments, writing under ``root``."""
    paper = ["simulate", "--protocol", "paper"]
    shards = ["--chunk", str(SIM_CHUNK)]
    return {"simulate (serial)": [*paper, "--workers", "1", "--out", str(root / "serial.h5")],
            "simulate --shards, 1 worker": [*paper, "--shards", str(root / "w1"), *shards, "--workers", "1"],
            "simulate --shards, 2 workers": [*paper, "--shards", str(root / "w2"), *shards, "--workers", "2"]}


def same_intensities(serial: Path, shards: Path) -> bool:
    """Whether a shard set holds the serial file's intensities bit for bit."""
    from gisaxs_live.simulator.dataset import read_dataset

    return bool(np.array_equal(read_dataset(serial).intensity, read_dataset(shards).intensity))


def simulate_part(rounds: int) -> dict:
    """Patterns/s of serial simulate and of ``simulate --shards`` with 1 and 2 workers: the least wall time of
    ``rounds`` runs each, the settings interleaved round by round."""
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for r in range(rounds):
            for name, args in simulate_commands(root).items():
                if "--shards" in args:  # a fresh directory: no shards of the previous round
                    shutil.rmtree(args[args.index("--shards") + 1], ignore_errors=True)
                load = os.getloadavg()[0]
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "gisaxs_live.cli", *args], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                runs.setdefault(name, []).append({"wall_s": time.perf_counter() - start,
                                                  "load_avg_1min": [load, os.getloadavg()[0]]})
        identical = {w: same_intensities(root / "serial.h5", root / w) for w in ("w1", "w2")}
    figures = {}
    for name, each in runs.items():
        wall = min(r["wall_s"] for r in each)
        figures[name] = {"runs": each, "wall_s": wall, "patterns_per_s": PAPER_PATTERNS / wall}
    serial = figures["simulate (serial)"]["patterns_per_s"]
    for name, f in figures.items():
        f["vs_serial"] = f["patterns_per_s"] / serial
        f["overhead_vs_serial"] = serial / f["patterns_per_s"] - 1.0
        loads = [x for r in f["runs"] for x in r["load_avg_1min"]]
        print(f"{name:30s} {f['wall_s']:6.1f} s  {f['patterns_per_s']:6.1f} patterns/s ({f['vs_serial']:.2f}x serial, "
              f"load {min(loads):.1f}-{max(loads):.1f})")
    print(f"shards bit-identical to the serial file: 1 worker {identical['w1']}, 2 workers {identical['w2']}")
    return {"patterns": PAPER_PATTERNS, "chunk": SIM_CHUNK, "rounds": rounds, "settings": figures,
            "shards_identical_to_serial": identical, "scheduler": scheduler_overhead(),
            "csv_writer": csv_writer_rate()}


def _noop(i: int) -> int:
    return i


def scheduler_overhead() -> dict:
    """Wall time per task of ``NOOP_TASKS`` no-op tasks on a 2-worker local cluster (submit to result)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.gather(client.map(_noop, range(20), pure=False))  # warm
        start = time.perf_counter()
        client.gather(client.map(_noop, range(NOOP_TASKS), pure=False))
        per_task = (time.perf_counter() - start) / NOOP_TASKS
    print(f"scheduler: {1e3 * per_task:.2f} ms per no-op task ({NOOP_TASKS} tasks, 2 workers)")
    return {"tasks": NOOP_TASKS, "ms_per_task": 1e3 * per_task}


def csv_writer_rate() -> dict:
    """Rows/s of ``CsvLog.write`` with 100-row batches (one reprocess task's rows per write)."""
    from gisaxs_live.results import Result
    from gisaxs_live.sinks.csvlog import CsvLog

    probabilities = (0.7, 0.18, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02)
    rows = [Result(f"/archive/run42/frame_{i:06d}.cbf", 0, "ok", probabilities) for i in range(CSV_ROWS)]
    with tempfile.TemporaryDirectory() as tmp:
        log = CsvLog(Path(tmp) / "rows.csv")
        start = time.perf_counter()
        for i in range(0, CSV_ROWS, 100):
            log.write(rows[i:i + 100])
        seconds = time.perf_counter() - start
        log.close()
    print(f"CSV writer: {CSV_ROWS / seconds:.0f} rows/s")
    return {"rows": CSV_ROWS, "batch": 100, "rows_per_s": CSV_ROWS / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400, help="frames (files) to classify (default 400)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each command; the least wall time counts")
    parser.add_argument("--part", choices=("all", "classify", "simulate"), default="all")
    options = parser.parse_args()
    record = json.loads(RESULT.read_text()) if options.part != "all" and RESULT.exists() else {}
    if options.part in ("all", "classify"):
        record.update(classify_part(options.frames, options.rounds))
    if options.part in ("all", "simulate"):
        record["simulate"] = simulate_part(options.rounds)
    record.update(cpus=os.cpu_count(), python=platform.python_version())
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
