"""Frames unlike every class of the model card ("none of these"), on a model's canonical grid: what the
out-of-distribution flag is shown as outliers when it is fitted (``training/ood_calibration.py``, outlier
exposure) and what ``benchmarks/bench_ood.py`` measures it on, with other seeds.

Kinds (at the set's experiment: its λ, α_i, materials and simulation settings):

* ``cone``: truncated cones (top radius 0–0.5 of the base), D 5–40 nm, height 0.5–1.5 D;
* ``pyramid``: square-base frustums (top edge 0–0.5 of the base), randomly oriented in plane;
* ``core_shell``: hollow spheres (core radius 0.6–0.9 of the outer, core contrast −1 to 0 of the shell's);
* ``grating``: a lamellar grating, Bragg rods at q_y = 2πn/d (d 20–150 nm) with a sinc² envelope in q_z;
* ``saxs_ring``: an isotropic ring |q| = q0 (0.3–1.5 nm⁻¹) about the direct beam, as from a powder or a
  transmission geometry;
* ``yoneda``: a bare substrate: diffuse roughness scattering only, |t(α_i) t(α_f)|² q∥^−(2+2h) (a Yoneda band at
  α_f = α_c and nothing else);
* ``noise``: a flat pattern, Poisson noise only once made detector-like (beam on, no sample);
* ``upside_down``: a pattern of a known class with q_z reversed (a geometry whose row convention is wrong);
* ``off_centre``: a pattern of a known class folded about a q_y = 0 that is 4–12 bins off (the direct beam's
  column wrong in the geometry): the two detector halves no longer coincide.

A q-grid too wide or too narrow by a constant factor (distance or pixel size wrong) is not a kind: it is the
pattern of a particle of another size, in distribution by construction.

Particles are simulated by the bundled DWBA code (on the canonical grid's fast path: the core-shell spheres as stacked
discs there, in closed form on the general one) with a log-normal size distribution and the Percus–Yevick S(q∥), like
the trained shapes, so only the shape is foreign. Intensities are clean
(dσ/dΩ per particle, nm², or arbitrary units for the kinds without particles); ``training.augment`` makes
them detector-like.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..config import Config, Simulation
from ..preprocess.qgrid import QGrid, grid_wavevectors
from .dataset import experiment_of, random_specs, simulation_of
from .optics import fresnel_r
from .pattern import Optics, simulate_pattern
from .shapes import SHAPES, Parameter, ShapeModel
from .shapes._amplitude import (axial_kernel, axial_nodes, axial_profile_amplitude, disc_terms, gauss_legendre,
                                sphere_amplitude, z_node_count)
from .shapes._kernel import Separable
from .shapes._table import aspect, azimuth, diameter, fwhm
from .tables import scaled_sinc

KINDS = ("cone", "pyramid", "core_shell", "grating", "saxs_ring", "yoneda", "noise", "upside_down", "off_centre")
#: the least Gauss–Legendre nodes along z of the cone and pyramid (more for tall ones at large q_z: ``z_node_count``)
Z_NODES = 24


def _cone_profile(D_y: float, aspect: float, top: float):
    """(z0, z1, r²(z)) of a truncated cone of base diameter D_y (nm), height aspect·D_y, top radius ``top`` × the
    base's."""
    r, h = 0.5 * D_y, aspect * D_y
    return 0.0, h, lambda z: (r * (1.0 - (1.0 - top) * z / h)) ** 2


def _cone_ff(qx, qy, qz, D_y: float, aspect: float, top: float, z_nodes: int | None = None) -> np.ndarray:
    """The truncated cone of ``_cone_profile`` by Gauss–Legendre in z (``z_nodes``, default ``_z_nodes``)."""
    q_par = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2)
    return axial_profile_amplitude(q_par, qz, *_cone_profile(D_y, aspect, top), z_nodes or _z_nodes(qz, aspect * D_y))


