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

``--part classifier``: what the watch path leaves out, the real ``Classifier`` (the bundled model: TensorFlow,
the size net, the out-of-distribution statistics) on Pilatus 1M frames of the demo growth series, in memory,
in batches of 16 as the daemon hands them over, with the same RSS samples every 1,000 frames.

Writes benchmarks/results/memory.json (``--part classifier``: memory_classifier.json). Run:
.venv/bin/python benchmarks/bench_memory.py [--part watch|classifier] [--frames 100000] [--budget-s S]
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


def sample(frames: int, t0: float) -> dict:
    """One RSS sample after ``frames`` frames, printed."""
    s = {"frames": frames, "s": round(time.monotonic() - t0, 1), "rss_mb": round(rss_mb(), 1),
         "python_blocks": sys.getallocatedblocks()}
    print(f"{frames:7d} frames  {s['s']:7.1f} s  RSS {s['rss_mb']:7.1f} MB  Python blocks {s['python_blocks']:,}",
          flush=True)
    return s


def trend(samples: list[dict], rows: int) -> dict:
    """Medians of the first and last tenth of the samples, and the growth between them."""
    tenth = max(1, len(samples) // 10)
    early = float(np.median([s["rss_mb"] for s in samples[1:1 + tenth]]))
    late = float(np.median([s["rss_mb"] for s in samples[-tenth:]]))
    blocks = [float(np.median([s["python_blocks"] for s in part])) for part in (samples[1:1 + tenth], samples[-tenth:])]
    return {"rss_first_tenth_mb": round(early, 1), "rss_last_tenth_mb": round(late, 1),
            "rss_max_mb": max(s["rss_mb"] for s in samples),
            "growth_mb_per_10k_frames": round((late - early) / max(rows, 1) * 1e4, 2),
            "python_blocks_first_tenth": blocks[0], "python_blocks_last_tenth": blocks[1]}


def classifier_part(n_frames: int, budget_s: float) -> None:
    """The real Classifier on in-memory Pilatus 1M frames; writes memory_classifier.json."""
    from gisaxs_live.classify.pipeline import Classifier
    from gisaxs_live.config import load_config
    from gisaxs_live.frame import Frame
    from gisaxs_live.publisher.demo_series import GrowthSeries, demo_config

    config = demo_config(load_config())
    series = GrowthSeries(config, 16)
    data = [series.frame(i) for i in range(16)]
    classifier = Classifier(config)
    classifier.warm_up()
    t0 = time.monotonic()
    samples, done, statuses = [sample(0, t0)], 0, {}
    first = classifier.classify([Frame(d, "check.cbf", 0, time.time()) for d in data])
    if any(r.status != "ok" for r in first):
        raise SystemExit(f"the demo frames do not classify: {[r.message for r in first if r.status != 'ok'][:1]}")
    while done < n_frames and time.monotonic() - t0 < budget_s:
        for _ in range(CHUNK // 16):
            batch = [Frame(d, f"f{done + i}.cbf", 0, time.time()) for i, d in enumerate(data)]
            for r in classifier.classify(batch):
                statuses[r.status] = statuses.get(r.status, 0) + 1
            done += len(batch)
        samples.append(sample(done, t0))
    result = {"what": "the bundled model's Classifier (TensorFlow CNN, size net, OOD statistics) on 16 distinct "
                      "Pilatus 1M demo frames, in memory, batches of 16", "frames_asked": n_frames,
              "frames_classified": done, "statuses": statuses, "budget_s": budget_s, **trend(samples, done),
              "samples": samples}
    out = RESULT.with_name("memory_classifier.json")
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{done} frames classified ({statuses}); RSS {result['rss_first_tenth_mb']} MB (first tenth) -> "
          f"{result['rss_last_tenth_mb']} MB (last tenth), at most {result['rss_max_mb']} MB; wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("watch", "classifier"), default="watch")
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--budget-s", type=float, default=300.0)
    args = parser.parse_args()
    if args.part == "classifier":
        classifier_part(args.frames, args.budget_s)
        return
    payload = cbf_bytes(np.full((16, 16), 5, np.int32))
    with tempfile.TemporaryDirectory() as tmp:
        frames, log = Path(tmp) / "frames", Path(tmp) / "log.csv"
        frames.mkdir()
        daemon = Daemon(DirectoryWatcher(frames, fast(settle_s=0.5)), lambda: fake_classify, CsvLog(log))
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        while daemon.model != "ready":
            time.sleep(0.01)
        written, t0 = 0, time.monotonic()
        samples = [sample(0, t0)]
        while written < args.frames and time.monotonic() - t0 < args.budget_s:
            for i in range(written, min(written + CHUNK, args.frames)):
                part = frames / f".m_{i:06d}.cbf.part"
                part.write_bytes(payload)
                os.replace(part, frames / f"m_{i:06d}.cbf")
            written = min(written + CHUNK, args.frames)
            while daemon.rows < written and time.monotonic() - t0 < args.budget_s + 60:
                time.sleep(0.05)
            samples.append(sample(daemon.rows, t0))
        t_stop = time.monotonic()
        daemon.request_stop()
        thread.join(120)
        print(f"stopped in {time.monotonic() - t_stop:.1f} s", flush=True)
        rows = sum(1 for _ in open(log)) - 1
        result = {"what": "watch daemon (inotify, CsvLog, stand-in classifier) on 16x16 CBF files renamed in, "
                          f"chunks of {CHUNK}", "frames_asked": args.frames, "frames_logged": rows,
                  "budget_s": args.budget_s, **trend(samples, rows), "samples": samples}
        RESULT.parent.mkdir(exist_ok=True)
        RESULT.write_text(json.dumps(result, indent=1) + "\n")
        t_clean = time.monotonic()
    print(f"temporary files removed in {time.monotonic() - t_clean:.1f} s")
    print(f"{rows} frames logged; RSS {result['rss_first_tenth_mb']} MB (first tenth) -> {result['rss_last_tenth_mb']} "
          f"MB (last tenth); Python blocks {result['python_blocks_first_tenth']:,.0f} -> "
          f"{result['python_blocks_last_tenth']:,.0f}; wrote {RESULT}")


if __name__ == "__main__":
    main()
