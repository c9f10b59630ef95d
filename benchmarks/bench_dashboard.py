"""Time of one dashboard render (the pure ``render`` of a full state onto a 150-column StringIO console),
the work the live monitor does for every refresh. Writes benchmarks/results/dashboard.json.
Run: .venv/bin/python benchmarks/bench_dashboard.py"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from gisaxs_live.config import Output, load_config
from gisaxs_live.results import CLASS_NAMES, Result
from gisaxs_live.sinks import Update
from gisaxs_live.sinks.dashboard import DashboardState, render

ROUNDS = 50
FRAMES = 200
RESULT = Path(__file__).parent / "results" / "dashboard.json"


def full_state(output: Output) -> DashboardState:
    """``output``'s table and class-mix sizes, filled with ``FRAMES`` frames."""
    state = DashboardState(output.recent_rows, output.mix_frames)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (90, 70)).astype(np.uint8)
    results = []
    for i in range(FRAMES):
        probs = rng.dirichlet(np.ones(len(CLASS_NAMES)) * 0.3)
        results.append(Result(f"/data/run/sample_{i:05d}.cbf", 0, "ok", tuple(probs), latency_ms=12.0,
                              time_utc=f"2026-01-02T03:{i // 60:02d}:{i % 60:02d}.500Z", image=image))
    state.add(Update(tuple(results), queue_depth=3, queue_limit=10000, source="/data/run (inotify)", model="ready"))
    return state


def main() -> None:
    output = load_config().output  # the default config's dashboard sizes
    state = full_state(output)
    now = time.time()
    times = []
    for _ in range(ROUNDS):
        console = Console(file=io.StringIO(), width=150, color_system="truecolor", legacy_windows=False)
        start = time.perf_counter()
        console.print(render(state, now))
        times.append(time.perf_counter() - start)
    result = {
        "what": f"render of a dashboard state ({FRAMES} frames, {output.recent_rows} table rows, "
                f"{output.mix_frames}-frame class mix) to a 150-column truecolor StringIO console",
        "rounds": ROUNDS,
        "render_ms_median": 1e3 * statistics.median(times),
        "render_ms_max": 1e3 * max(times),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1min_after": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"dashboard render: median {result['render_ms_median']:.1f} ms, max {result['render_ms_max']:.1f} ms "
          f"over {ROUNDS} rounds")
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
