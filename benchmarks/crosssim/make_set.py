"""A cross-simulator test set: GISAXS frames of our eight classes simulated with BornAgain, rendered on
real detector geometries and written as Pilatus CBF files, with one gisaxs-live config per geometry and
a labels CSV. See benchmarks/crosssim/README.md.

    python benchmarks/crosssim/make_set.py --out DIR --per-class N --seed S --workers W

Each frame: a class's parameters drawn uniformly over its trained ranges (``ShapeModel.random``), mapped
onto BornAgain's form factors by ``gisaxs_live.simulator.conventions``; Te particles on Si, λ = 0.15 nm,
α_i = 0.2° (the bundled model's experiment); a log-normal D_y distribution as weighted deposits, one per
size node (BornAgain's local monodisperse approximation), each with BornAgain's own interference (hard
disks ``Dense2D``, a ``RadialParacrystal`` or ``Dilute2D``); anisotropic shapes at random in-plane
orientations (one deposit per size and orientation). BornAgain simulates a ``SphericalDetector`` of
0.03° × 0.035° bins over the detector's exit angles (2θ_f ≥ 0; the ensemble is mirror-symmetric in q_y),
and log10 of dσ/dΩ is interpolated linearly onto each pixel's exact angles (∝ α_f² below the first bin
centre, as the DWBA's exit transmission), times the pixel's solid angle. Then a flat background, Poisson
noise at a peak count drawn log-uniformly in 1e2-1e5, a beam stop and its holder (near-zero counts) and
the Pilatus module gaps (-1, from pyFAI's detector database).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import multiprocessing
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gisaxs_live.simulator import conventions
from gisaxs_live.simulator.shapes import CLASS_NAMES, get_shape

WAVELENGTH_NM = 0.15
ALPHA_I_DEG = 0.2
SI = (7.18e-6, 1.56e-7)  # δ, β at 0.15 nm (DESIGN.md section 2)
TE = (1.546e-5, 1.92e-6)
PIXEL_MM = 0.172
ANGLE_STEP_DEG = (0.03, 0.035)  # BornAgain's bins in 2θ_f, α_f (the model grid's: 0.034°, 0.041° at 0.15 nm)
PEAK_COUNTS = (1e2, 1e5)  # expected counts in the brightest pixel, log-uniform
BACKGROUND = (1e-5, 1e-3)  # flat background per pixel over the peak count, log-uniform
STOP_LEAKAGE = 1e-3  # fraction of the intensity the beam stop lets through
INTERFERENCE = (("hard_disk", 0.4), ("paracrystal", 0.4), ("dilute", 0.2))  # kinds and their frequency
COVERAGE = (0.10, 0.35)  # hard disks: area fraction of the disks of the particles' in-plane circumradius
SPACING = (1.3, 2.5)  # paracrystal: nearest-neighbour distance over the particle's in-plane diameter
SPACING_WIDTH = (0.10, 0.30)  # paracrystal: width (σ) of the distance distribution over the distance
DILUTE_COVERAGE = 0.01
SIZE_NODES = (5, 9)  # log-normal nodes: fewest and most (more for wider distributions)
SIZE_NODES_SLOW = 5  # at most this many for the shapes BornAgain integrates numerically
ORIENTATIONS = 5  # in-plane orientations of anisotropic shapes, random offset, equal steps over the period
SLOW_SHAPES = ("capsule", "truncated_spheroid", "hemispheroid")  # SpheroidalSegment: numerical integral


@dataclass(frozen=True)
class Setup:
    """A detector geometry: pyFAI detector name, distance (mm), direct beam [column, row] (pixels), the
    beam stop's radius (px) and its holder, a rectangle [column_min, row_min, column_max, row_max]."""

    name: str
    detector: str
    distance_mm: float
    direct_beam_px: tuple[float, float]
    beamstop_radius_px: float
    holder: tuple[int, int, int, int]


SETUPS = {
    "p1m_2000": Setup("p1m_2000", "Pilatus1M", 2000.0, (540.0, 900.0), 18.0, (534, 900, 546, 1042)),
    "p2m_3000": Setup("p2m_3000", "Pilatus2M", 3000.0, (737.0, 1400.0), 22.0, (737, 1393, 1474, 1407)),
}


def detector_shape_and_gaps(setup: Setup) -> tuple[tuple[int, int], np.ndarray]:
    """(rows, columns) and the module-gap mask (True = gap) from pyFAI's detector database."""
    import pyFAI

    detector = pyFAI.detector_factory(setup.detector)
    return tuple(detector.shape), np.asarray(detector.mask, dtype=bool)