def _z_nodes(qz, height: float) -> int:
    """``z_node_count`` for the largest |q_z| given (nm⁻¹) over ``height`` (nm)."""
    qz = np.abs(np.asarray(qz))
    return z_node_count(Z_NODES, float(qz.max()) if qz.size else 0.0, height)


def _frustum_nodes(half_edge: float, height: float, top: float, n_nodes: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes z (nm) of a square frustum's height, their length weights (nm) and half edges a(z) =
    ``half_edge`` (1 − (1 − top) z/h) (nm)."""
    x, w = gauss_legendre(n_nodes)
    z = 0.5 * height * (x + 1.0)
    return z, 0.5 * height * w, half_edge * (1.0 - (1.0 - top) * z / height)


def _square_slices(qx, qy, half_edges: np.ndarray) -> np.ndarray:
    """(2a)² sinc(q_x a) sinc(q_y a) (nm²) at broadcast (q_x, q_y) for each half edge a on a trailing axis (sinc
    from its table, ``tables.scaled_sinc``; sinc is even)."""
    qx, qy = (np.abs(np.asarray(q, float))[..., np.newaxis] for q in (qx, qy))
    return 4.0 * half_edges**2 * scaled_sinc(qx, half_edges) * scaled_sinc(qy, half_edges)


def square_frustum_amplitude(qx, qy, qz, half_edge: float, height: float, top: float,
                             n_nodes: int = Z_NODES) -> np.ndarray:
    """∫_0^h (2a)² sinc(q_x a) sinc(q_y a) e^{i q_z z} dz (nm³), a(z) = ``half_edge`` (1 − (1 − top) z/h): a
    square frustum with edges along x and y, by Gauss–Legendre in z (sinc(x) = sin x / x)."""
    z, weight, a = _frustum_nodes(half_edge, height, top, n_nodes)
    qx, qy = np.broadcast_arrays(np.asarray(qx, float), np.asarray(qy, float))
    phase = np.exp(1j * np.asarray(qz, float)[..., np.newaxis] * z) * weight
    return np.einsum("...k,...k->...", _square_slices(qx, qy, a), phase)


def _pyramid_frustum(D_y: float, aspect: float, top: float) -> tuple[float, float, float]:
    """(half edge, height, top) of the square frustum of base circumradius D_y/2 (half edge D_y/(2√2)), height
    aspect·D_y (nm)."""
    return 0.5 * D_y / math.sqrt(2.0), aspect * D_y, top


def _pyramid_ff(qx, qy, qz, D_y: float, aspect: float, top: float, z_nodes: int | None = None) -> np.ndarray:
    """The square frustum of ``_pyramid_frustum`` (``z_nodes`` nodes in z, default ``_z_nodes``)."""
    return square_frustum_amplitude(qx, qy, qz, *_pyramid_frustum(D_y, aspect, top),
                                    z_nodes or _z_nodes(qz, aspect * D_y))


def _pyramid_vertical(*, z_nodes: int, **geometry: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fast path's terms of ``_pyramid_ff``: (length weights (nm), heights (nm), zero lengths) of its nodes."""
    z, weight, _ = _frustum_nodes(*_pyramid_frustum(**geometry), z_nodes)
    return weight, z, np.zeros_like(z)


def _pyramid_inplane(qx, qy, *, z_nodes: int, **geometry: float) -> np.ndarray:
    """The square slice (nm²) at each of ``_pyramid_vertical``'s nodes, on a trailing axis."""
    return _square_slices(qx, qy, _frustum_nodes(*_pyramid_frustum(**geometry), z_nodes)[2])


def _core_shell_ff(qx, qy, qz, D_y: float, aspect: float, core: float, contrast: float,
                   z_nodes: int | None = None) -> np.ndarray:
    """Sphere of diameter D_y (aspect unused: 1) resting on the substrate, core of radius ``core``·R with
    ``contrast`` × the shell's scattering contrast; in closed form (``z_nodes``, the fast path's, unused)."""
    r = 0.5 * D_y
    q = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2 + np.asarray(qz) ** 2)
    volume = 4.0 / 3.0 * math.pi
    outer = volume * r**3 * sphere_amplitude(q * r)
    inner = volume * (core * r) ** 3 * sphere_amplitude(q * core * r)
    return (outer + (contrast - 1.0) * inner) * np.exp(1j * np.asarray(qz) * r)


