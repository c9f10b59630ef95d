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
  then ``--rounds`` rounds (3) of, side by side:
    offline: fabio decode only (one thread, ``fabio.open``), then decode + classify (batches of 16)
             without watcher or log, of freshly written files (page cache warm): the reference and
             the one-process ceiling; the CPU time a frame of the latter, the work every frame needs, bounds
             the rate on the cores there are;
    max: 300 frames written as fast as possible; sustained rate = frames / (last row − first rename);
  fsync: cost of one CSV row write with and without fsync.
The machine may be shared: each figure is the median over the rounds, and the ratio max / decode-only
is taken within each round, then its median reported, with the load average before and after. The
daemon's readers preprocess each frame right after decoding it (``Classifier.prepare_early``), the CNN
runs once per batch.

``--against DIR``: old and new side by side in one run. DIR is a checkout of another commit (e.g.
``git worktree add /tmp/base COMMIT``); each of ``--rounds`` rounds runs the whole measurement (10 Hz,
offline, max) once in a child process importing this repository's ``gisaxs_live`` and once in one
importing DIR's, in alternating order, so that both see the same machine load.
Writes benchmarks/results/live.json (``--out``). Run: .venv/bin/python benchmarks/bench_live.py
[--rounds N] [--against DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
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
ROUNDS = 3       # rounds of offline + max
REPO = Path(__file__).resolve().parent.parent


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


def offline_rates(directory: Path, payloads: list[bytes], classify) -> tuple[float, float, float, float]:
    """frames/s of freshly written files: fabio decode only, and decode + classify in batches of 16
    without the watcher or the log (the ceiling of the live path in one process); and the CPU time
    (ms) per frame of each: the second is the work every frame needs, however it is spread over cores."""
    paths = list(write_files(directory, payloads, 96, None, "decode"))
    t, cpu = time.perf_counter(), time.process_time()
    for p in paths:
        assert fabio.open(p).data.shape == (1043, 981)
    decode = len(paths) / (time.perf_counter() - t)
    decode_cpu_ms = 1e3 * (time.process_time() - cpu) / len(paths)
    t, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(paths), 16):
        classify([frame for p in paths[i:i + 16] for frame in read_frames(p)])
    pipeline = len(paths) / (time.perf_counter() - t)
    pipeline_cpu_ms = 1e3 * (time.process_time() - cpu) / len(paths)
    for p in paths:
        os.unlink(p)
    return decode, pipeline, decode_cpu_ms, pipeline_cpu_ms


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


def measure(rounds: int) -> dict:
    """The 10 Hz run, then ``rounds`` rounds of offline + max rate, in this process; the report."""
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
        each = []
        for i in range(rounds):
            load = os.getloadavg()[0]
            decode, pipeline, decode_cpu_ms, pipeline_cpu_ms = offline_rates(scratch, payloads, classify)
            fastest = run_live(tmp / f"max{i}", tmp / f"max{i}.csv", classify, payloads, N_MAX, None, f"max{i}")
            each.append({"decode_only_frames_per_s": decode, "decode_only_cpu_ms_per_frame": decode_cpu_ms,
                         "decode_classify_no_watch_frames_per_s": pipeline,
                         "decode_classify_cpu_ms_per_frame": pipeline_cpu_ms,
                         "max_rate": fastest, "max_rate_over_decode": fastest["sustained_frames_per_s"] / decode,
                         "load_average_1min": [load, os.getloadavg()[0]]})
        fsync = fsync_cost(tmp)
    return {
        "frame": f"synthetic Pilatus 1M CBF 1043x981 int32 (demo growth series), ~{len(payloads[0]) // 1000} kB",
        "model": model_kind, "model_load_s": load_s, "rounds": rounds, **summary(each), "steady_10hz": steady,
        "csv_row_write": fsync, "round_results": each,
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "fabio": fabio.version,
                    "cpus": os.cpu_count(), "processor": platform.machine(), "platform": sys.platform,
                    "load_average_1min_before": load_before, "load_average_1min_after": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d"),
    }


