"""Frames unlike every class of the model card, on the model's canonical grid, made detector-like with the
training augmentation: the test set of the out-of-distribution flag (``classify/ood.py``).

Kinds (all at the configured experiment, λ and α_i of the model):
* ``cone``: truncated cones (top radius 0–0.5 of the base), D 5–40 nm, height 0.5–1.5 D;
* ``pyramid``: square-base frustums (top edge 0–0.5 of the base), randomly oriented;
* ``core_shell``: hollow spheres (core radius 0.6–0.9 of the outer, core contrast −1 to 0 of the shell's);
* ``grating``: a lamellar grating, Bragg rods at q_y = 2πn/d (d 20–150 nm) with a sinc² envelope in q_z;
* ``saxs_ring``: an isotropic ring |q| = q0 (0.3–1.5 nm⁻¹) about the direct beam, as from a powder or
  transmission geometry;
* ``yoneda``: a bare substrate: diffuse roughness scattering only, |t(α_i) t(α_f)|² q∥^−(2+2h) (a Yoneda band at
  α_f = α_c and nothing else);
* ``noise``: flat Poisson noise (beam on, no sample);
* ``upside_down``: a pattern of a known class with q_z reversed (a geometry whose row convention is wrong);
* ``off_centre``: a pattern of a known class folded about a q_y = 0 that is 4–12 bins off (the direct beam's
  column wrong in the geometry): the two detector halves no longer coincide.

A q-grid too wide or too narrow by a constant factor (distance or pixel size wrong) is not in the set: it
is the pattern of a particle of another size, in distribution by construction.

Particles are simulated by the bundled DWBA code (general path, exact q) with a log-normal size distribution
and the Percus–Yevick S(q∥), like the trained shapes, so only the shape is foreign.
"""

from __future__ import annotations

import math

import numpy as np

from gisaxs_live.config import load_config
from gisaxs_live.preprocess.qgrid import QGrid, grid_wavevectors
from gisaxs_live.simulator.dataset import random_specs
from gisaxs_live.simulator.optics import fresnel_r
from gisaxs_live.simulator.pattern import Optics, simulate_pattern
from gisaxs_live.simulator.shapes import SHAPES, Parameter, ShapeModel
from gisaxs_live.simulator.shapes._amplitude import (axial_profile_amplitude, gauss_legendre, polygon_amplitude,
                                                     regular_polygon, sphere_amplitude)
from gisaxs_live.simulator.shapes._table import aspect, diameter, fwhm
from gisaxs_live.training.augment import Realism, realistic_images

KINDS = ("cone", "pyramid", "core_shell", "grating", "saxs_ring", "yoneda", "noise", "upside_down", "off_centre")
Z_NODES = 24


def _cone_ff(qx, qy, qz, D_y: float, aspect: float, top: float) -> np.ndarray:
    r, h = 0.5 * D_y, aspect * D_y
    q_par = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2)
    return axial_profile_amplitude(q_par, qz, 0.0, h, lambda z: (r * (1.0 - (1.0 - top) * z / h)) ** 2, Z_NODES)


def _pyramid_ff(qx, qy, qz, D_y: float, aspect: float, top: float) -> np.ndarray:
    """Square frustum: slices of a square of circumradius D_y/2 shrinking linearly to ``top`` of it."""
    h = aspect * D_y
    x, w = gauss_legendre(Z_NODES)
    z = 0.5 * h * (x + 1.0)
    total = 0.0
    for zn, wn in zip(z, 0.5 * h * w):
        scale = 1.0 - (1.0 - top) * zn / h
        total = total + wn * polygon_amplitude(np.asarray(qx, float), np.asarray(qy, float),
                                               regular_polygon(4, 0.5 * D_y * scale)) * np.exp(1j * np.asarray(qz) * zn)
    return total


def _core_shell_ff(qx, qy, qz, D_y: float, aspect: float, core: float, contrast: float) -> np.ndarray:
    """Sphere of diameter D_y (aspect unused: 1) resting on the substrate, core of radius ``core``·R with
    ``contrast`` × the shell's scattering contrast."""
    r = 0.5 * D_y
    q = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2 + np.asarray(qz) ** 2)
    volume = 4.0 / 3.0 * math.pi
    outer = volume * r**3 * sphere_amplitude(q * r)
    inner = volume * (core * r) ** 3 * sphere_amplitude(q * core * r)
    return (outer + (contrast - 1.0) * inner) * np.exp(1j * np.asarray(qz) * r)


def _model(name: str, ff, extra: tuple[Parameter, ...], period: float | None = None) -> ShapeModel:
    from gisaxs_live.simulator.shapes._table import azimuth

    orientation = azimuth(period) if period else ()
    return ShapeModel(name=name, description=name, parameters=(diameter(), aspect(0.5, 1.5), fwhm(), *extra,
                                                              *orientation),
                      form_factor=ff, volume=lambda **g: 1.0, paper_grid={}, orientation_period_deg=period)


def _top() -> Parameter:
    return Parameter("top", "", 0.2, (0.0, 1.0), (0.0, 0.5), "top size over base size", "shape")


