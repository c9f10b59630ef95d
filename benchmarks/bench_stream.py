"""Sustained frames/s of Pilatus 1M frames (1043×981 int32) through ``publish`` → ``stream`` → CSV, raw (``<``)
and ``bs32-lz4<``, next to the decode-only and receive-only rates measured in the same run.

Frames: synthetic growth-series CBFs (``demo_series``), ``DISTINCT`` of them, replayed with ``--repeat``
(each is encoded once by the publisher); the bundled model. Runs, per encoding:

  decode:  ``MessageHandler.handle`` on encoded messages in this process (JSON parts, size guard, decode,
           mask): the ceiling of the receiving thread; and the size guard alone (``sizeguard``: declared
           size, compressed length, bitshuffle header), per message;
  receive: a ``gisaxs-live publish --rate 0`` process → ``StreamSource`` in this process, frames taken
           and discarded: transport + decode, no classification;
  classify: ``pipeline.Classifier.classify`` in this process on decoded frames, batches of
           stream.batch_size: the classifier's ceiling, without transport;
  stream:  ``gisaxs-live publish --rate HZ`` → ``gisaxs-live stream --no-dashboard`` process → CSV, for
           ``DURATION_S`` at each of ``RATES_HZ``. Sustained rate: classified rows after the first
           ``WARMUP`` over the time between them (CSV time_utc, 1 ms resolution). Frames arriving at a
           full queue (stream.queue_size) are dropped with an error row and counted; the publisher
           process shares the 2 cores. Latency percentiles: row latency_ms (from arrival), after WARMUP.
Writes benchmarks/results/stream.json. Run: .venv/bin/python benchmarks/bench_stream.py
(``--decode-only``: the decode and size-guard figures alone, in seconds, to benchmarks/results/stream_decode.json)

``--v2-bluesky`` (a few minutes; to benchmarks/results/stream_v2_bluesky.json): Stream V2 with bslz4 on the
same Pilatus 1M frames, in one run: decode-only (``MessageHandler.handle``, median of 3 rounds), then
``gisaxs-live publish --protocol stream2 --compression bslz4 --rate 0`` → ``gisaxs-live stream`` → CSV,
sustained classified frames/s (as above), without and with ``--bluesky`` to a real ``bluesky-0MQ-proxy``
process (documents built and sent for every row), alternated ``V2_ROUNDS`` times so that the machine's load
falls on both alike; the ratios: sustained / decode-only, and with / without Bluesky (medians); and the
Bluesky sink's own cost, ``BlueskySink.update`` in this process, in µs per frame and as a share of the time
per frame at the sustained rate (steadier than the ratio of two noisy rates on a shared machine).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from gisaxs_live.publisher import replay as publisher
from gisaxs_live.classify.modeldir import bundled_model_dir
from gisaxs_live.config import Stream, load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config
from gisaxs_live.sinks.csvlog import parse_time
from gisaxs_live.sources import simplon, sizeguard
from gisaxs_live.sources.stream import MessageHandler, StreamSource

RESULT = Path(__file__).parent / "results" / "stream.json"
DECODE_RESULT = RESULT.with_name("stream_decode.json")
V2_RESULT = RESULT.with_name("stream_v2_bluesky.json")
V2_FRAMES = 320  # frames per publish -> stream run (--v2-bluesky)
V2_ROUNDS = 3    # runs without and with Bluesky, alternated
CLI = [sys.executable, "-m", "gisaxs_live.cli"]
DISTINCT = 8
N_DECODE = 200    # messages decoded in-process
N_RECEIVE = 800   # frames published for the receive-only rate
RATES_HZ = (100, 150, 200)  # publish rates through the stream command ...
DURATION_S = 10.0           # ... each for this long
N_CLASSIFY = 160  # frames classified in-process
WARMUP = 16       # rows skipped before the sustained rate (model warm-up, pixel→bin lookup)
ENCODINGS = ("<", "bs32-lz4<")
DECODE_ENCODINGS = ("<", "lz4<", "bs32-lz4<")  # --decode-only
N_GUARD = 20_000  # size-guard calls timed


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def make_frames(tmp: Path) -> tuple[list[Path], list[np.ndarray]]:
    series = GrowthSeries(demo_config(load_config()), DISTINCT)
    frames = [series.frame(i) for i in range(DISTINCT)]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp / f"growth_{i:05d}.cbf")
        paths[-1].write_bytes(cbf_bytes(frame))
    return paths, frames


def decode_rate(frames: list[np.ndarray], encoding: str, protocol: str = "simplon") -> dict:
    """One series of N_DECODE images (header, images, end; each distinct frame encoded once) decoded."""
    msgs = list(publisher.messages(frames, protocol, encoding, repeat=N_DECODE // len(frames)))
    handler = MessageHandler("tcp://127.0.0.1:0")
    start = time.perf_counter()
    for msg in msgs:
        handler.handle(msg.parts, 0.0)
    elapsed = time.perf_counter() - start
    images = [m.parts for m in msgs if m.frame]
    blob = 2 if protocol == "simplon" else 0  # V2: the whole CBOR message
    return {"frames_per_s": len(images) / elapsed, "blob_bytes_mean": statistics.mean(len(m[blob]) for m in images)}


def guard_cost(frame: np.ndarray, encoding: str) -> dict:
    """Microseconds per message of the checks ``simplon.decode_blob`` runs before decoding ``frame``."""
    data = publisher.simplon_pixels(frame)
    view = memoryview(simplon.encode_blob(data, encoding))
    limit = Stream().max_image_bytes

    def guard() -> None:
        sizeguard.check_declared(data.nbytes, "frame", limit)
        if encoding == "lz4<":
            sizeguard.check_lz4_length(len(view), data.nbytes, encoding)
        elif encoding != "<":
            sizeguard.check_bslz4_header(view, data.nbytes, data.itemsize, encoding, limit)

    start = time.perf_counter()
    for _ in range(N_GUARD):
        guard()
    return {"us_per_message": (time.perf_counter() - start) / N_GUARD * 1e6}


def classify_rate(frames: list[np.ndarray], encoding: str) -> dict:
    from gisaxs_live.classify.pipeline import Classifier

    handler = MessageHandler("tcp://127.0.0.1:0")
    decoded = [handler.handle(m.parts, time.time()) for m in publisher.messages(frames, "simplon", encoding) if m.frame]
    classifier = Classifier(load_config())
    batch = Stream().batch_size
    work = [decoded[i % len(decoded)] for i in range(batch)]
    classifier.classify(work)  # warm-up: lookup table, first inference
    start = time.perf_counter()
    for _ in range(N_CLASSIFY // batch):
        classifier.classify(work)
    return {"frames_per_s": N_CLASSIFY // batch * batch / (time.perf_counter() - start), "batch": batch}


def publish(endpoint: str, paths: list[Path], encoding: str, n: int, rate: float = 0.0) -> subprocess.Popen:
    """A publish process: SIMPLON v1 with ``encoding``, or Stream V2 for ``stream2:COMPRESSION``."""
    assert n % len(paths) == 0, "n must be a multiple of DISTINCT"
    protocol, _, compression = encoding.partition(":")
    how = ["--protocol", "stream2", "--compression", compression] if protocol == "stream2" else ["--encoding", encoding]
    return subprocess.Popen([*CLI, "publish", "--endpoint", endpoint, "--rate", str(rate), *how,
                             "--repeat", str(n // len(paths)), *map(str, paths)], stderr=subprocess.PIPE, text=True)


def receive_rate(paths: list[Path], encoding: str) -> dict:
    endpoint = free_endpoint()
    source = StreamSource(endpoint, Stream())
    source.start()
    proc = publish(endpoint, paths, encoding, N_RECEIVE)
    times: list[float] = []
    deadline = time.monotonic() + 300
    while len(times) < N_RECEIVE and time.monotonic() < deadline:
        frames, _ = source.take(64, 0.1)
        times += [time.monotonic()] * len(frames)
    proc.wait(timeout=60)
    source.stop()
    source.join()
    c = source.counts
    span = times[-1] - times[WARMUP]
    return {"frames": len(times), "dropped": c.dropped, "frames_per_s": (len(times) - 1 - WARMUP) / span}


def stream_run(paths: list[Path], encoding: str, model: Path, tmp: Path, n: int, rate: float,
               extra: tuple[str, ...] = ()) -> dict:
    """``publish`` → ``stream`` (with ``extra`` options) → CSV; the sustained classified rate."""
    endpoint = free_endpoint()
    csv_path = tmp / f"stream_{encoding[:2]}_{rate:g}_{len(extra)}_{time.monotonic_ns()}.csv"
    stream = subprocess.Popen([*CLI, "stream", "--no-dashboard", "--csv", str(csv_path), "--model", str(model),
                               *extra, endpoint], stderr=subprocess.PIPE, text=True)
    threading.Thread(target=stream.stderr.read, daemon=True).start()  # never let its log fill the pipe
    proc = publish(endpoint, paths, encoding, n, rate)
    proc.wait(timeout=600)
    rows, last_change = [], time.monotonic()
    while len(rows) < n and time.monotonic() - last_change < 15:  # all rows, or none new for 15 s
        time.sleep(0.2)
        if len(new := read_rows(csv_path)) > len(rows):
            rows, last_change = new, time.monotonic()
    stream.send_signal(signal.SIGTERM)
    stream.wait(timeout=60)
    classified = [r for r in rows if not r["message"].startswith("dropped")]
    times = [parse_time(r["time_utc"]) for r in classified]
    latency = sorted(float(r["latency_ms"]) for r in classified[WARMUP:])
    return {"published": n, "rows": len(rows), "classified": len(classified), "dropped": len(rows) - len(classified),
            "statuses": {s: sum(r["status"] == s for r in classified)
                         for s in ("ok", "unknown", "no_signal", "error")},
            "sustained_classified_frames_per_s": (len(times) - 1 - WARMUP) / (times[-1] - times[WARMUP]),
            "latency_ms_p50": latency[len(latency) // 2], "latency_ms_p99": latency[int(0.99 * (len(latency) - 1))]}


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def decode_only() -> None:
    """``--decode-only``: decode and size-guard figures per encoding, to DECODE_RESULT."""
    with tempfile.TemporaryDirectory() as tmp:
        _, frames = make_frames(Path(tmp))
    results = {}
    for encoding in DECODE_ENCODINGS:
        decode, guard = decode_rate(frames, encoding), guard_cost(frames[0], encoding)
        share = guard["us_per_message"] * 1e-6 * decode["frames_per_s"]
        results[encoding] = {"decode_only": decode, "size_guard": guard | {"share_of_decode": share}}
    report = {"frame": "synthetic Pilatus 1M growth-series frame, 1043x981 int32 (demo_series)", "results": results,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_average_1min": os.getloadavg()[0]},
              "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(results, indent=1), file=sys.stderr)
    DECODE_RESULT.parent.mkdir(exist_ok=True)
    DECODE_RESULT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {DECODE_RESULT}", file=sys.stderr)


def bluesky_cost(address: str, n: int = 4000) -> dict:
    """Microseconds per frame of ``BlueskySink.update`` (documents built by event-model, pickled, sent to the
    proxy at ``address``), in batches of stream.batch_size results of the bundled model's 8 classes."""
    from gisaxs_live.results import Result
    from gisaxs_live.sinks import Update
    from gisaxs_live.sinks.bluesky import BlueskySink

    sink = BlueskySink(address)
    batch = Stream().batch_size
    probabilities = tuple(np.linspace(1, 8, 8) / 36)
    updates = [Update(tuple(Result("tcp://127.0.0.1:1 series 1", i * batch + j, "ok", probabilities, 5.0,
                                   ood_score=1.0) for j in range(batch))) for i in range(n // batch)]
    sink.update(updates[0])  # the run's start and descriptor
    start = time.perf_counter()
    for update in updates[1:]:
        sink.update(update)
    elapsed = time.perf_counter() - start
    sink.close()
    return {"us_per_frame": elapsed / (len(updates) - 1) / batch * 1e6, "frames": (len(updates) - 1) * batch}


def v2_bluesky() -> None:
    """``--v2-bluesky``: Stream V2 bslz4 decode-only and publish → stream → CSV, without and with Bluesky."""
    load_before = os.getloadavg()[0]
    proxy_in, proxy_out = (int(free_endpoint().rsplit(":", 1)[1]) for _ in range(2))
    proxy = subprocess.Popen([str(Path(sys.executable).with_name("bluesky-0MQ-proxy")), str(proxy_in),
                              str(proxy_out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            paths, frames = make_frames(tmp)
            decode = [decode_rate(frames, "bslz4", "stream2") for _ in range(3)]
            sink = [bluesky_cost(f"tcp://127.0.0.1:{proxy_in}") for _ in range(3)]
            runs: dict[str, list[dict]] = {"without_bluesky": [], "with_bluesky": []}
            options = {"without_bluesky": (), "with_bluesky": ("--bluesky", f"tcp://127.0.0.1:{proxy_in}")}
            for i in range(V2_ROUNDS):
                for name, extra in options.items():
                    print(f"round {i + 1}: V2 bslz4 publish -> stream -> CSV, {name}", file=sys.stderr)
                    runs[name].append(stream_run(paths, "stream2:bslz4", bundled_model_dir(), tmp, V2_FRAMES, 0.0,
                                                 extra))
    finally:
        proxy.terminate()
        proxy.wait(10)
    decode_fps = statistics.median(d["frames_per_s"] for d in decode)
    sustained = {k: statistics.median(r["sustained_classified_frames_per_s"] for r in v) for k, v in runs.items()}
    report = {
        "frame": "synthetic Pilatus 1M growth-series frame, 1043x981 int32 (demo_series), Stream V2 bslz4",
        "decode_only_frames_per_s_rounds": [d["frames_per_s"] for d in decode],
        "decode_only_frames_per_s": decode_fps,
        "runs": runs,
        "sustained_frames_per_s_median": sustained,
        "sustained_over_decode_only": sustained["without_bluesky"] / decode_fps,
        "with_over_without_bluesky": sustained["with_bluesky"] / sustained["without_bluesky"],
        "bluesky_sink_us_per_frame_rounds": [c["us_per_frame"] for c in sink],
        "bluesky_sink_us_per_frame": statistics.median(c["us_per_frame"] for c in sink),
        # the sink's time per frame over the time per frame at the sustained rate without it
        "bluesky_sink_share_of_frame_time": statistics.median(c["us_per_frame"] for c in sink) * 1e-6
        * sustained["without_bluesky"],
        "stream_settings": asdict(Stream()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1min_before": load_before, "load_average_1min_after": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps({k: report[k] for k in ("decode_only_frames_per_s", "sustained_frames_per_s_median",
                                             "sustained_over_decode_only", "with_over_without_bluesky",
                                             "bluesky_sink_us_per_frame", "bluesky_sink_share_of_frame_time")},
                     indent=1), file=sys.stderr)
    V2_RESULT.parent.mkdir(exist_ok=True)
    V2_RESULT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {V2_RESULT}", file=sys.stderr)


def main() -> None:
    if sys.argv[1:] == ["--decode-only"]:
        decode_only()
        return
    if sys.argv[1:] == ["--v2-bluesky"]:
        v2_bluesky()
        return
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = bundled_model_dir()
        paths, frames = make_frames(tmp)
        results = {}
        for encoding in ENCODINGS:
            print(f"{encoding}: decode, receive, classify, stream at {RATES_HZ} Hz", file=sys.stderr)
            results[encoding] = {
                "decode_only": decode_rate(frames, encoding),
                "size_guard": guard_cost(frames[0], encoding),
                "publish_to_receiver": receive_rate(paths, encoding),
                "classify_only": classify_rate(frames, encoding),
            }
            for rate in RATES_HZ:
                n = int(rate * DURATION_S) // DISTINCT * DISTINCT
                results[encoding][f"publish_stream_csv_{rate}hz"] = stream_run(paths, encoding, model, tmp, n, rate)
            print(json.dumps(results[encoding], indent=1), file=sys.stderr)
    report = {
        "load_average_1min_before": load_before,
        "frame": "synthetic Pilatus 1M growth-series frame, 1043x981 int32 (demo_series), replayed from CBF",
        "model": "bundled",
        "stream_settings": asdict(Stream()),
        "results": results,
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                    "processor": platform.machine(), "load_average_1min_after": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULT}", file=sys.stderr)


if __name__ == "__main__":
    main()
