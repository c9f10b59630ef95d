"""Where the fit starts: the size net's estimate when the frame's Result has one, otherwise the best point of a
coarse grid in two stages over the class's sampled ranges, ranked with the cheaper ``ForwardModel.coarse``:
D_y × aspect (``GRID_D_Y`` × ``GRID_ASPECT`` simulations, the fwhm at ``FWHM_OVER_D_Y``·D_y within its range),
then D_y × fwhm (``GRID_D_Y`` × ``GRID_FWHM``, both geometric over their ranges) at the best aspect; every point
with each η of ``GRID_VOLUME_FRACTION`` and the configured volume fraction (η needs no new simulation), the
other shape parameters at their defaults. The second stage is there because a broad distribution of small
islands (fwhm/D_y up to 3.6 in the sampled ranges) scatters like a narrower one of larger islands: with the
fwhm tied to D_y the fit can start, and stay, in the wrong basin. Each grid point gets its maximum-likelihood
scale s (background 0) in closed form and is ranked by its Poisson deviance; the start's scale is then that of
the full model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .fit import FitData, deviance_residuals
from .model import VOLUME_FRACTION, ForwardModel

GRID_D_Y = 10
GRID_ASPECT = 4
GRID_FWHM = 3
FWHM_OVER_D_Y = 0.35
GRID_VOLUME_FRACTION = (0.05, 0.15, 0.25, 0.35)


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
    """The maximum-likelihood s of s·I (background 0) under Poisson noise: ΣN / Σ(I·n) over the used bins (N
    counts, n pixels; I in nm², s in counts per nm² and pixel); 1 where either sum is not positive."""
    used = data.used
    total_model = float(np.sum(intensity[used] * data.pixels[used]))
    total_counts = float(np.sum(data.counts()))
    if total_model <= 0 or total_counts <= 0 or not np.isfinite(total_model):
        return 1.0
    return total_counts / total_model


def cost(intensity: np.ndarray, scale: float, data: FitData) -> float:
    """The Poisson deviance (Σr² of ``fit.deviance_residuals``) of s·I against the data, background 0."""
    used = data.used
    r = deviance_residuals(scale * intensity[used] * data.pixels[used], data.counts())
    return float(r @ r)


def grid_start(forward: ForwardModel, data: FitData, volume_fraction: float) -> tuple[dict[str, float], float]:
    """(start, scale) of the best grid point: first D_y × aspect with the fwhm at ``FWHM_OVER_D_Y``·D_y, then
    D_y × fwhm at the best aspect; every point with each η of ``GRID_VOLUME_FRACTION`` and ``volume_fraction``
    (the configured η)."""
    table = {p.name: p for p in forward.shape.parameters}
    f_lo, f_hi = table["fwhm"].sample_range
    etas = sorted({*GRID_VOLUME_FRACTION, volume_fraction})
    sizes = np.geomspace(*table["D_y"].sample_range, GRID_D_Y)
    base = default_start(forward, volume_fraction)
    points = [{**base, "D_y": float(d_y), "aspect": float(aspect), VOLUME_FRACTION: float(eta),
               "fwhm": float(np.clip(FWHM_OVER_D_Y * d_y, f_lo, f_hi))}
              for d_y in sizes for aspect in np.linspace(*table["aspect"].sample_range, GRID_ASPECT) for eta in etas]
    first = _best_point(forward.coarse, data, points)
    points = [{**first[1], "D_y": float(d_y), "fwhm": float(fwhm), VOLUME_FRACTION: float(eta)}
              for d_y in sizes for fwhm in np.geomspace(f_lo, f_hi, GRID_FWHM) for eta in etas]
    _, start, _ = min(first, _best_point(forward.coarse, data, points), key=lambda scored: scored[0])
    return start, best_scale(forward(np.array([start[n] for n in forward.names])), data)


def _best_point(forward: ForwardModel, data: FitData,
                points: list[dict[str, float]]) -> tuple[float, dict[str, float], float]:
    """(deviance, point, scale) of the lowest deviance among ``points`` (each over ``forward.names``)."""
    scored = []
    for point in points:
        intensity = forward(np.array([point[n] for n in forward.names]))
        scale = best_scale(intensity, data)
        scored.append((cost(intensity, scale, data), point, scale))
    return min(scored, key=lambda item: item[0])
