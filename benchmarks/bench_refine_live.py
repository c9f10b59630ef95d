"""``watch --refine`` on the live path: how many frames per second get refined, and whether the rows wait.

One process, the real thing: ``DirectoryWatcher`` (inotify) on a temporary directory, ``Daemon`` with the real
``Classifier`` (the bundled model, with its size net) and the CSV log, and with or without the ``RefineSink``
(its ``FitProcess``, started before the first frame). Demo growth-series CBFs (Pilatus 1M) are renamed into place
as a detector does (``bench_live.write_files``). Row latency: from that rename to the row's write (ms).

Each of ``--rounds`` rounds runs, with and without --refine in alternating order (so both see the same load):
  steady: ``--frames`` frames at ``--rate`` Hz; the fits (refined / s from the first frame to the stop, which
          waits for the fit in progress; the fit time itself from the refine log's ``seconds``), skipped and
          failed frames;
  burst:  ``--burst`` frames as fast as they can be written; the sustained rows / s and latencies.
Each figure is the median over the rounds. Writes benchmarks/results/refine_live.json (``--out``).
Run: nice .venv/bin/python benchmarks/bench_refine_live.py [--rounds 2] [--frames 40] [--rate 5] [--burst 100]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench_live import TimedLog, write_files
from gisaxs_live.classify.pipeline import Classifier
from gisaxs_live.config import Config, load_config
from gisaxs_live.daemon import Daemon
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config
from gisaxs_live.refine.process import FitProcess
from gisaxs_live.sinks.refine import RefineSink, refine_path
from gisaxs_live.sources.files import read_frames
from gisaxs_live.sources.watch import DirectoryWatcher

RESULT = Path(__file__).parent / "results" / "refine_live.json"
DISTINCT = 12  # distinct frames of the growth series, cycled through


def run(directory: Path, classify, config: Config, refine: bool, payloads: list[bytes], n: int,
        rate_hz: float | None) -> dict:
    """One daemon on a fresh ``directory`` fed ``n`` files, with the refine sink (and its fitting process,
    started and warm before the first frame) where ``refine``."""
    directory.mkdir()
    log_path = directory.with_suffix(".csv")
    log = TimedLog(log_path)
    if refine:
        fitter = FitProcess(config, None)
        fitter.fit("", 0, "spheroid", None)  # waits until the process runs: "no such file"
        sink = RefineSink(log_path, fitter)
    daemon = Daemon(DirectoryWatcher(directory, config.watch), lambda: classify, log, [sink] if refine else [])
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    while daemon.model != "ready":
        time.sleep(0.01)
    done = write_files(directory, payloads, n, rate_hz, directory.name)
    deadline = time.monotonic() + 300
    while len(log.written) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    last_row = max(log.written.values())
    daemon.request_stop()
    thread.join()
    stopped = time.time()  # the refine sink closed: its current fit done
    latencies = np.array([log.written[p] - done[p] for p in done]) * 1e3
    span = last_row - min(done.values())
    figures = {"frames": n, "rows": len(log.written), "rows_per_s": n / span,
               "latency_ms_p50": float(np.percentile(latencies, 50)),
               "latency_ms_p90": float(np.percentile(latencies, 90)), "latency_ms_max": float(latencies.max())}
    if refine:
        with open(refine_path(log_path), newline="") as fh:
            fits = list(csv.DictReader(fh))
        figures.update(ok_frames=sink.seen, refined=sink.refined, failed=sink.failed, skipped=sink.skipped,
                       refined_per_s=sink.refined / (stopped - min(done.values())),
                       fit_s_median=statistics.median(float(f["seconds"]) for f in fits) if fits else None)
    return figures


def measure(rounds: int, frames: int, rate_hz: float, burst: int) -> dict:
    load_before = os.getloadavg()[0]
    config = demo_config(load_config())
    series = GrowthSeries(config, DISTINCT)
    payloads = [cbf_bytes(series.frame(i)) for i in range(DISTINCT)]
    classify = Classifier(config)
    each = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        (tmp / "warmup.cbf").write_bytes(payloads[0])
        classify(list(read_frames(tmp / "warmup.cbf")))  # the pixel → bin table and the first inference
        for i in range(rounds):
            order = (False, True) if i % 2 == 0 else (True, False)
            got: dict[str, dict] = {}
            for refine in order:
                tag = "refine" if refine else "plain"
                load = os.getloadavg()[0]
                got[tag] = {"steady": run(tmp / f"steady_{tag}_{i}", classify, config, refine, payloads, frames,
                                          rate_hz),
                            "burst": run(tmp / f"burst_{tag}_{i}", classify, config, refine, payloads, burst, None),
                            "load_average_1min": [load, os.getloadavg()[0]]}
                print(f"round {i} {tag:6s} " + describe(got[tag]), flush=True)
            each.append(got)
    return {"frame": f"demo growth series, Pilatus 1M CBF, ~{len(payloads[0]) // 1000} kB", "rounds": rounds,
            "steady_rate_hz": rate_hz, "median": {tag: {part: median_of([r[tag][part] for r in each])
                                                        for part in ("steady", "burst")}
                                                  for tag in ("plain", "refine")},
            "round_results": each,
            "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                        "platform": sys.platform, "load_average_1min_before": load_before,
                        "load_average_1min_after": os.getloadavg()[0]},
            "date": time.strftime("%Y-%m-%d")}


def median_of(runs: list[dict]) -> dict:
    """The median of each numeric figure over ``runs``."""
    return {k: float(statistics.median(r[k] for r in runs)) for k in runs[0]
            if all(isinstance(r[k], (int, float)) for r in runs)}


def describe(figures: dict) -> str:
    """One line: latency p50/p90 and rows/s of the steady and burst runs, and the fits where there are any."""
    steady, burst = figures["steady"], figures["burst"]
    line = (f"steady: latency p50 {steady['latency_ms_p50']:6.1f} p90 {steady['latency_ms_p90']:6.1f} ms  "
            f"burst: {burst['rows_per_s']:5.1f} rows/s, latency p50 {burst['latency_ms_p50']:6.0f} ms")
    for name in ("steady", "burst"):
        part = figures[name]
        if "refined" in part:
            line += (f"  | {name}: {part['refined']}/{part['ok_frames']} refined ({part['refined_per_s']:.2f}/s), "
                     f"{part['skipped']} skipped, {part['failed']} failed")
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--frames", type=int, default=40, help="frames of the steady run")
    parser.add_argument("--rate", type=float, default=5.0, help="frames/s of the steady run")
    parser.add_argument("--burst", type=int, default=100, help="frames of the burst run")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    report = measure(args.rounds, args.frames, args.rate, args.burst)
    for tag, parts in report["median"].items():
        print(f"median {tag:6s} " + " ".join(f"{part}: " + ", ".join(f"{k} {v:.3g}" for k, v in figures.items())
                                             for part, figures in parts.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