def _core_shell_nodes(D_y: float, core: float, contrast: float, z_nodes: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The core-shell sphere as discs along z: the outer sphere's ``z_nodes`` Gauss–Legendre nodes and the core's, the
    core's weighted by ``contrast`` − 1 (the shell's contrast taken out, the core's put in): (heights (nm), length
    weights (nm), r² (nm²))."""
    r = 0.5 * D_y
    nodes = [axial_nodes(r - a, r + a, lambda z, a=a: a * a - (z - r) ** 2, z_nodes) for a in (r, core * r)]
    (z_out, w_out, r2_out), (z_in, w_in, r2_in) = nodes
    return (np.concatenate([z_out, z_in]), np.concatenate([w_out, (contrast - 1.0) * w_in]),
            np.concatenate([r2_out, r2_in]))


def _core_shell_vertical(*, z_nodes: int, D_y: float, core: float, contrast: float, **_: float
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fast path's terms of ``_core_shell_ff``: (length weights (nm), heights (nm), zero lengths) of its nodes."""
    z, weight, _ = _core_shell_nodes(D_y, core, contrast, z_nodes)
    return weight, z, np.zeros_like(z)


def _core_shell_inplane(qx, qy, *, z_nodes: int, D_y: float, core: float, contrast: float, **_: float) -> np.ndarray:
    """The disc π r² · 2J1(q∥ r)/(q∥ r) (nm²) at each of ``_core_shell_vertical``'s nodes, on a trailing axis."""
    q_par = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2)
    return disc_terms(q_par, _core_shell_nodes(D_y, core, contrast, z_nodes)[2])


def _model(name: str, ff, extra: tuple[Parameter, ...], period: float | None = None,
           kernel: Separable | None = None, height: Callable[..., float] | None = None) -> ShapeModel:
    """A foreign shape; with a ``kernel``, integrated along z over its ``height(**geometry)`` (nm; default
    aspect·D_y: ``z_extent``)."""
    orientation = azimuth(period) if period else ()
    return ShapeModel(name=name, description=name, parameters=(diameter(), aspect(0.5, 1.5), fwhm(), *extra,
                                                              *orientation),
                      form_factor=ff, volume=lambda **g: 1.0, paper_grid={}, orientation_period_deg=period,
                      z_extent=None if kernel is None else (height or (lambda D_y, aspect, **_: aspect * D_y)),
                      kernel=kernel)


def _top() -> Parameter:
    return Parameter("top", "", 0.2, (0.0, 1.0), (0.0, 0.5), "top size over base size", "shape")


CONE = _model("cone", _cone_ff, (_top(),), kernel=axial_kernel(_cone_profile))
PYRAMID = _model("pyramid", _pyramid_ff, (_top(),), period=90.0,
                 kernel=Separable(_pyramid_vertical, _pyramid_inplane, isotropic=False, mirrored=True))
CORE_SHELL = _model("core_shell", _core_shell_ff, (
    Parameter("core", "", 0.75, (0.0, 0.99), (0.6, 0.9), "core radius over outer radius", "shape"),
    Parameter("contrast", "", -0.5, (-2.0, 1.0), (-1.0, 0.0), "core contrast over shell contrast", "shape")),
    kernel=Separable(_core_shell_vertical, _core_shell_inplane, isotropic=True), height=lambda D_y, **_: D_y)


