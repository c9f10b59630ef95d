"""The forward model of the refinement: the bundled simulator's intensity on the model grid as a function of
the free parameters, with what does not change between calls computed once.

Free parameters (``free_parameters``): the class's size and shape parameters (D_y nm, aspect, fwhm nm, and
h_ratio or xy_ratio where the class has them) and the Percus–Yevick volume fraction η of the default
structure (hard-sphere diameter = the mode of D_y). Orientation parameters (azimuth, azimuth_spread) stay at
their table defaults: a randomly oriented deposit. The intensity is that of
``simulator.pattern.ensemble_intensity``, I = P·[⟨|F|²⟩ − |⟨F⟩|² (1 − S(q∥))] (nm², per particle), computed
from ``ensemble_amplitudes`` so that a change of η alone reuses the amplitudes (no new simulation).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from ..config import Simulation
from ..preprocess.qgrid import QGrid, grid_wavevectors
from ..simulator.optics import scattering_prefactor
from ..simulator.pattern import Optics, ensemble_amplitudes
from ..simulator.shapes import ShapeModel
from ..simulator.structure import percus_yevick

#: the structure parameter fitted besides the shape's, and its bounds (PY is valid below ~0.5)
VOLUME_FRACTION = "volume_fraction"
VOLUME_FRACTION_BOUNDS = (0.0, 0.45)
#: shape evaluations kept (a Jacobian's shifted points and the point itself)
CACHE_SIZE = 8
#: fit bounds of a shape parameter: its limits, within [lo / WIDEN, hi * WIDEN] of its sampled range
WIDEN = 4.0
#: nodes of the coarse model (``ForwardModel.coarse``) over the size distribution and the orientations
COARSE_SIZE_SAMPLES = 7
COARSE_ORIENTATION_SAMPLES = 4


def free_parameters(shape: ShapeModel) -> tuple[str, ...]:
    """The shape's size, shape and dispersion parameters, then the volume fraction."""
    return tuple(p.name for p in shape.parameters if p.role != "orientation") + (VOLUME_FRACTION,)


def parameter_bounds(shape: ShapeModel) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of ``free_parameters``: each shape parameter within its limits and a factor ``WIDEN``
    of its sampled range (a fraction such as h_ratio at most its limit 1); η in VOLUME_FRACTION_BOUNDS."""
    lo, hi = [], []
    for p in shape.parameters:
        if p.role == "orientation":
            continue
        lo.append(max(p.limits[0], p.sample_range[0] / WIDEN))
        hi.append(min(p.limits[1], p.sample_range[1] * WIDEN))
    return np.array(lo + [VOLUME_FRACTION_BOUNDS[0]]), np.array(hi + [VOLUME_FRACTION_BOUNDS[1]])


@dataclass
class ForwardModel:
    """I(θ) of ``shape`` on ``grid`` (float64, (n_qz, n_qy), nm²) for θ over ``free_parameters``; the last
    ``CACHE_SIZE`` shape evaluations are kept, so a call that changes only η costs a structure factor.
    ``evaluations`` counts the simulations."""

    shape: ShapeModel
    grid: QGrid
    optics: Optics
    simulation: Simulation
    names: tuple[str, ...] = field(init=False)
    evaluations: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.names = free_parameters(self.shape)
        self._q = grid_wavevectors(self.grid, self.optics.k, self.optics.alpha_i)
        self._q_par = np.broadcast_to(np.abs(self._q[1]), self.grid.shape)
        self._prefactor = scattering_prefactor(self.optics.k, self.optics.n_particle)
        self._cache: OrderedDict[tuple[float, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()

    @cached_property
    def coarse(self) -> "ForwardModel":
        """The same model with at most ``COARSE_SIZE_SAMPLES`` size nodes (whatever the distribution's width) and
        ``COARSE_ORIENTATION_SAMPLES`` orientation nodes (an ellipsoid's simulation 4× cheaper), built on first
        use: good enough to rank the points of a start grid, not to fit."""
        nodes = self.simulation
        simulation = replace(nodes, size_samples=min(nodes.size_samples, COARSE_SIZE_SAMPLES), size_step=0.0,
                             orientation_samples=min(nodes.orientation_samples, COARSE_ORIENTATION_SAMPLES))
        return ForwardModel(self.shape, self.grid, self.optics, simulation)

    def params(self, theta: np.ndarray) -> dict[str, float]:
        """The simulator's parameter dict (η excluded) of θ."""
        return {n: float(v) for n, v in zip(self.names, theta) if n != VOLUME_FRACTION}

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, float)
        key = tuple(theta[:-1])
        if key in self._cache:
            self._cache.move_to_end(key)
        else:
            qx, qy, alpha_f = self._q
            mean_f, mean_f2 = ensemble_amplitudes(self.shape, self.params(theta), qx, qy, alpha_f, self.optics,
                                                  self.simulation)
            coherent = mean_f.real**2 + mean_f.imag**2
            self._cache[key] = (np.broadcast_to(mean_f2, self.grid.shape),
                                np.broadcast_to(coherent, self.grid.shape))
            self.evaluations += 1
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        mean_f2, coherent = self._cache[key]
        s_q = percus_yevick(self._q_par, float(theta[0]), float(theta[-1]))
        return self._prefactor * np.maximum(mean_f2 - coherent * (1.0 - s_q), 0.0)
