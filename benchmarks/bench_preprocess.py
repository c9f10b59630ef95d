"""Frames per second of the live preprocessing on a Pilatus 1M CBF (1043 × 981 pixels).

Measured side by side, interleaved round by round so that all three see the same machine load:
  (a) decode: fabio reads the CBF (through ``read_frames``);
  (b) regrid + scale: ``FramePreprocessor.prepare`` on the frame already in memory;
  (c) decode + regrid + scale: both, as the live path does per file;
  (d) the bin sums alone, two ways: the gather + ``np.add.reduceat`` that ``regrid.bin_sums`` uses,
      and the same table as a ``scipy.sparse`` CSR matrix (pixels → bins) applied to the frame
      converted to float32 (scipy would convert int32 to float64);
  (e) 0.1 % hot pixels: regrid + scale with the hot-pixel test, and without it;
plus the one-time pixel → bin lookup build (geometry, masks, table) for that detector shape.
The frame is synthetic: Poisson counts of a smooth small-angle pattern (1e5 counts at the direct beam
falling as (1 + (q/0.1 nm⁻¹)²)⁻²) with the module gaps at −1, so that CBF compression sees realistic
counts. Writes benchmarks/results/preprocess.json. Run: .venv/bin/python benchmarks/bench_preprocess.py
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import dataclasses

import fabio
import fabio.cbfimage
import numpy as np
import scipy.sparse

from gisaxs_live.config import load_config
from gisaxs_live.frame import Frame
from gisaxs_live.preprocess.geometry import DetectorGeometry
from gisaxs_live.preprocess.prepare import FramePreprocessor
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.sources.files import read_frames

SHAPE = (1043, 981)
ROUNDS = 40
RESULT = Path(__file__).parent / "results" / "preprocess.json"


def synthetic_frame(config) -> np.ndarray:
    """Poisson counts of a smooth pattern on a Pilatus 1M with its module gaps at −1."""
    q = DetectorGeometry(config.geometry).pixel_q(SHAPE, config.experiment.k_nm, config.experiment.alpha_i_rad)
    q_abs = np.sqrt(q.qx**2 + q.qy**2 + (q.qz - config.experiment.k_nm * np.sin(config.experiment.alpha_i_rad)) ** 2)
    counts = np.random.default_rng(0).poisson(1e5 / (1.0 + (q_abs / 0.1) ** 2) ** 2).astype(np.int32)
    for i in range(1, 5):
        counts[212 * i - 17:212 * i, :] = -1
    counts[:, 487:494] = -1
    return counts


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    load_before = os.getloadavg()[0]
    config = load_config()
    grid = QGrid.for_experiment(config.experiment, config.grid)
    counts = synthetic_frame(config)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pilatus1m.cbf"
        fabio.cbfimage.CbfImage(data=counts).write(str(path))
        file_bytes = path.stat().st_size
        builds = [timed(lambda: FramePreprocessor(config, grid, 5.0).lookup(SHAPE)) for _ in range(5)]
        pre = FramePreprocessor(config, grid, config.scale.decades)
        pre.lookup(SHAPE)
        frame = Frame(counts, "memory", 0, 0.0)
        assert pre.prepare(frame).status == "ok"
        lookup = pre.lookup(SHAPE)
        csr = scipy.sparse.csr_matrix((np.ones(lookup.pixels.size, np.float32), lookup.pixels,
                                       np.append(lookup.starts, lookup.pixels.size)), shape=(lookup.occupied.size, counts.size))
        rng = np.random.default_rng(0)
        hot = counts.copy()
        where = rng.choice(hot.size, hot.size // 1000, replace=False)
        hot.ravel()[where] = np.exp(rng.uniform(np.log(1e4), np.log(2**31 - 1), where.size)).astype(np.int32)
        hot_frame = Frame(hot, "memory", 0, 0.0)
        no_test = FramePreprocessor(dataclasses.replace(config, mask=dataclasses.replace(config.mask, hot_pixel_ratio=None)),
                                    grid, config.scale.decades)
        no_test.lookup(SHAPE)
        steps = {
            "decode": lambda: next(read_frames(path)),
            "regrid_scale": lambda: pre.prepare(frame),
            "decode_regrid_scale": lambda: pre.prepare(next(read_frames(path))),
            "sums_take_reduceat": lambda: np.add.reduceat(np.take(counts.ravel(), lookup.pixels), lookup.starts,
                                                          dtype=np.int64),
            "sums_csr_float32": lambda: csr @ counts.ravel().astype(np.float32),
            "regrid_scale_hot_pixels": lambda: pre.prepare(hot_frame),
            "regrid_scale_hot_pixels_no_test": lambda: no_test.prepare(hot_frame),
        }
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(ROUNDS):
            for name, step in steps.items():
                times[name].append(timed(step))
    results = {
        name: {"median_ms": 1e3 * statistics.median(t), "frames_per_s": 1.0 / statistics.median(t)}
        for name, t in times.items()
    }
    report = {
        "frame": f"synthetic Pilatus 1M CBF {SHAPE[0]}x{SHAPE[1]} int32, byte-offset, {file_bytes} bytes",
        "grid": list(grid.shape),
        "rounds": ROUNDS,
        "lookup_build_ms": {"median": 1e3 * statistics.median(builds), "max": 1e3 * max(builds)},
        "table_pixels": int(lookup.pixels.size),
        "results": results,
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "fabio": fabio.version,
                    "cpus": os.cpu_count(), "processor": platform.machine(),
                    "load_average_1min_before": load_before, "load_average_1min_after": os.getloadavg()[0]},
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['frame']}; lookup build {report['lookup_build_ms']['median']:.1f} ms (once per shape)")
    for name, r in results.items():
        print(f"  {name:32s} {r['median_ms']:7.2f} ms/frame  {r['frames_per_s']:7.1f} frames/s")
    print(f"written to {RESULT}")


if __name__ == "__main__":
    main()
