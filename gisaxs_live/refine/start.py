"""Where the fit starts: the size net's estimate when the frame's Result has one, otherwise the best point of a
coarse grid over D_y × aspect (``GRID_D_Y`` × ``GRID_ASPECT`` simulations over the class's sampled ranges; the
other shape parameters at their defaults, the fwhm at ``FWHM_OVER_D_Y``·D_y within its sampled range, η at
the configured volume fraction). Each grid point gets its best scale s (background 0) in closed form."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .fit import FitData
from .model import VOLUME_FRACTION, ForwardModel

GRID_D_Y = 10
GRID_ASPECT = 4
FWHM_OVER_D_Y = 0.35
#: bins with at least this many counts set the scale of a grid point
SCALE_MIN_COUNTS = 10.0


def default_start(forward: ForwardModel, volume_fraction: float) -> dict[str, float]:
    """Every free parameter at its table default, η at ``volume_fraction``."""
    start = {p.name: p.default for p in forward.shape.parameters if p.name in forward.names}
    start[VOLUME_FRACTION] = volume_fraction
    return start


def size_start(forward: ForwardModel, size: Any, volume_fraction: float) -> dict[str, float] | None:
    """The start from a size estimate (``classify.size.SizeEstimate``: D_y_nm, aspect, fwhm_nm; NaN = none),
    None when it gives no D_y."""
    d_y = float(getattr(size, "D_y_nm", float("nan")))
    if not math.isfinite(d_y) or d_y <= 0:
        return None
    start = default_start(forward, volume_fraction)
    start["D_y"] = d_y
    for name, attribute in (("aspect", "aspect"), ("fwhm", "fwhm_nm")):
        value = float(getattr(size, attribute, float("nan")))
        if math.isfinite(value) and value > 0:
            start[name] = value
    return start


def best_scale(intensity: np.ndarray, data: FitData) -> float:
    """s with ln(s·I) closest to ln d on average over the bins with ≥ ``SCALE_MIN_COUNTS`` counts (the
    weighted mean of ln d − ln I, weights N)."""
    used = data.used & (intensity > 0)
    counts = data.intensity[used] * data.pixels[used]
    bright = counts >= SCALE_MIN_COUNTS
    if not bright.any():
        bright = counts > 0
    if not bright.any():
        return 1.0
    log_ratio = np.log(data.intensity[used][bright]) - np.log(intensity[used][bright])
    return float(np.exp(np.average(log_ratio, weights=counts[bright])))


def cost(intensity: np.ndarray, scale: float, data: FitData) -> float:
    """χ² (``fit`` residuals) of s·I against the data, background 0."""
    used = data.used
    n = data.pixels[used]
    counts = np.maximum(data.intensity[used], 0.0) * n
    r = (np.log(scale * intensity[used] * n + 1.0) - np.log(counts + 1.0)) * np.sqrt(counts + 1.0)
    return float(r @ r)


def grid_start(forward: ForwardModel, data: FitData, volume_fraction: float) -> tuple[dict[str, float], float]:
    """(start, scale) of the best grid point."""
    table = {p.name: p for p in forward.shape.parameters}
    d_lo, d_hi = table["D_y"].sample_range
    a_lo, a_hi = table["aspect"].sample_range
    f_lo, f_hi = table["fwhm"].sample_range
    best: tuple[float, dict[str, float], float] | None = None
    for d_y in np.geomspace(d_lo, d_hi, GRID_D_Y):
        for aspect in np.linspace(a_lo, a_hi, GRID_ASPECT):
            start = default_start(forward, volume_fraction)
            start.update(D_y=float(d_y), aspect=float(aspect), fwhm=float(np.clip(FWHM_OVER_D_Y * d_y, f_lo, f_hi)))
            intensity = forward(np.array([start[n] for n in forward.names]))
            scale = best_scale(intensity, data)
            chi2 = cost(intensity, scale, data)
            if best is None or chi2 < best[0]:
                best = (chi2, start, scale)
    assert best is not None
    return best[1], best[2]
