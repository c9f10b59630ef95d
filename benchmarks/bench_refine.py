"""Refinement recovery and time: simulated frames of every class (parameters drawn over the sampled ranges,
η in [0.05, 0.35], orientations random), 10⁴ counts in the brightest bin, Poisson noise, the demo Pilatus 1M's
pixels per bin; grid start then least_squares. Prints the per-parameter relative errors and seconds per frame
and writes benchmarks/results/refine.json. Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_refine.py"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from gisaxs_live.config import load_config
from gisaxs_live.preprocess.prepare import FramePreprocessor
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.publisher.demo_series import PILATUS_1M, demo_config
from gisaxs_live.refine.fit import refine
from gisaxs_live.refine.model import ForwardModel
from gisaxs_live.refine.start import grid_start
from gisaxs_live.refine.synthetic import synthetic_frame
from gisaxs_live.simulator.pattern import Optics
from gisaxs_live.simulator.shapes import SHAPES

FRAMES_PER_CLASS = 3


def main() -> None:
    config = demo_config(load_config())
    grid = QGrid.for_experiment(config.experiment, config.grid)
    optics = Optics.from_experiment(config.experiment)
    pixels = FramePreprocessor(config, grid, 5.0).lookup(PILATUS_1M).counts.reshape(grid.shape)
    rows = []
    for label, shape in enumerate(SHAPES):
        rng = np.random.default_rng([7, label])
        for _ in range(FRAMES_PER_CLASS):
            forward = ForwardModel(shape, grid, optics, config.simulation)
            truth = {p.name: p.draw(rng) for p in shape.parameters if p.name in forward.names}
            truth["volume_fraction"] = float(rng.uniform(0.05, 0.35))
            data = synthetic_frame(forward, truth, pixels, rng)
            t0 = time.perf_counter()
            start, scale = grid_start(forward, data, config.experiment.volume_fraction)
            fit = refine(forward, data, start, scale)
            seconds = time.perf_counter() - t0
            errors = {k: abs(fit.params[k] - v) / v for k, v in truth.items()}
            rows.append({"class": shape.name, "truth": truth, "relative_error": errors, "seconds": seconds,
                         "chi2_red": fit.chi2_red, "iterations": fit.iterations, "simulations": forward.evaluations})
            worst = max(errors, key=errors.get)
            print(f"{shape.name:20s} {seconds:5.2f} s  chi2_red {fit.chi2_red:5.2f}  worst {worst} "
                  f"{100 * errors[worst]:5.2f} %")
    seconds = np.array([r["seconds"] for r in rows])
    within = np.mean([max(r["relative_error"].values()) <= 0.02 for r in rows])
    summary = {"frames": len(rows), "seconds_median": float(np.median(seconds)), "seconds_max": float(seconds.max()),
               "fraction_all_within_2_percent": float(within), "rows": rows}
    print(f"{len(rows)} frames: {np.median(seconds):.2f} s median, {seconds.max():.2f} s max per frame; "
          f"all parameters within 2 %: {100 * within:.0f} % of frames")
    out = Path(__file__).parent / "results" / "refine.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
