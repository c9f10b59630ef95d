"""Refinement recovery and time: simulated frames of every class (parameters drawn over the sampled ranges,
η in [0.05, 0.35], orientations random), 10⁴ counts in the brightest bin, Poisson noise, the demo Pilatus 1M's
pixels per bin; grid start then the Poisson maximum-likelihood fit. Beside each parameter's relative error, its
relative Cramér–Rao 1σ at the truth (``refine.synthetic.cramer_rao``: the best any unbiased fit can do on that
frame); where it is ≳ 1 %, a recovery within 2 % is left to chance. Prints each frame, then per parameter the
frames within 2 % (beside the number an efficient unbiased fit would have), and within 2 % among those
whose Cramér–Rao σ is below 1 %; per frame, the peak counts at which every parameter's Cramér–Rao σ would be
1 % (σ ∝ 1/√counts); wall and CPU seconds per frame (one thread: the CPU seconds are the wall seconds of a
quiet machine); writes benchmarks/results/refine.json. Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_refine.py"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from gisaxs_live.config import load_config
from gisaxs_live.preprocess.prepare import FramePreprocessor
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.publisher.demo_series import PILATUS_1M, demo_config
from gisaxs_live.refine.fit import refine
from gisaxs_live.refine.model import ForwardModel
from gisaxs_live.refine.start import grid_start
from gisaxs_live.refine.synthetic import cramer_rao, synthetic_frame
from gisaxs_live.simulator.pattern import Optics
from gisaxs_live.simulator.shapes import SHAPES

FRAMES_PER_CLASS = 3
PEAK_COUNTS = 1e4
#: a recovery counts when within this relative error
TOLERANCE = 0.02
#: a parameter is determined well enough for TOLERANCE when its relative Cramér–Rao σ is below this
INFORMATIVE = 0.01


def chance_within(sigma: float) -> float:
    """Probability that an unbiased estimate with Gaussian relative error of σ (the Cramér–Rao σ) lies within
    TOLERANCE: erf(TOLERANCE / (σ√2))."""
    return math.erf(TOLERANCE / (sigma * math.sqrt(2.0))) if sigma > 0 else 1.0


def parameter_summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per parameter: frames that have it, frames within TOLERANCE, how many an efficient unbiased fit would
    have within it (Σ ``chance_within`` of the Cramér–Rao σ), frames whose relative Cramér–Rao σ is below
    INFORMATIVE, and those of them within TOLERANCE."""
    names = dict.fromkeys(name for row in rows for name in row["truth"])
    summary = {}
    for name in names:
        have = [r for r in rows if name in r["truth"]]
        informative = [r for r in have if r["crlb_relative"][name] < INFORMATIVE]
        summary[name] = {"frames": len(have),
                         "within": sum(r["relative_error"][name] <= TOLERANCE for r in have),
                         "expected_within": round(sum(chance_within(r["crlb_relative"][name]) for r in have), 1),
                         "informative": len(informative),
                         "informative_within": sum(r["relative_error"][name] <= TOLERANCE for r in informative)}
    return summary


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
            data = synthetic_frame(forward, truth, pixels, rng, PEAK_COUNTS)
            t0, c0 = time.perf_counter(), time.process_time()
            start, scale = grid_start(forward, data, config.experiment.volume_fraction)
            fit = refine(forward, data, start, scale)
            seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
            simulations = forward.evaluations + forward.coarse.evaluations
            bound = cramer_rao(forward, truth, pixels, PEAK_COUNTS)
            crlb = {k: bound[k] / v for k, v in truth.items()}
            rows.append({"class": shape.name, "truth": truth, "start": start,
                         "fitted": {k: fit.params[k] for k in truth},
                         "relative_error": {k: abs(fit.params[k] - v) / v for k, v in truth.items()},
                         "relative_sigma": {k: fit.errors[k] / v for k, v in truth.items()},
                         "crlb_relative": crlb,
                         "peak_counts_for_informative": PEAK_COUNTS * max(crlb.values()) ** 2 / INFORMATIVE**2,
                         "seconds": seconds, "cpu_seconds": cpu_seconds, "chi2_red": fit.chi2_red,
                         "iterations": fit.iterations, "simulations": simulations, "converged": fit.converged})
            errors = rows[-1]["relative_error"]
            print(f"{shape.name:19s} {seconds:5.2f} s ({cpu_seconds:4.2f} CPU)  χ²_red {fit.chi2_red:4.2f}  "
                  + "  ".join(f"{k[:6]} {100 * errors[k]:5.2f} % (CRLB {100 * crlb[k]:4.2f})" for k in truth),
                  flush=True)
    seconds = np.array([r["seconds"] for r in rows])
    cpu = np.array([r["cpu_seconds"] for r in rows])
    within = np.mean([max(r["relative_error"].values()) <= TOLERANCE for r in rows])
    expected = np.mean([math.prod(map(chance_within, r["crlb_relative"].values())) for r in rows])
    parameters = parameter_summary(rows)
    summary = {"frames": len(rows), "peak_counts": PEAK_COUNTS, "seconds_median": float(np.median(seconds)),
               "seconds_max": float(seconds.max()), "cpu_seconds_median": float(np.median(cpu)),
               "cpu_seconds_max": float(cpu.max()), "load_average": os.getloadavg()[0],
               "fraction_all_within_2_percent": float(within), "expected_fraction_all_within_2_percent": float(expected),
               "parameters": parameters, "rows": rows}
    print(f"{len(rows)} frames: {np.median(seconds):.2f} s median, {seconds.max():.2f} s max per frame "
          f"(CPU {np.median(cpu):.2f} s median, {cpu.max():.2f} s max; load {os.getloadavg()[0]:.1f}); "
          f"all parameters within 2 %: {100 * within:.0f} % of frames (efficient fit: {100 * expected:.0f} %)")
    print("parameter          within 2 %  (efficient fit: expected)   CRLB σ < 1 %: within 2 %")
    for name, p in parameters.items():
        print(f"{name:18s} {p['within']:3d}/{p['frames']:<3d}     ({p['expected_within']:4.1f})"
              f"                   {p['informative_within']:3d}/{p['informative']}")
    out = Path(__file__).parent / "results" / "refine.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
