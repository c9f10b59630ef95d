"""How close does a class come to its neighbour? The evidence for (or against) a degenerate family.

For every pattern of the paper protocol's grid of class A (all 336; clean, the model's input image), the
distance to the nearest pattern of class B over a fine grid of B's whole trained range (D_y, aspect, fwhm:
the shape parameters every class has), in grey levels rms of the model's 90×70 uint8 input. A pair whose
patterns lie nearer each other than the counting noise moves them, and nearer than the known degenerate
pair (prism6 → cylinder, a family by the model card), cannot be told apart by any classifier of these
images; one whose patterns lie further can, and the classifier is to blame. Reported per value of A's own
parameter beyond those three (the ellipsoid's xy_ratio, a prism's azimuth spread), with the bundled model's accuracy on those patterns (clean,
as a family) and two scales to read the distances against: the rms change of the same patterns under the
training's detector-like noise (the median over the patterns), and B's grid step (the distance between
neighbouring grid points, a floor of what the search can resolve).

    python benchmarks/bench_degeneracy.py [--pair A B ...] [--json OUT]

Writes benchmarks/results/degeneracy.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "degeneracy.json"
#: B's grid: D_y (nm), aspect and fwhm (nm) steps over the trained ranges
STEPS = {"D_y": 0.5, "aspect": 0.025, "fwhm": 1.0}
#: the known degenerate pair (a family), and the two pairs the clean paper grid confuses most
DEFAULT_PAIRS = (("prism6", "cylinder"), ("ellipsoid", "spheroid"), ("truncated_spheroid", "hemispheroid"))


def grid_axes(shape) -> list[np.ndarray]:
    """The values of D_y, aspect and fwhm on ``shape``'s fine grid: STEPS over their sampled ranges."""
    axes = []
    for name in ("D_y", "aspect", "fwhm"):
        lo, hi = next(p for p in shape.parameters if p.name == name).sample_range
        axes.append(np.round(np.arange(lo, hi + 1e-9, STEPS[name]), 4))
    return axes


def grid_points(shape) -> list[dict[str, float]]:
    """Every point of ``shape``'s fine grid, D_y-major (other parameters at their defaults; every class with only
    these has no others)."""
    defaults = {p.name: p.default for p in shape.parameters}
    return [shape.check({**defaults, "D_y": d, "aspect": a, "fwhm": f})
            for d, a, f in itertools.product(*grid_axes(shape))]


def levels(specs, config) -> tuple[np.ndarray, np.ndarray]:
    """(intensities, model input images as float32 grey levels) of ``specs``."""
    from gisaxs_live.preprocess.scale import to_levels
    from gisaxs_live.simulator.dataset import simulate_specs

    intensity = np.stack(list(simulate_specs(specs, config)))
    return intensity, to_levels(intensity, config.scale.decades).astype(np.float32)