def pixel_angles(setup: Setup, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(2θ_f, α_f, solid angle) of every pixel (rad, rad, sr) of a flat detector normal to the direct beam,
    row 0 at the top, the sample surface α_i above the beam (written here independently of gisaxs_live)."""
    rows = np.arange(shape[0], dtype=float)[:, np.newaxis]
    cols = np.arange(shape[1], dtype=float)[np.newaxis, :]
    across = (cols - setup.direct_beam_px[0]) * PIXEL_MM
    up = (setup.direct_beam_px[1] - rows) * PIXEL_MM
    along = setup.distance_mm
    r = np.sqrt(along**2 + up**2 + across**2)
    ai = math.radians(ALPHA_I_DEG)
    # unit vector in the sample frame: x along the surface (beam's in-plane direction), z its normal
    x = (along * math.cos(ai) + up * math.sin(ai)) / r
    y = across / r
    z = (up * math.cos(ai) - along * math.sin(ai)) / r
    two_theta = np.arctan2(y, x)
    alpha_f = np.arcsin(np.clip(z, -1.0, 1.0))
    solid_angle = PIXEL_MM**2 * along / r**3
    return two_theta, alpha_f, solid_angle


def size_nodes(mode: float, fwhm: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` diameters (nm) equally spaced in ln D over median·e^{±2σ} of the log-normal with mode D_y and
    FWHM fwhm (``conventions.lognormal_to_bornagain``), and their number fractions (sum 1)."""
    median, sigma = conventions.lognormal_to_bornagain(mode, fwhm)
    t = np.linspace(-2.0 * sigma, 2.0 * sigma, n)
    weights = np.exp(-t**2 / (2.0 * sigma**2))  # number per unit ln D of a log-normal: Gaussian in ln D
    return median * np.exp(t), weights / weights.sum()


def n_size_nodes(shape: str, mode: float, fwhm: float) -> int:
    """More nodes for wider distributions: about one per 0.15 in ln D over ±2σ, within SIZE_NODES."""
    _, sigma = conventions.lognormal_to_bornagain(mode, fwhm)
    n = int(np.clip(math.ceil(4.0 * sigma / 0.15) + 1, *SIZE_NODES))
    return min(n, SIZE_NODES_SLOW) if shape in SLOW_SHAPES else n


def draw_frame(shape_name: str, rng: np.random.Generator) -> dict:
    """A frame's labels: class parameters, interference, noise and orientation offset."""
    shape = get_shape(shape_name)
    params = shape.check(shape.random(rng))
    # the deposit's orientations are random (see build_sample), so the drawn azimuth is not a label
    labels = {"class": shape_name, **{k: params[k] for k in shape.names if not k.startswith("azimuth")}}
    kinds, freq = zip(*INTERFERENCE)
    kind = str(rng.choice(kinds, p=np.asarray(freq) / sum(freq)))
    labels["interference"] = kind
    labels["coverage"] = float(rng.uniform(*COVERAGE)) if kind == "hard_disk" else (
        DILUTE_COVERAGE if kind == "dilute" else float("nan"))
    labels["spacing"] = float(rng.uniform(*SPACING)) if kind == "paracrystal" else float("nan")
    labels["spacing_width"] = float(rng.uniform(*SPACING_WIDTH)) if kind == "paracrystal" else float("nan")
    labels["peak_counts"] = float(math.exp(rng.uniform(*np.log(PEAK_COUNTS))))
    labels["background"] = float(math.exp(rng.uniform(*np.log(BACKGROUND))))
    labels["orientation_offset"] = float(rng.uniform(0.0, 1.0))
    labels["n_sizes"] = n_size_nodes(shape_name, params["D_y"], params["fwhm"])
    return labels


def build_sample(ba, labels: dict):
    """BornAgain's sample: vacuum with one weighted deposit per size (and orientation) node, on Si."""
    shape_name = labels["class"]
    shape = get_shape(shape_name)
    te = ba.RefractiveMaterial("Te", (0.5, 0.5, 0.5), *TE)
    si = ba.RefractiveMaterial("Si", (0.5, 0.5, 0.5), *SI)
    sizes, fractions = size_nodes(labels["D_y"], labels["fwhm"], labels["n_sizes"])
    period = shape.orientation_period_deg
    angles = ([0.0] if period is None
              else list(period * (labels["orientation_offset"] + np.arange(ORIENTATIONS)) / ORIENTATIONS))
    # per domain: number density ρ_i (hard disks: of the disk of diameter D_y, the in-plane extent of every
    # class; paracrystal: a hexagonal arrangement's at its spacing); its area fraction ∝ n_i / ρ_i, so that
    # the number fractions of the sizes are n_i
    if labels["interference"] == "paracrystal":
        densities = 2.0 / (math.sqrt(3.0) * (labels["spacing"] * sizes) ** 2)
    else:
        densities = labels["coverage"] / (math.pi * (0.5 * sizes) ** 2)
    deposits = []
    areas = fractions / densities
    areas /= areas.sum()
    ambient = ba.Layer(ba.Vacuum())
    for size, density, area in zip(sizes, densities, areas):
        for angle in angles:
            params = {k: labels[k] for k in conventions.PARTICLE_PARAMETERS[shape_name] if k in labels}
            params["D_y"] = float(size)
            if period is not None:
                params["azimuth"] = float(angle)
            particle = conventions.build(conventions.to_bornagain(shape_name, params), te, ba)
            deposits.append(particle)  # BornAgain keeps references: hold the particles until simulated
            ambient.addDeposit2D(float(area) / len(angles), structure(ba, labels, particle, float(size), density))
    sample = ba.Sample()
    sample.addLayer(ambient)
    sample.addLayer(ba.Layer(si))
    return sample, deposits


def structure(ba, labels: dict, particle, size: float, density: float):
    """The deposit's BornAgain interference: hard disks, a radial paracrystal, or none (dilute)."""
    kind = labels["interference"]
    if kind == "paracrystal":
        distance = labels["spacing"] * size
        para = ba.RadialParacrystal(particle, distance, 1e3 * distance)
        para.setProbabilityDistribution(ba.Profile1DGauss(labels["spacing_width"] * distance))
        return para
    if kind == "hard_disk":
        return ba.Dense2D(density, particle)
    return ba.Dilute2D(density, particle)


def simulate(labels: dict, two_theta_max: float, alpha_max: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BornAgain's dσ/dΩ (arbitrary scale) on bins of about ANGLE_STEP_DEG over [0, 2θ_max] × [0, α_max]
    (rad): (2θ_f centres, α_f centres, intensity of shape (n_α, n_2θ))."""
    import bornagain as ba

    step_phi, step_alpha = (math.radians(s) for s in ANGLE_STEP_DEG)
    n_phi, n_alpha = int(math.ceil(two_theta_max / step_phi)) + 1, int(math.ceil(alpha_max / step_alpha)) + 1
    sample, _particles = build_sample(ba, labels)
    detector = ba.SphericalDetector(n_phi, 0.0, n_phi * step_phi, n_alpha, 0.0, n_alpha * step_alpha)
    beam = ba.Beam(1.0, WAVELENGTH_NM, math.radians(ALPHA_I_DEG))
    simulation = ba.ScatteringSimulation(beam, sample, detector)
    simulation.options().setNumberOfThreads(1)
    result = simulation.simulate()
    phi, alpha = np.asarray(result.xCenters()), np.asarray(result.yCenters())
    counts = np.asarray(result.intensities(), dtype=float)
    edges = np.arange(n_alpha + 1) * step_alpha
    solid_angle = step_phi * np.diff(np.sin(edges))[:, np.newaxis]  # BornAgain's bin: ΔΩ = Δφ Δ(sin α)
    return phi, alpha, counts / solid_angle


def render(phi: np.ndarray, alpha: np.ndarray, intensity: np.ndarray, two_theta: np.ndarray,
           alpha_f: np.ndarray) -> np.ndarray:
    """dσ/dΩ at each pixel's (2θ_f, α_f): log-linear interpolation on the mirrored grid, ∝ α_f² below the
    first α centre, 0 below the horizon; angles beyond the simulated range are clamped to its edge."""
    from scipy.interpolate import RegularGridInterpolator

    floor = intensity[intensity > 0].min() if np.any(intensity > 0) else 1.0
    log_i = np.log(np.maximum(intensity, floor))
    grid_phi = np.concatenate([-phi[::-1], phi])
    log_i = np.concatenate([log_i[:, ::-1], log_i], axis=1)
    interpolate = RegularGridInterpolator((alpha, grid_phi), log_i, bounds_error=False, fill_value=None)
    a = np.clip(alpha_f, alpha[0], alpha[-1])
    p = np.clip(two_theta, grid_phi[0], grid_phi[-1])
    value = np.exp(interpolate(np.stack([a.ravel(), p.ravel()], axis=-1)).reshape(alpha_f.shape))
    below = alpha_f < alpha[0]
    value[below] *= (np.clip(alpha_f[below], 0.0, None) / alpha[0]) ** 2
    return value


def beamstop_mask(setup: Setup, shape: tuple[int, int]) -> np.ndarray:
    """True on the beam stop (a disc on the direct beam) and its holder."""
    rows = np.arange(shape[0])[:, np.newaxis]
    cols = np.arange(shape[1])[np.newaxis, :]
    col0, row0 = setup.direct_beam_px
    stop = (cols - col0) ** 2 + (rows - row0) ** 2 <= setup.beamstop_radius_px**2
    c0, r0, c1, r1 = setup.holder
    return stop | ((cols >= c0) & (cols <= c1) & (rows >= r0) & (rows <= r1))


def make_frame(job: tuple[str, int, str, dict, Path, bool]) -> dict:
    """Simulate, render, add noise and write one CBF; returns its labels row (with timings)."""
    import fabio

    setup_name, index, file_name, labels, out, compress = job
    setup = SETUPS[setup_name]
    t0 = time.perf_counter()
    shape, gaps = detector_shape_and_gaps(setup)
    two_theta, alpha_f, solid_angle = pixel_angles(setup, shape)
    phi, alpha, intensity = simulate(labels, float(np.abs(two_theta).max()), float(alpha_f.max()))
    t_sim = time.perf_counter() - t0
    expected = render(phi, alpha, intensity, two_theta, alpha_f) * solid_angle
    stop = beamstop_mask(setup, shape)
    peak = expected[~stop & ~gaps].max()
    rng = np.random.default_rng(labels["noise_seed"])
    expected = expected / peak * labels["peak_counts"] + labels["background"] * labels["peak_counts"]
    expected[stop] *= STOP_LEAKAGE
    counts = rng.poisson(expected).astype(np.int32)
    counts[gaps] = -1  # Pilatus convention for module gaps
    path = out / file_name
    image = fabio.cbfimage.CbfImage(data=counts)
    if compress:
        tmp = path.with_suffix("")
        image.write(str(tmp))
        with open(tmp, "rb") as src, gzip.open(path, "wb", compresslevel=9) as dst:
            dst.write(src.read())
        tmp.unlink()
    else:
        image.write(str(path))
    return {"file": file_name, "geometry": setup_name, **labels, "simulate_s": round(t_sim, 2),
            "total_s": round(time.perf_counter() - t0, 2)}


def write_config(setup: Setup, out: Path) -> Path:
    """The gisaxs-live YAML config of a geometry (experiment, geometry, mask), next to its frames."""
    c0, r0, c1, r1 = setup.holder
    text = f"""# {setup.detector} at {setup.distance_mm:g} mm, written by benchmarks/crosssim/make_set.py.
experiment:
  wavelength_nm: {WAVELENGTH_NM}
  incidence_angle_deg: {ALPHA_I_DEG}
  substrate: {{formula: Si, density_g_cm3: 2.329}}
  particle: {{formula: Te, density_g_cm3: 6.24}}
geometry:
  distance_mm: {setup.distance_mm}
  pixel_size_mm: {PIXEL_MM}
  direct_beam_px: [{setup.direct_beam_px[0]}, {setup.direct_beam_px[1]}]
mask:
  negative_is_masked: true       # module gaps are -1
  beamstop: {{shape: circle, radius_px: {setup.beamstop_radius_px + 3:g}}}
  rectangles:
    - [{c0 - 3}, {r0}, {c1 + 3}, {r1}]   # the beam stop's holder
"""
    path = out / f"{setup.name}.yaml"
    path.write_text(text)
    return path


def jobs(per_class: int, seed: int, setups: list[str], out: Path, compress: bool) -> list[tuple]:
    """One job per frame: classes in the model's order, geometries in turn, reproducible per frame."""
    result = []
    for c, name in enumerate(CLASS_NAMES):
        for i in range(per_class):
            rng = np.random.default_rng([seed, c, i])
            labels = draw_frame(name, rng)
            labels["noise_seed"] = int(rng.integers(2**31))
            setup = setups[i % len(setups)]
            suffix = ".cbf.gz" if compress else ".cbf"
            result.append((setup, i, f"{setup}/{name}_{i:03d}{suffix}", labels, out, compress))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--per-class", type=int, default=24, help="frames per class (default 24)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--geometries", nargs="+", default=list(SETUPS), choices=list(SETUPS),
                        help="detector geometries, used in turn (default: all)")
    parser.add_argument("--gzip", action="store_true", help="write .cbf.gz (gzip-compressed CBF)")
    args = parser.parse_args(argv)
    for name in args.geometries:
        (args.out / name).mkdir(parents=True, exist_ok=True)
        write_config(SETUPS[name], args.out)
    todo = jobs(args.per_class, args.seed, args.geometries, args.out, args.gzip)
    rows = []
    t0 = time.perf_counter()
    with multiprocessing.Pool(args.workers) as pool:
        for n, row in enumerate(pool.imap(make_frame, todo), 1):
            rows.append(row)
            print(f"[{n}/{len(todo)}] {row['file']}: {row['interference']}, peak {row['peak_counts']:.3g} counts, "
                  f"{row['total_s']:.1f} s", flush=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(args.out / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    (args.out / "manifest.json").write_text(json.dumps({
        "per_class": args.per_class, "seed": args.seed, "geometries": args.geometries,
        "frames": len(rows), "wall_s": round(time.perf_counter() - t0, 1)}, indent=1) + "\n")
    print(f"{len(rows)} frames in {time.perf_counter() - t0:.0f} s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
