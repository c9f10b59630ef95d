"""Sustained frames/s and latency of the live path on Pilatus 1M CBFs: watch → read → classify → CSV log.

The real thing in one process: ``DirectoryWatcher`` (inotify) on a local temporary directory,
``Daemon`` with the real ``Classifier`` (the bundled model, or an untrained one of the same
architecture when none is bundled: the compute is the same), the ``CsvLog`` sink. A writer thread
puts synthetic growth-series frames (``demo_series``) into the directory as a detector does: written
to a hidden ``.part`` file, renamed into place. Latency is from that rename (file complete) to the
moment its CSV row has been written. ``cpu_ms_per_frame``: the process's CPU time (all threads, the
writer's included) per frame while the frames are written and classified; unlike the rates it hardly
depends on what else the machine runs.

Runs, in this order:
  10 Hz: 100 frames at a steady 10 frames/s;
  then ``REPEATS`` rounds of, side by side:
    offline: fabio decode only (one thread, ``fabio.open``), then decode + classify (batches of 16)
             without watcher or log, of freshly written files (page cache warm): the reference and
             the one-process ceiling;
    max: 300 frames written as fast as possible; sustained rate = frames / (last row − first rename);
  fsync: cost of one CSV row write with and without fsync.
The machine may be shared: each figure is the median over the rounds, and the ratio max / decode-only
is taken within each round, then its median reported. The daemon's readers preprocess each frame
right after decoding it (``Classifier.prepare_early``), the CNN runs once per batch.
Writes benchmarks/results/live.json. Run: .venv/bin/python benchmarks/bench_live.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import fabio
import numpy as np

from gisaxs_live.classify.modeldir import bundled_model_dir
from gisaxs_live.config import load_config
from gisaxs_live.daemon import Daemon
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config
from gisaxs_live.classify.pipeline import Classifier
from gisaxs_live.results import Result
from gisaxs_live.sinks.csvlog import CsvLog
from gisaxs_live.sources.files import read_frames
from gisaxs_live.sources.watch import DirectoryWatcher

RESULT = Path(__file__).parent / "results" / "live.json"
DISTINCT = 8     # distinct frames, cycled through
N_STEADY = 100   # frames at 10 Hz
N_MAX = 300      # frames at the maximum rate
REPEATS = 3      # rounds of offline + max


class TimedLog(CsvLog):
    """The CSV log sink, noting when each source's row was written (Unix s)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.written: dict[str, float] = {}

    def write(self, results: list[Result]) -> None:
        super().write(results)
        now = time.time()
        for r in results:
            self.written[r.source] = now


def write_files(directory: Path, payloads: list[bytes], n: int, rate_hz: float | None, prefix: str) -> dict[str, float]:
    """Rename-into-place ``n`` files, at ``rate_hz`` or as fast as possible; {path: completion Unix s}."""
    done = {}
    start = time.monotonic()
    for i in range(n):
        if rate_hz:
            time.sleep(max(0.0, start + i / rate_hz - time.monotonic()))
        path = directory / f"{prefix}_{i:05d}.cbf"
        part = directory / f".{path.name}.part"
        part.write_bytes(payloads[i % len(payloads)])
        os.replace(part, path)
        done[str(path)] = time.time()
    return done


def offline_rates(directory: Path, payloads: list[bytes], classify) -> tuple[float, float, float]:
    """frames/s of freshly written files: fabio decode only, and decode + classify in batches of 16
    without the watcher or the log (the ceiling of the live path in one process); and the CPU time
    (ms) per frame of the decode."""
    paths = list(write_files(directory, payloads, 96, None, "decode"))
    t, cpu = time.perf_counter(), time.process_time()
    for p in paths:
        assert fabio.open(p).data.shape == (1043, 981)
    decode = len(paths) / (time.perf_counter() - t)
    decode_cpu_ms = 1e3 * (time.process_time() - cpu) / len(paths)
    t = time.perf_counter()
    for i in range(0, len(paths), 16):
        classify([frame for p in paths[i:i + 16] for frame in read_frames(p)])
    pipeline = len(paths) / (time.perf_counter() - t)
    for p in paths:
        os.unlink(p)
    return decode, pipeline, decode_cpu_ms


def run_live(directory: Path, log_path: Path, classify, payloads: list[bytes], n: int, rate_hz: float | None,
             prefix: str) -> dict:
    """One daemon on a fresh ``directory``, fed ``n`` files; rates (frames/s) and latencies (ms)."""
    directory.mkdir()
    config = load_config()
    log = TimedLog(log_path)
    daemon = Daemon(DirectoryWatcher(directory, config.watch), lambda: classify, log)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    while daemon.model != "ready":
        time.sleep(0.01)
    cpu = time.process_time()
    done = write_files(directory, payloads, n, rate_hz, prefix)
    deadline = time.monotonic() + 120
    while len(log.written) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    cpu = time.process_time() - cpu
    daemon.request_stop()
    thread.join()
    latencies = np.array([log.written[p] - done[p] for p in done]) * 1e3
    span = max(log.written.values()) - min(done.values())
    return {"frames": n, "rows": len(log.written), "written_rate_hz": rate_hz or n / (max(done.values()) - min(done.values())),
            "sustained_frames_per_s": n / span, "latency_ms_p50": float(np.percentile(latencies, 50)),
            "latency_ms_p99": float(np.percentile(latencies, 99)), "latency_ms_max": float(latencies.max()),
            "cpu_ms_per_frame": 1e3 * cpu / n}