CONE = _model("cone", _cone_ff, (_top(),))
PYRAMID = _model("pyramid", _pyramid_ff, (_top(),), period=90.0)
CORE_SHELL = _model("core_shell", _core_shell_ff, (
    Parameter("core", "", 0.75, (0.0, 0.99), (0.6, 0.9), "core radius over outer radius", "shape"),
    Parameter("contrast", "", -0.5, (-2.0, 1.0), (-1.0, 0.0), "core contrast over shell contrast", "shape")))


def _particles(model: ShapeModel, rng, grid: QGrid, optics: Optics, simulation) -> np.ndarray:
    params = model.random(rng)
    if model.orientation_period_deg:
        params["azimuth_spread"] = model.orientation_period_deg
    return simulate_pattern(model, params, grid, optics, simulation)


def _qgrid(grid: QGrid) -> tuple[np.ndarray, np.ndarray]:
    return grid.qz[:, None] - grid.qz_min, grid.qy[None, :]


def _grating(rng, grid: QGrid) -> np.ndarray:
    qz, qy = _qgrid(grid)
    d, width, height = rng.uniform(20, 150), rng.uniform(0.3, 0.6), rng.uniform(5, 40)
    out = np.zeros(grid.shape)
    for n in range(0, int(grid.qy_max * d / (2 * math.pi)) + 2):
        qn = 2 * math.pi * n / d
        envelope = np.sinc(n * width) ** 2 if n else 1.0
        out += envelope * np.exp(-0.5 * ((qy - qn) / (0.4 * grid.qy_max / grid.n_qy)) ** 2)
    return out * (np.sinc(qz * height / (2 * math.pi)) ** 2 + 1e-6)


def _ring(rng, grid: QGrid) -> np.ndarray:
    qz, qy = _qgrid(grid)
    q0, w = rng.uniform(0.3, 1.5), rng.uniform(0.03, 0.15)
    q = np.hypot(qz, qy)
    return np.exp(-0.5 * ((q - q0) / w) ** 2) + 1e-3 * (q + 0.05) ** -3


def _yoneda(rng, grid: QGrid, optics: Optics) -> np.ndarray:
    qx, qy, alpha_f = grid_wavevectors(grid, optics.k, optics.alpha_i)
    t_f = np.abs(1.0 + fresnel_r(np.asarray(alpha_f, float), optics.n_substrate)) ** 2
    t_i = abs(1.0 + complex(fresnel_r(np.array(optics.alpha_i), optics.n_substrate))) ** 2
    hurst, xi = rng.uniform(0.3, 0.9), rng.uniform(20, 500)
    correlation = (1.0 + (np.asarray(qy) * xi) ** 2) ** -(1.0 + hurst)
    qz = np.asarray(grid.qz)[:, None]
    return t_i * t_f * correlation / qz**2


def _known(rng, grid: QGrid, optics: Optics, simulation) -> np.ndarray:
    spec = random_specs(1, int(rng.integers(1 << 30)), 0.0)[int(rng.integers(len(SHAPES)))]
    return simulate_pattern(SHAPES[spec.label], spec.params, grid, optics, simulation)


def _off_centre(rng, grid: QGrid, optics: Optics, simulation) -> np.ndarray:
    shift = int(rng.integers(4, 13))
    wide = QGrid(grid.qy_min, grid.qy_max + shift * (grid.qy_max - grid.qy_min) / grid.n_qy, grid.n_qy + shift,
                 grid.qz_min, grid.qz_max, grid.n_qz)
    pattern = _known(rng, wide, optics, simulation)
    mirrored = np.concatenate([pattern[:, ::-1], pattern], axis=1)  # q_y from −max to +max
    centre = wide.n_qy + shift  # the fold about a column ``shift`` bins off q_y = 0
    right, left = mirrored[:, centre:centre + grid.n_qy], mirrored[:, centre - grid.n_qy:centre][:, ::-1]
    return 0.5 * (right + left)


def intensities(kind: str, n: int, seed: int) -> np.ndarray:
    """(n, rows, cols) float32 clean intensities of one ``kind`` on the default config's grid."""
    config = load_config()
    grid = QGrid.for_experiment(config.experiment, config.grid)
    optics = Optics.from_experiment(config.experiment)
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    make = {
        "cone": lambda: _particles(CONE, rng, grid, optics, config.simulation),
        "pyramid": lambda: _particles(PYRAMID, rng, grid, optics, config.simulation),
        "core_shell": lambda: _particles(CORE_SHELL, rng, grid, optics, config.simulation),
        "grating": lambda: _grating(rng, grid),
        "saxs_ring": lambda: _ring(rng, grid),
        "yoneda": lambda: _yoneda(rng, grid, optics),
        "noise": lambda: np.ones(grid.shape),
        "upside_down": lambda: _known(rng, grid, optics, config.simulation)[::-1],
        "off_centre": lambda: _off_centre(rng, grid, optics, config.simulation),
    }[kind]
    return np.stack([np.broadcast_to(make(), grid.shape) for _ in range(n)]).astype(np.float32)


def images(kind: str, n: int, seed: int, decades: float = 5.0) -> np.ndarray:
    """uint8 model inputs of ``kind``, detector-like (the training augmentation, no clean fraction)."""
    realism = Realism(p_clean=0.0)
    return realistic_images(intensities(kind, n, seed), np.random.default_rng([seed, 99]), decades, realism)