@dataclass(frozen=True)
class Setting:
    """Where the frames are made: the canonical grid, the optics and the simulator's resolution."""

    grid: QGrid
    optics: Optics
    simulation: Simulation

    @classmethod
    def of_config(cls, config: Config) -> "Setting":
        """The setting of a config's experiment, grid and simulation."""
        return cls(QGrid.for_experiment(config.experiment, config.grid), Optics.from_experiment(config.experiment),
                   config.simulation)

    @classmethod
    def of_set(cls, attrs, grid: QGrid) -> "Setting":
        """The setting of a simulated set: its attributes (``simulator.dataset``) and its grid."""
        return cls(grid, Optics.from_experiment(experiment_of(attrs)), simulation_of(attrs))


#: a kind's draw: its parameters taken from the generator in turn, and the frame they give, computed when called
#: (deterministic, so that the frames of a kind can be computed on several threads and come out the same)
Drawn = Callable[[], np.ndarray]


def _particles(model: ShapeModel, rng: np.random.Generator, setting: Setting) -> Drawn:
    params = model.random(rng)
    if model.orientation_period_deg:
        params["azimuth_spread"] = model.orientation_period_deg
    return partial(simulate_pattern, model, params, setting.grid, setting.optics, setting.simulation)


def _grid_q(grid: QGrid) -> tuple[np.ndarray, np.ndarray]:
    """(q_z above the grid's lowest row (rows, 1), q_y (1, cols)), nm⁻¹."""
    return grid.qz[:, None] - grid.qz_min, grid.qy[None, :]


def _grating(rng: np.random.Generator, setting: Setting) -> Drawn:
    return partial(_grating_frame, setting.grid, rng.uniform(20, 150), rng.uniform(0.3, 0.6), rng.uniform(5, 40))


def _grating_frame(grid: QGrid, d: float, width: float, height: float) -> np.ndarray:
    """Bragg rods of a grating of period ``d`` (nm), line ``width`` (of the period) and ``height`` (nm)."""
    qz, qy = _grid_q(grid)
    out = np.zeros(grid.shape)
    for n in range(0, int(grid.qy_max * d / (2 * math.pi)) + 2):
        qn = 2 * math.pi * n / d
        envelope = np.sinc(n * width) ** 2 if n else 1.0
        out += envelope * np.exp(-0.5 * ((qy - qn) / (0.4 * grid.qy_max / grid.n_qy)) ** 2)
    return out * (np.sinc(qz * height / (2 * math.pi)) ** 2 + 1e-6)


def _ring(rng: np.random.Generator, setting: Setting) -> Drawn:
    return partial(_ring_frame, setting.grid, rng.uniform(0.3, 1.5), rng.uniform(0.03, 0.15))


def _ring_frame(grid: QGrid, q0: float, w: float) -> np.ndarray:
    """A ring of radius ``q0`` and width ``w`` (nm⁻¹) about the direct beam on a q⁻³ background."""
    qz, qy = _grid_q(grid)
    q = np.hypot(qz, qy)
    return np.exp(-0.5 * ((q - q0) / w) ** 2) + 1e-3 * (q + 0.05) ** -3


def _yoneda(rng: np.random.Generator, setting: Setting) -> Drawn:
    return partial(_yoneda_frame, setting, rng.uniform(0.3, 0.9), rng.uniform(20, 500))


def _yoneda_frame(setting: Setting, hurst: float, xi: float) -> np.ndarray:
    """Roughness scattering of a bare substrate of Hurst exponent ``hurst`` and correlation length ``xi`` (nm)."""
    grid, optics = setting.grid, setting.optics
    _, qy, alpha_f = grid_wavevectors(grid, optics.k, optics.alpha_i)
    t_f = np.abs(1.0 + fresnel_r(np.asarray(alpha_f, float), optics.n_substrate)) ** 2
    t_i = abs(1.0 + complex(fresnel_r(np.array(optics.alpha_i), optics.n_substrate))) ** 2
    correlation = (1.0 + (np.asarray(qy) * xi) ** 2) ** -(1.0 + hurst)
    qz = np.asarray(grid.qz)[:, None]
    return t_i * t_f * correlation / qz**2


