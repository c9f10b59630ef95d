"""Quadrature nodes of the ensemble averages: sizes and uniform in-plane orientations.

Size distributions of D_y, each given by its mode and FWHM (nm) as the shape tables' ``D_y`` and ``fwhm``:
``lognormal`` (the default, FitGISAXS's), ``gaussian`` (truncated at D > 0) and ``schulz`` (a Gamma
density, right-skewed, with that mode and FWHM).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

#: Sizes are sampled where the log-normal density is at least e^(-TRUNCATION²/2) of its peak.
TRUNCATION = 2.0


def lognormal_sigma(mode: float, fwhm: float) -> float:
    """σ of ln D for a log-normal density with peak at ``mode`` and full width at half maximum ``fwhm``.

    With t = ln(D/mode) the density is ∝ exp(−t²/(2σ²)) exactly, so its half-maximum points are
    D = mode·e^{±σ√(2 ln 2)} and FWHM = 2·mode·sinh(σ√(2 ln 2)).
    """
    return math.asinh(fwhm / (2.0 * mode)) / math.sqrt(2.0 * math.log(2.0))


def lognormal_nodes(mode: float, fwhm: float, n: int, step: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Diameters (nm) and number fractions (sum 1) of at least ``n`` nodes over the log-normal size density,
    equally spaced in ln D within ±TRUNCATION·σ of the mode, and at most ``step`` apart in ln D (0: ``n``
    nodes). fwhm = 0 or n = 1 gives the mode alone."""
    if fwhm <= 0.0 or n == 1:
        return np.array([mode]), np.array([1.0])
    sigma = lognormal_sigma(mode, fwhm)
    n = node_count(n, 2.0 * TRUNCATION * sigma, step)
    t = np.linspace(-TRUNCATION * sigma, TRUNCATION * sigma, n)
    # number density per unit ln D is D·p(D) ∝ e^{t} exp(−t²/(2σ²))
    weights = np.exp(t - t**2 / (2.0 * sigma**2))
    return mode * np.exp(t), weights / weights.sum()


SIZE_DISTRIBUTIONS = ("lognormal", "gaussian", "schulz")

#: Smallest size node, as a fraction of the mode (the Gaussian and Schulz densities reach D = 0).
MIN_SIZE_FRACTION = 0.05


def node_count(least: int, span: float, step: float) -> int:
    """Nodes over ``span`` at most ``step`` apart (the same unit; step 0: no limit), and at least ``least``."""
    return least if step <= 0.0 else max(least, math.ceil(span / step) + 1)


def size_nodes(distribution: str, mode: float, fwhm: float, n: int, step: float = 0.0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Diameters (nm) and number fractions (sum 1) of at least ``n`` nodes of the named size distribution,
    at most ``step`` apart relative to the largest node (in ln D for the log-normal; 0: ``n`` nodes).

    The Gaussian has the given mode and FWHM before its truncation at D > 0 (with a mode below FWHM/2 its half
    maximum below the mode is cut off). The Schulz (Gamma) density has the given mode and FWHM exactly
    (``schulz_order``); both are sampled where the density is at least e^(−TRUNCATION²/2) of its peak, from
    ``MIN_SIZE_FRACTION`` of the mode up."""
    if distribution == "lognormal":
        return lognormal_nodes(mode, fwhm, n, step)
    if distribution not in SIZE_DISTRIBUTIONS:
        raise ValueError(f"size distribution {distribution!r}: must be one of {', '.join(SIZE_DISTRIBUTIONS)}")
    if fwhm <= 0.0 or n == 1:
        return np.array([mode]), np.array([1.0])
    if distribution == "gaussian":
        sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        lo, hi = max(MIN_SIZE_FRACTION * mode, mode - TRUNCATION * sigma), mode + TRUNCATION * sigma
        sizes = np.linspace(lo, hi, node_count(n, (hi - lo) / hi, step))
        log_weights = -0.5 * ((sizes - mode) / sigma) ** 2
    else:  # Gamma(k, θ), mode (k − 1)θ: density / peak = exp(−a (u − 1 − ln u)), u = D/mode, a = k − 1
        order = schulz_order(fwhm / mode)
        low, high = _gamma_level_points(order, 0.5 * TRUNCATION**2)
        lo, hi = max(MIN_SIZE_FRACTION, low) * mode, high * mode
        sizes = np.linspace(lo, hi, node_count(n, (hi - lo) / hi, step))
        u = sizes / mode
        log_weights = -order * (u - 1.0 - np.log(u))
    weights = np.exp(log_weights - log_weights.max())
    return sizes, weights / weights.sum()


def schulz_order(relative_fwhm: float) -> float:
    """a = k − 1 of the Gamma density of mode 1 whose full width at half maximum is ``relative_fwhm``
    (FWHM / mode): its half-maximum points solve a (u − 1 − ln u) = ln 2; the width falls as a grows."""
    def excess(log_a: float) -> float:
        low, high = _gamma_level_points(math.exp(log_a), math.log(2.0))
        return high - low - relative_fwhm

    lo, hi = SCHULZ_LOG_ORDER
    if not excess(hi) < 0.0 < excess(lo):
        widest, narrowest = excess(lo) + relative_fwhm, excess(hi) + relative_fwhm
        raise ValueError(f"Schulz size distribution: FWHM/mode {relative_fwhm:g} is outside the "
                         f"{narrowest:.2g}–{widest:.3g} it can have here")
    return math.exp(brentq(excess, lo, hi, xtol=1e-12))


#: ln of the Schulz order a = k − 1 searched by ``schulz_order``: FWHM/mode from about 1e-6 to 100
SCHULZ_LOG_ORDER = (-5.0, 30.0)


def _gamma_level_points(order: float, drop: float) -> tuple[float, float]:
    """(u₋, u₊): below and above u = 1, where order · (u − 1 − ln u) = ``drop``."""
    level = drop / order

    def g(u: float) -> float:
        return u - 1.0 - math.log(u) - level

    high = 1.0 + level + math.sqrt(2.0 * level) + 1.0
    while g(high) < 0.0:
        high *= 2.0
    return brentq(g, math.exp(-level - 1.0), 1.0), brentq(g, 1.0, high)


def orientation_nodes(azimuth_deg: float, spread_deg: float, n: int) -> np.ndarray:
    """``n`` in-plane angles (rad), the midpoints of equal parts of [azimuth − spread/2, azimuth + spread/2];
    a single angle when the spread is 0. Equal weights."""
    if spread_deg <= 0.0 or n == 1:
        return np.array([math.radians(azimuth_deg)])
    u = (np.arange(n) + 0.5) / n - 0.5
    return np.radians(azimuth_deg + spread_deg * u)