def summary(rounds: list[dict]) -> dict:
    """Medians over ``rounds`` of each figure; the ratio max / decode-only taken within each round."""
    median = lambda values: float(statistics.median(values))  # noqa: E731
    fastest = {key: median(r["max_rate"][key] for r in rounds) for key in rounds[0]["max_rate"]}
    fastest.update(frames=N_MAX, rows=min(r["max_rate"]["rows"] for r in rounds))
    return {"decode_only_frames_per_s": median(r["decode_only_frames_per_s"] for r in rounds),
            "decode_only_cpu_ms_per_frame": median(r["decode_only_cpu_ms_per_frame"] for r in rounds),
            "decode_classify_no_watch_frames_per_s": median(r["decode_classify_no_watch_frames_per_s"] for r in rounds),
            "decode_classify_cpu_ms_per_frame": median(r.get("decode_classify_cpu_ms_per_frame", math.nan)
                                                       for r in rounds),
            "max_rate": fastest, "max_rate_over_decode": median(r["max_rate_over_decode"] for r in rounds)}


def child(tree: Path, out: Path) -> dict:
    """One round of ``measure`` in a fresh process importing ``gisaxs_live`` from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, __file__, "--rounds", "1", "--out", str(out)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def side_by_side(against: Path, rounds: int) -> dict:
    """``rounds`` alternating rounds of this tree and ``against``; per tree the rounds and their medians."""
    trees = {"this": REPO, "against": against.resolve()}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            for name in (("this", "against") if i % 2 == 0 else ("against", "this")):
                runs[name].append(child(trees[name], Path(tmp) / f"{name}{i}.json"))
                print(f"round {i + 1} {name}: {describe(runs[name][-1])}", flush=True)
    report = {"rounds": rounds}
    for name, tree in trees.items():
        commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        each = [r["round_results"][0] for r in runs[name]]
        steady = {key: float(statistics.median(r["steady_10hz"][key] for r in runs[name]))
                  for key in runs[name][0]["steady_10hz"]}
        report[name] = {"tree": str(tree), "commit": commit, **summary(each), "steady_10hz": steady,
                        "runs": runs[name]}
    return report


def describe(report: dict) -> str:
    load = report["machine"]
    fastest, steady = report["max_rate"], report["steady_10hz"]
    return (f"decode only {report['decode_only_frames_per_s']:.0f} frames/s, decode + classify "
            f"{report['decode_classify_no_watch_frames_per_s']:.0f}, max {fastest['sustained_frames_per_s']:.0f} "
            f"({report['max_rate_over_decode']:.2f} x decode-only, {fastest['cpu_ms_per_frame']:.1f} ms CPU/frame), "
            f"10 Hz p99 {steady['latency_ms_p99']:.0f} ms; load {load['load_average_1min_before']:.1f}"
            f"-{load['load_average_1min_after']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--against", type=Path, help="a checkout of another commit, measured side by side")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    if args.against:
        report = side_by_side(args.against, args.rounds)
        for name in ("this", "against"):
            r = report[name]
            each = ", ".join(f"{x['max_rate_over_decode']:.2f}" for x in (run["round_results"][0] for run in r["runs"]))
            print(f"{name} ({r['commit']}): medians of {args.rounds}: decode only {r['decode_only_frames_per_s']:.0f} "
                  f"frames/s, max {r['max_rate']['sustained_frames_per_s']:.0f} frames/s, max / decode-only "
                  f"{r['max_rate_over_decode']:.2f} ({each}), CPU {r['max_rate']['cpu_ms_per_frame']:.1f} ms/frame, "
                  f"10 Hz p99 {r['steady_10hz']['latency_ms_p99']:.0f} ms")
    else:
        report = measure(args.rounds)
        print(f"medians of {args.rounds} rounds: {describe(report)}")
        cpu_decode, cpu_live = report["decode_only_cpu_ms_per_frame"], report["max_rate"]["cpu_ms_per_frame"]
        cpu_work, cores = report["decode_classify_cpu_ms_per_frame"], os.cpu_count()
        print(f"CPU per frame: decode only {cpu_decode:.2f} ms, live at the max rate {cpu_live:.2f} ms (writer "
              f"included); on {cores} idle cores that bounds the live rate by "
              f"{cores / cpu_live * 1e3:.0f} frames/s = {cores * cpu_decode / cpu_live:.2f} x decode-only")
        print(f"the work itself, decode + classify without watcher, log or writer: {cpu_work:.2f} ms CPU a frame; "
              f"spread perfectly over {cores} cores, at most {cores / cpu_work * 1e3:.0f} frames/s = "
              f"{cores * cpu_decode / cpu_work:.2f} x decode-only")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