def _known(rng: np.random.Generator, setting: Setting, grid: QGrid | None = None) -> Drawn:
    spec = random_specs(1, int(rng.integers(1 << 30)), 0.0)[int(rng.integers(len(SHAPES)))]
    return partial(simulate_pattern, SHAPES[spec.label], spec.params, grid or setting.grid, setting.optics,
                   setting.simulation)


def _upside_down(rng: np.random.Generator, setting: Setting) -> Drawn:
    known = _known(rng, setting)
    return lambda: known()[::-1]


def _off_centre(rng: np.random.Generator, setting: Setting) -> Drawn:
    grid = setting.grid
    shift = int(rng.integers(4, 13))
    wide = QGrid(grid.qy_min, grid.qy_max + shift * (grid.qy_max - grid.qy_min) / grid.n_qy, grid.n_qy + shift,
                 grid.qz_min, grid.qz_max, grid.n_qz)
    return partial(_folded, _known(rng, setting, wide), grid.n_qy, shift)


def _folded(known: Drawn, n_qy: int, shift: int) -> np.ndarray:
    """``known``'s pattern (on a grid ``shift`` columns wider than ``n_qy``) folded about a column ``shift`` bins
    off q_y = 0."""
    pattern = known()
    mirrored = np.concatenate([pattern[:, ::-1], pattern], axis=1)  # q_y from −max to +max
    centre = (n_qy + shift) + shift  # the wide grid's q_y = 0, then the fold's offset from it
    right, left = mirrored[:, centre:centre + n_qy], mirrored[:, centre - n_qy:centre][:, ::-1]
    return 0.5 * (right + left)


def _flat(rng: np.random.Generator, setting: Setting) -> Drawn:
    return partial(np.ones, setting.grid.shape)


DRAWS: dict[str, Callable[[np.random.Generator, Setting], Drawn]] = {
    "cone": partial(_particles, CONE),
    "pyramid": partial(_particles, PYRAMID),
    "core_shell": partial(_particles, CORE_SHELL),
    "grating": _grating,
    "saxs_ring": _ring,
    "yoneda": _yoneda,
    "noise": _flat,
    "upside_down": _upside_down,
    "off_centre": _off_centre,
}


def foreign_frames(kinds: Sequence[str], n: int, seed: int | list[int], setting: Setting,
                   threads: int | None = None) -> dict[str, np.ndarray]:
    """Per kind of ``kinds``, (n, rows, cols) float32 clean intensities; each kind's draws from ``seed`` and the
    kind alone. The frames are computed on ``threads`` threads (default: one per core) with one BLAS thread
    each: the same frames as on one thread, 17 s → 11 s for 150 of every kind on 2 cores (the pyramids' matrix
    products gain nothing from a second BLAS thread, whose spinning doubled their CPU time)."""
    from threadpoolctl import threadpool_limits

    unknown = [kind for kind in kinds if kind not in DRAWS]
    if unknown:
        raise ValueError(f"unknown kind of foreign frame {unknown[0]!r}; known: {', '.join(KINDS)}")
    drawn = {}
    for kind in kinds:
        rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), KINDS.index(kind)])
        drawn[kind] = [DRAWS[kind](rng, setting) for _ in range(n)]
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
        computed = {kind: [pool.submit(frame) for frame in frames] for kind, frames in drawn.items()}
        return {kind: np.stack([np.broadcast_to(frame.result(), setting.grid.shape) for frame in frames]
                               ).astype(np.float32) if frames else np.zeros((0, *setting.grid.shape), np.float32)
                for kind, frames in computed.items()}


def foreign_intensities(kind: str, n: int, seed: int | list[int], setting: Setting) -> np.ndarray:
    """(n, rows, cols) float32 clean intensities of one ``kind`` (one of KINDS); draws from ``seed`` and the kind
    (``foreign_frames`` of that kind alone)."""
    return foreign_frames((kind,), n, seed, setting)[kind]