def fsync_cost(tmp: Path) -> dict:
    row = Result("/data/sample_00001.cbf", 0, "ok", (0.7, 0.18) + (0.02,) * 6, latency_ms=12.0)
    costs = {}
    for fsync in (False, True):
        log = CsvLog(tmp / f"fsync_{fsync}.csv", fsync=fsync)
        times = []
        for _ in range(300):
            t = time.perf_counter()
            log.write([row])
            times.append(time.perf_counter() - t)
        log.close()
        costs["fsync" if fsync else "no_fsync"] = {"median_us": 1e6 * statistics.median(times),
                                                   "p99_us": 1e6 * float(np.percentile(times, 99))}
    return costs


def main() -> None:
    load_before = os.getloadavg()[0]
    config = demo_config(load_config())
    series = GrowthSeries(config, DISTINCT)
    payloads = [cbf_bytes(series.frame(i)) for i in range(DISTINCT)]
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        scratch = tmp / "decode"
        scratch.mkdir()
        model, model_kind = bundled_model_dir(), "bundled"
        t = time.perf_counter()
        classify = Classifier(config, model)  # callable; the daemon's readers use its prepare_early
        load_s = time.perf_counter() - t
        warmup = tmp / "warmup.cbf"
        warmup.write_bytes(payloads[0])
        classify(list(read_frames(warmup)))  # the pixel → bin table and the first inference
        steady = run_live(tmp / "steady", tmp / "steady.csv", classify, payloads, N_STEADY, 10.0, "steady")
        rounds = []
        for i in range(REPEATS):
            decode, pipeline, decode_cpu_ms = offline_rates(scratch, payloads, classify)
            fastest = run_live(tmp / f"max{i}", tmp / f"max{i}.csv", classify, payloads, N_MAX, None, f"max{i}")
            rounds.append({"decode_only_frames_per_s": decode, "decode_only_cpu_ms_per_frame": decode_cpu_ms,
                           "decode_classify_no_watch_frames_per_s": pipeline,
                           "max_rate": fastest, "max_rate_over_decode": fastest["sustained_frames_per_s"] / decode})
        fsync = fsync_cost(tmp)
    median = lambda values: float(statistics.median(values))  # noqa: E731
    decode = median(r["decode_only_frames_per_s"] for r in rounds)
    pipeline = median(r["decode_classify_no_watch_frames_per_s"] for r in rounds)
    fastest = {key: median(r["max_rate"][key] for r in rounds) for key in rounds[0]["max_rate"]}
    fastest.update(frames=N_MAX, rows=min(r["max_rate"]["rows"] for r in rounds))
    report = {
        "frame": f"synthetic Pilatus 1M CBF 1043x981 int32 (demo growth series), ~{len(payloads[0]) // 1000} kB",
        "model": model_kind, "model_load_s": load_s,
        "repeats": REPEATS,
        "decode_only_frames_per_s": decode,
        "decode_only_cpu_ms_per_frame": median(r["decode_only_cpu_ms_per_frame"] for r in rounds),
        "decode_classify_no_watch_frames_per_s": pipeline,
        "steady_10hz": steady,
        "max_rate": fastest,
        "max_rate_over_decode": median(r["max_rate_over_decode"] for r in rounds),
        "rounds": rounds,
        "csv_row_write": fsync,
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "fabio": fabio.version,
                    "cpus": os.cpu_count(), "processor": platform.machine(), "platform": sys.platform,
                    "load_average_1min_before": load_before, "load_average_1min_after": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"medians of {REPEATS} rounds: decode only: {decode:.0f} frames/s; decode + classify, no watcher: "
          f"{pipeline:.0f} frames/s; model: {model_kind} (load {load_s:.1f} s)")
    for name, r in (("10 Hz", steady), ("max", fastest)):
        print(f"{name:>6}: {r['sustained_frames_per_s']:.1f} frames/s sustained, latency p50 {r['latency_ms_p50']:.0f} ms, "
              f"p99 {r['latency_ms_p99']:.0f} ms ({r['rows']}/{r['frames']} rows)")
    cpu_decode, cpu_live = report["decode_only_cpu_ms_per_frame"], fastest["cpu_ms_per_frame"]
    print(f"CPU per frame: decode only {cpu_decode:.2f} ms, live at the max rate {cpu_live:.2f} ms (writer included); "
          f"on {os.cpu_count()} idle cores that bounds the live rate by {os.cpu_count() / cpu_live * 1e3:.0f} frames/s "
          f"= {os.cpu_count() * cpu_decode / cpu_live:.2f} x decode-only")
    each = ", ".join(f"{r['max_rate_over_decode']:.2f}" for r in rounds)
    print(f"max / decode-only: {report['max_rate_over_decode']:.2f} (median of {each})")
    print(f"CSV row write: {fsync['no_fsync']['median_us']:.0f} us, with fsync {fsync['fsync']['median_us']:.0f} us")
    print(f"written to {RESULT}")


if __name__ == "__main__":
    main()