def nearest(a: np.ndarray, b: np.ndarray, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For each image of ``a`` (N, H, W), the rms distance (grey levels) to its nearest image of ``b`` and that
    one's index."""
    a2 = a.reshape(len(a), -1).astype(np.float64)
    best = np.full(len(a), np.inf)
    where = np.zeros(len(a), int)
    for start in range(0, len(b), block):
        chunk = b[start:start + block].reshape(-1, a2.shape[1]).astype(np.float64)
        d2 = (a2**2).sum(1)[:, None] + (chunk**2).sum(1)[None, :] - 2.0 * a2 @ chunk.T
        j = d2.argmin(1)
        closer = d2[np.arange(len(a)), j] < best
        best[closer] = d2[np.arange(len(a)), j][closer]
        where[closer] = start + j[closer]
    return np.sqrt(np.maximum(best, 0.0) / a2.shape[1]), where


def measure(name_a: str, name_b: str, config, predictor) -> dict:
    from gisaxs_live.classify.families import family_of
    from gisaxs_live.simulator.dataset import PatternSpec
    from gisaxs_live.simulator.shapes import CLASS_NAMES, get_shape
    from gisaxs_live.training.augment import realistic_images

    shape_a, shape_b = get_shape(name_a), get_shape(name_b)
    label_a, label_b = CLASS_NAMES.index(name_a), CLASS_NAMES.index(name_b)
    points_a = shape_a.paper_points()
    points_b = grid_points(shape_b)
    t0 = time.perf_counter()
    intensity_a, images_a = levels([PatternSpec(label_a, p, True) for p in points_a], config)
    _, images_b = levels([PatternSpec(label_b, p, False) for p in points_b], config)
    simulated_s = time.perf_counter() - t0
    distance, index = nearest(images_a, images_b)
    noisy = realistic_images(intensity_a, np.random.default_rng(1), config.scale.decades).astype(np.float32)
    noise_rms = np.sqrt(((noisy - images_a) ** 2).mean(axis=(1, 2)))
    probabilities = np.concatenate([predictor.forward_all(images_a[i:i + 256].astype(np.uint8))[0]
                                    for i in range(0, len(images_a), 256)])
    families = predictor.info.families
    right = np.array([family_of(CLASS_NAMES[k], families) == family_of(name_a, families)
                      for k in probabilities.argmax(1)])
    steps_b = _grid_step_rms(images_b, shape_b)
    by = next((name for name in shape_a.paper_grid if name not in ("D_y", "aspect", "fwhm")), "aspect")
    rows = []
    for value in sorted({p[by] for p in points_a}):
        rows_a = np.array([p[by] == value for p in points_a])
        rows.append({by: value, "n": int(rows_a.sum()),
                     "family_accuracy_percent": 100.0 * float(right[rows_a].mean()),
                     "nearest_rms_median": float(np.median(distance[rows_a])),
                     "nearest_rms_p10": float(np.quantile(distance[rows_a], 0.1)),
                     "nearest_rms_p90": float(np.quantile(distance[rows_a], 0.9))})
    closest = int(distance.argmin())
    return {"a": name_a, "b": name_b, "b_grid_points": len(points_b), "simulated_s": simulated_s,
            "by": by, "rows": rows, "noise_rms_median": float(np.median(noise_rms)),
            "b_grid_step_rms_median": steps_b,
            "closest": {"a": points_a[closest], "b": points_b[int(index[closest])], "rms": float(distance[closest])}}


def _grid_step_rms(images: np.ndarray, shape) -> float:
    """Median rms distance between points of the fine grid (``images``, D_y-major) one D_y step apart."""
    _, aspects, fwhms = grid_axes(shape)
    stride = len(aspects) * len(fwhms)  # consecutive D_y values are this far apart in the product order
    a, b = images[:-stride], images[stride:]
    return float(np.median(np.sqrt(((a - b) ** 2).mean(axis=(1, 2)))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", nargs=2, action="append", metavar=("A", "B"),
                        help="class A's paper grid against class B's fine grid (default: the three pairs of "
                             "DEFAULT_PAIRS)")
    parser.add_argument("--json", type=Path, default=RESULT)
    args = parser.parse_args()
    from gisaxs_live.classify.predictor import Predictor
    from gisaxs_live.config import load_config

    config = load_config()
    predictor = Predictor(None)
    results = []
    for a, b in args.pair or DEFAULT_PAIRS:
        r = measure(a, b, config, predictor)
        results.append(r)
        print(f"{a} (paper grid) → nearest {b} of {r['b_grid_points']} ({r['simulated_s']:.0f} s to simulate); "
              f"detector-like noise moves a pattern {r['noise_rms_median']:.1f} grey levels rms (median), "
              f"{b}'s grid step {r['b_grid_step_rms_median']:.2f}")
        for row in r["rows"]:
            print(f"  {r['by']} {row[r['by']]:g}: n {row['n']}, bundled model right as a family "
                  f"{row['family_accuracy_percent']:.0f} %, nearest {b} at {row['nearest_rms_median']:.2f} grey levels "
                  f"rms (median; 10-90 % {row['nearest_rms_p10']:.2f}-{row['nearest_rms_p90']:.2f})")
        print(f"  closest: {r['closest']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"pairs": results, "steps": STEPS}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
