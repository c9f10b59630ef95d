"""The first frame's wait after start-up, with and without ``Classifier.warm_up`` (one dummy batch through the
CNN before the source opens). Each case runs in a fresh process: model load, warm-up (if any), then the
first and second Pilatus 1M frames of the demo series classified one at a time (the first also builds the
pixel → bin lookup for its detector shape, in both cases). Writes benchmarks/results/first_frame.json.
Run: .venv/bin/python benchmarks/bench_first_frame.py"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULT = Path(__file__).parent / "results" / "first_frame.json"
ROUNDS = 3
CHILD = """
import json, sys, time
from gisaxs_live.config import load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, demo_config
from gisaxs_live.frame import Frame
from gisaxs_live.classify.pipeline import Classifier

config = demo_config(load_config())
series = GrowthSeries(config, 2)
frames = [Frame(series.frame(i), f"s_{i}.cbf", 0, 0.0) for i in range(2)]
t0 = time.perf_counter()
classifier = Classifier(config)
t1 = time.perf_counter()
if sys.argv[1] == "warm":
    classifier.warm_up()
t2 = time.perf_counter()
classifier.classify(frames[:1])
t3 = time.perf_counter()
classifier.classify(frames[1:])
t4 = time.perf_counter()
print(json.dumps({"load_s": t1 - t0, "warm_up_s": t2 - t1, "first_frame_ms": 1e3 * (t3 - t2),
                  "second_frame_ms": 1e3 * (t4 - t3)}))
"""


def measure(case: str) -> dict[str, float]:
    runs = []
    for _ in range(ROUNDS):
        done = subprocess.run([sys.executable, "-c", CHILD, case], capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    cold, warm = measure("cold"), measure("warm")
    result = {
        "what": "first and second frame classified after start-up (Pilatus 1M, batch 1), median of "
                f"{ROUNDS} fresh processes each, without and with Classifier.warm_up",
        "without_warm_up": cold,
        "with_warm_up": warm,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1min_after": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    for name, figures in (("without warm-up", cold), ("with warm-up", warm)):
        print(f"{name:16s}: load {figures['load_s']:.2f} s, warm-up {figures['warm_up_s']:.2f} s, "
              f"first frame {figures['first_frame_ms']:.0f} ms, second {figures['second_frame_ms']:.0f} ms")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
