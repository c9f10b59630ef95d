"""Stream V2 beside SIMPLON v1 on a Pilatus 1M frame (1043x981 int32, the demo growth series): the
decode-only rate of ``MessageHandler.handle`` (CBOR or JSON parts, size guard, decompression, mask) per
compression, and the receive rate (a ``gisaxs-live publish --rate 0`` process -> ``StreamSource`` in this
process, frames taken and discarded: transport + decode, no classification; the rate between the first and
the last frame's arrival stamp, so the publisher's start-up is left out), in the same run.

Writes benchmarks/results/stream2.json. Run: .venv/bin/python benchmarks/bench_stream2.py [--frames N]
(default 40 messages per case; short, on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gisaxs_live.publisher import replay as publisher
from gisaxs_live.config import Stream, load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config
from gisaxs_live.sources.stream import MessageHandler, StreamSource

CASES = [("stream2", "none"), ("stream2", "bslz4"), ("stream2", "lz4"),
         ("simplon", "<"), ("simplon", "bs32-lz4<"), ("simplon", "lz4<")]
OUT = Path(__file__).parent / "results" / "stream2.json"


def decode_rate(frame: np.ndarray, protocol: str, encoding: str, n: int, rounds: int = 3) -> dict:
    """Messages/s of MessageHandler.handle on ``n`` encoded images of one series (start first), the median
    of ``rounds`` rounds after one warm-up image."""
    msgs = list(publisher.messages([frame] * n, protocol, encoding, 1))
    images = [m.parts for m in msgs if m.frame]
    times = []
    for _ in range(rounds):
        handler = MessageHandler("tcp://127.0.0.1:1")
        handler.handle(msgs[0].parts, 0.0)
        handler.handle(images[0], 0.0)  # warm-up: imports, first allocations
        t0 = time.perf_counter()
        for parts in images:
            item = handler.handle(parts, 0.0)
            assert item.__class__.__name__ == "Frame", item
        times.append((time.perf_counter() - t0) / len(images))
    per_frame = statistics.median(times)
    return {"frames_per_s": 1 / per_frame, "ms_per_frame": 1e3 * per_frame, "ms_per_frame_rounds": [1e3 * t for t in times],
            "message_bytes": len(images[0][0]) if protocol == "stream2" else sum(len(p) for p in images[0])}


def receive_rate(cbf: Path, protocol: str, encoding: str, n: int) -> dict:
    """Frames/s from a publish process into StreamSource (arrival stamps of the first and last frame)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        endpoint = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    source = StreamSource(endpoint, Stream(queue_size=1000))
    source.start()
    option = "--compression" if protocol == "stream2" else "--encoding"
    proc = subprocess.Popen([sys.executable, "-m", "gisaxs_live.cli", "publish", "--protocol", protocol, option,
                             encoding, "--endpoint", endpoint, "--rate", "0", "--repeat", str(n), str(cbf)],
                            stderr=subprocess.DEVNULL)
    times, end = [], time.monotonic() + 120
    try:
        while len(times) < n and time.monotonic() < end:
            frames, rejected = source.take(100, 0.1)
            assert not rejected, rejected[0].message
            times += [f.t for f in frames]  # stamped on arrival, before decoding
    finally:
        proc.wait(timeout=60)
        source.stop()
        source.join()
    span = times[-1] - times[0]
    return {"frames": len(times), "frames_per_s": (len(times) - 1) / span if span > 0 else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    frame = GrowthSeries(demo_config(load_config()), 1).frame(0)
    results = {"frame": f"{frame.shape[1]}x{frame.shape[0]} {frame.dtype}", "frames": args.frames,
               "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(), "python": platform.python_version()},
               "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        cbf = Path(tmp) / "frame.cbf"
        cbf.write_bytes(cbf_bytes(frame))
        for protocol, encoding in CASES:
            decode = decode_rate(frame, protocol, encoding, args.frames)
            receive = receive_rate(cbf, protocol, encoding, args.frames)
            ratio = receive["frames_per_s"] / decode["frames_per_s"] if receive["frames_per_s"] else None
            results["cases"][f"{protocol} {encoding}"] = {"decode": decode, "receive": receive,
                                                         "receive_over_decode": ratio}
            print(f"{protocol:8s} {encoding:10s} decode {decode['frames_per_s']:7.1f} frames/s "
                  f"({decode['ms_per_frame']:.2f} ms, message {decode['message_bytes'] / 1e6:.2f} MB)  "
                  f"receive {receive['frames_per_s'] or 0:7.1f} frames/s  ratio {ratio or 0:.2f}", flush=True)
    results["machine"]["load_average_after"] = os.getloadavg()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
