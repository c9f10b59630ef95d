"""Peak memory of `watch` and `classify` on one multi-frame file, against the same commands on a single frame.

A detector writes a series into one HDF5 file (an Eiger data file holds its nimages_per_file frames; a NeXus stack as
many as the scan has). Each command runs as a user runs it, in a process of its own with the bundled model and the
default config, on a NeXus file of ``--frames`` Pilatus 1M demo frames (int32, a gzip chunk per frame, 4.1 MB of
pixels each), on one of a quarter as many and on a CBF of one such frame; its peak resident set size is the child's
``ru_maxrss`` (``os.wait4``).
``watch`` runs with ``--backlog --no-dashboard`` on a directory holding the file and is stopped with SIGTERM once
its CSV log has a row per frame. The figure that matters is how the peak grows from the smaller file to the larger,
per frame: close to 0 when frames are decoded, preprocessed and passed through the network a few at a time, 4 MB
and more a frame when a file is held whole.

Writes benchmarks/results/memory_multiframe.json. Run:
.venv/bin/python benchmarks/bench_multiframe_memory.py [--frames 400]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fabio.cbfimage
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from livehelp import nexus_stack  # noqa: E402

from gisaxs_live.config import load_config  # noqa: E402
from gisaxs_live.publisher.demo_series import GrowthSeries, demo_config  # noqa: E402

RESULT = Path(__file__).parent / "results" / "memory_multiframe.json"
CLI = [sys.executable, "-m", "gisaxs_live.cli"]


def peak_mb(args: list[str], stop_when: Path | None = None, rows: int = 0,
            timeout_s: float = 900.0) -> tuple[float, float]:
    """(peak RSS in MB, wall s) of the command ``args``; with ``stop_when``, a monitor sent SIGTERM once that CSV log
    holds ``rows`` rows."""
    t0 = time.monotonic()
    child = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while stop_when is not None and time.monotonic() - t0 < timeout_s:
        if stop_when.exists() and sum(1 for _ in stop_when.open()) > rows:
            child.send_signal(signal.SIGTERM)
            break
        time.sleep(0.2)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{' '.join(args)}: exit status {os.waitstatus_to_exitcode(status)}")
    return usage.ru_maxrss / 1024, time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400)
    args = parser.parse_args()
    series = GrowthSeries(demo_config(load_config()), 4)
    images = [series.frame(i).astype(np.int32) for i in range(1, 4)]
    sizes = (1, args.frames // 4, args.frames)
    result: dict = {"what": __doc__.splitlines()[0], "frame_mb": round(images[0].nbytes / 1e6, 2), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            directory = Path(tmp) / f"n{n}"
            directory.mkdir()
            if n == 1:
                fabio.cbfimage.CbfImage(data=images[0]).write(str(directory / "frame.cbf"))
            else:
                nexus_stack(directory / "stack.h5", images, n)
            frame_file = next(directory.iterdir())
            for command in ("classify", "watch"):
                log = Path(tmp) / f"{command}{n}.csv"
                extra = ["--backlog", "--no-dashboard"] if command == "watch" else []
                target = str(directory if command == "watch" else frame_file)
                mb, wall_s = peak_mb([command, target, "--csv", str(log), *extra],
                                     stop_when=log if command == "watch" else None, rows=n)
                result["runs"].append({"command": command, "frames": n, "peak_rss_mb": round(mb, 1),
                                       "wall_s": round(wall_s, 1)})
                print(f"{command:8s} a file of {n:5d} frames: peak RSS {mb:7.0f} MB ({wall_s:5.1f} s)", flush=True)
    for command in ("classify", "watch"):
        peaks = {r["frames"]: r["peak_rss_mb"] for r in result["runs"] if r["command"] == command}
        slope = (peaks[sizes[2]] - peaks[sizes[1]]) / (sizes[2] - sizes[1])
        result[f"{command}_mb_per_extra_frame"] = round(slope, 3)
        print(f"{command:8s} from {sizes[1]} to {sizes[2]} frames: {slope:+.3f} MB a frame (a frame's pixels: "
              f"{result['frame_mb']} MB); above one frame: +{peaks[sizes[2]] - peaks[1]:.0f} MB")
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
