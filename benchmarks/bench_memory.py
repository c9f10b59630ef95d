"""Memory of the watch daemon over a long run: RSS while many small frames arrive.

The real watch path in one process: ``DirectoryWatcher`` (inotify) on a local temporary directory,
``Daemon``, the real ``CsvLog``; frames are 16×16 int32 CBF files (about 1.2 kB each) renamed into
place in chunks of 1,000, as fast as the daemon takes them. The classifier is a stand-in that only
reads the frame's mean (the CNN's own memory is the predictor's concern, measured by
bench_inference.py): what is measured here is what the watcher, the daemon and the log keep per file.
It runs until ``--frames`` files are logged or ``--budget-s`` seconds have passed, whichever is first,
and samples the process's RSS (/proc/self/status VmRSS) after each chunk, with the number of memory blocks
Python's allocator holds (``sys.getallocatedblocks``): objects kept per file would raise that count, while
the C allocator's own growth (fragments, arenas) shows in the RSS alone.

Writes benchmarks/results/memory.json. Run: .venv/bin/python benchmarks/bench_memory.py [--frames 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from livehelp import fake_classify, fast  # noqa: E402

from gisaxs_live.daemon import Daemon  # noqa: E402
from gisaxs_live.publisher.demo_series import cbf_bytes  # noqa: E402
from gisaxs_live.sinks.csvlog import CsvLog  # noqa: E402
from gisaxs_live.sources.watch import DirectoryWatcher  # noqa: E402

RESULT = Path(__file__).parent / "results" / "memory.json"
CHUNK = 1000


def rss_mb() -> float:
    """Resident set size of this process (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--budget-s", type=float, default=300.0)
    args = parser.parse_args()
    payload = cbf_bytes(np.full((16, 16), 5, np.int32))
    with tempfile.TemporaryDirectory() as tmp:
        frames, log = Path(tmp) / "frames", Path(tmp) / "log.csv"
        frames.mkdir()
        daemon = Daemon(DirectoryWatcher(frames, fast(settle_s=0.5)), lambda: fake_classify, CsvLog(log))
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        while daemon.model != "ready":
            time.sleep(0.01)
        samples, written, t0 = [], 0, time.monotonic()
        samples.append({"frames": 0, "s": 0.0, "rss_mb": round(rss_mb(), 1),
                        "python_blocks": sys.getallocatedblocks()})
        while written < args.frames and time.monotonic() - t0 < args.budget_s:
            for i in range(written, min(written + CHUNK, args.frames)):
                part = frames / f".m_{i:06d}.cbf.part"
                part.write_bytes(payload)
                os.replace(part, frames / f"m_{i:06d}.cbf")
            written = min(written + CHUNK, args.frames)
            while daemon.rows < written and time.monotonic() - t0 < args.budget_s + 60:
                time.sleep(0.05)
            samples.append({"frames": daemon.rows, "s": round(time.monotonic() - t0, 1),
                            "rss_mb": round(rss_mb(), 1), "python_blocks": sys.getallocatedblocks()})
            print(f"{daemon.rows:7d} frames  {samples[-1]['s']:7.1f} s  RSS {samples[-1]['rss_mb']:7.1f} MB  "
                  f"Python blocks {samples[-1]['python_blocks']:,}",
                  flush=True)
        t_stop = time.monotonic()
        daemon.request_stop()
        thread.join(120)
        print(f"stopped in {time.monotonic() - t_stop:.1f} s", flush=True)
        rows = sum(1 for _ in open(log)) - 1
        tenth = max(1, len(samples) // 10)
        early = float(np.median([s["rss_mb"] for s in samples[1:1 + tenth]]))
        late = float(np.median([s["rss_mb"] for s in samples[-tenth:]]))
        blocks = [float(np.median([s["python_blocks"] for s in part]))
                  for part in (samples[1:1 + tenth], samples[-tenth:])]
        result = {"what": "watch daemon (inotify, CsvLog, stand-in classifier) on 16x16 CBF files renamed in, "
                          f"chunks of {CHUNK}", "frames_asked": args.frames, "frames_logged": rows,
                  "budget_s": args.budget_s, "rss_first_tenth_mb": round(early, 1), "rss_last_tenth_mb": round(late, 1),
                  "growth_mb_per_10k_frames": round((late - early) / max(rows, 1) * 1e4, 2),
                  "python_blocks_first_tenth": blocks[0], "python_blocks_last_tenth": blocks[1], "samples": samples}
        RESULT.parent.mkdir(exist_ok=True)
        RESULT.write_text(json.dumps(result, indent=1) + "\n")
        t_clean = time.monotonic()
    print(f"temporary files removed in {time.monotonic() - t_clean:.1f} s")
    print(f"{rows} frames logged; RSS {early:.1f} MB (first tenth) -> {late:.1f} MB (last tenth); Python blocks "
          f"{blocks[0]:,.0f} -> {blocks[1]:,.0f}; wrote {RESULT}")


if __name__ == "__main__":
    main()
