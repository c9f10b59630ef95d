"""Self-describing parameter tables of the particle shapes (sasmodels style) and the shape record."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._kernel import Ellipsoidal, Separable

Role = Literal["size", "shape", "dispersion", "orientation"]


@dataclass(frozen=True)
class Parameter:
    """One row of a shape's parameter table.

    ``limits`` bound what is physically valid (an error outside them); ``sample_range`` is the range the
    paper's grid spans and ``random`` samples, less the open interval ``excluded`` where one is given (a band
    where the shape would be another class's: the class definitions must not overlap). Roles: ``size`` scales with the size distribution (D_y),
    ``shape`` is a fixed ratio, ``dispersion`` and ``orientation`` describe the ensemble, not one particle.
    """

    name: str
    unit: str
    default: float
    limits: tuple[float, float]
    sample_range: tuple[float, float]
    description: str
    role: Role
    excluded: tuple[float, float] | None = None

    def draw(self, rng: np.random.Generator) -> float:
        """A value uniform over ``sample_range`` without ``excluded``."""
        lo, hi = self.sample_range
        if self.excluded is None:
            return float(rng.uniform(lo, hi))
        gap_lo, gap_hi = self.excluded
        value = rng.uniform(lo, hi - (gap_hi - gap_lo))
        return float(value if value <= gap_lo else value + (gap_hi - gap_lo))

    def admits(self, value: float) -> bool:
        """Whether ``value`` lies in the sampled range (``sample_range`` without ``excluded``)."""
        lo, hi = self.sample_range
        inside = lo <= value <= hi
        return inside and not (self.excluded is not None and self.excluded[0] < value < self.excluded[1])


def diameter(description: str = "in-plane diameter (mode of the size distribution)") -> Parameter:
    return Parameter("D_y", "nm", 20.0, (0.1, 1000.0), (5.0, 40.0), description, "size")


def aspect(lo: float, hi: float, limits: tuple[float, float] = (0.01, 100.0),
           description: str = "vertical size over in-plane diameter, D_z/D_y") -> Parameter:
    return Parameter("aspect", "", round(0.5 * (lo + hi), 2), limits, (lo, hi), description, "shape")


def fwhm() -> Parameter:
    return Parameter("fwhm", "nm", 9.0, (0.0, 1000.0), (3.0, 18.0),
                     "full width at half maximum of the D_y distribution", "dispersion")


def azimuth(period_deg: float, sampled_spread: tuple[float, float] | None = None) -> tuple[Parameter, Parameter]:
    """Mean in-plane orientation of the deposit and the (uniform) spread around it; ``sampled_spread`` is the
    spread's sampled range (default: aligned to random, 0 to the period)."""
    return (
        Parameter("azimuth", "deg", 0.0, (-360.0, 360.0), (0.0, period_deg),
                  "mean in-plane rotation of the particles", "orientation"),
        Parameter("azimuth_spread", "deg", period_deg, (0.0, period_deg), sampled_spread or (0.0, period_deg),
                  f"width of the uniform in-plane orientation distribution ({period_deg:g} = random)",
                  "orientation"),
    )


@dataclass(frozen=True)
class ShapeModel:
    """A particle shape: its table, its form factor and the paper's parameter grid (Fig. 1).

    ``form_factor(qx, qy, qz, **geometry)`` takes broadcastable q arrays (nm⁻¹) and the ``size`` and
    ``shape`` parameters, and returns the complex amplitude (nm³) of one particle with its base centred
    at the origin on the substrate (z = 0). ``volume(**geometry)`` is F(q = 0) in nm³. Every length of a
    shape is D_y times dimensionless ``shape`` parameters (the fast path scales one evaluation to all sizes).
    ``orientation_period_deg`` is None for shapes symmetric about z. ``z_extent(**geometry)`` (nm) is, for a form
    factor integrated along z by Gauss–Legendre (a ``z_nodes`` argument), the longest interval it integrates
    over; None for closed forms. ``kernel`` restates ``form_factor`` in
    a structured form (``_kernel``) that the fast path of the canonical grid uses; None means general path only.
    """

    name: str
    description: str
    parameters: tuple[Parameter, ...]
    form_factor: Callable[..., np.ndarray]
    volume: Callable[..., float]
    paper_grid: Mapping[str, tuple[float, ...]]
    orientation_period_deg: float | None = None
    z_extent: Callable[..., float] | None = None
    kernel: Ellipsoidal | Separable | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def geometry(self, params: Mapping[str, float]) -> dict[str, float]:
        """The ``size`` and ``shape`` parameters: what ``form_factor`` and ``volume`` take."""
        return {p.name: params[p.name] for p in self.parameters if p.role in ("size", "shape")}

    def check(self, params: Mapping[str, float]) -> dict[str, float]:
        """Complete ``params`` with defaults and validate them; errors name the shape and parameter."""
        unknown = set(params) - set(self.names)
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(self.names)}")
        full = {}
        for p in self.parameters:
            value = float(params.get(p.name, p.default))
            lo, hi = p.limits
            if not (lo <= value <= hi) or math.isnan(value):
                raise ValueError(f"{self.name}: parameter {p.name} = {value:g} {p.unit} is outside its "
                                 f"limits [{lo:g}, {hi:g}]")
            full[p.name] = value
        return full

    def random(self, rng: np.random.Generator) -> dict[str, float]:
        """Parameters drawn uniformly over each parameter's sampled range (``Parameter.draw``)."""
        return {p.name: p.draw(rng) for p in self.parameters}

    def paper_points(self) -> list[dict[str, float]]:
        """Every parameter combination of the paper's grid, in a fixed order."""
        names = list(self.paper_grid)
        axes = np.meshgrid(*[np.asarray(self.paper_grid[n], float) for n in names], indexing="ij")
        points = [dict(zip(names, map(float, values))) for values in zip(*(a.ravel() for a in axes))]
        return [self.check(p) for p in points]


def steps(lo: float, hi: float, step: float) -> tuple[float, ...]:
    """lo, lo+step, …, hi inclusive, rounded to remove float noise."""
    n = int(round((hi - lo) / step)) + 1
    return tuple(round(lo + i * step, 10) for i in range(n))
