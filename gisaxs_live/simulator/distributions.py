"""Quadrature nodes of the ensemble averages: sizes and uniform in-plane orientations.

Size distributions of D_y, each given by its mode and FWHM (nm) as the shape tables' ``D_y`` and ``fwhm``:
``lognormal`` (the default, FitGISAXS's), ``gaussian`` (truncated at D > 0) and ``schulz`` (a Gamma
density, right-skewed, with the Gaussian's standard deviation FWHM/2.355 about the same mode).
"""

from __future__ import annotations

import math

import numpy as np

#: Sizes are sampled where the log-normal density is at least e^(-TRUNCATION²/2) of its peak.
TRUNCATION = 2.0


def lognormal_sigma(mode: float, fwhm: float) -> float:
    """σ of ln D for a log-normal density with peak at ``mode`` and full width at half maximum ``fwhm``.

    With t = ln(D/mode) the density is ∝ exp(−t²/(2σ²)) exactly, so its half-maximum points are
    D = mode·e^{±σ√(2 ln 2)} and FWHM = 2·mode·sinh(σ√(2 ln 2)).
    """
    return math.asinh(fwhm / (2.0 * mode)) / math.sqrt(2.0 * math.log(2.0))


def lognormal_nodes(mode: float, fwhm: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Diameters (nm) and number fractions (sum 1) of ``n`` nodes over the log-normal size density,
    equally spaced in ln D within ±TRUNCATION·σ of the mode. fwhm = 0 or n = 1 gives the mode alone."""
    if fwhm <= 0.0 or n == 1:
        return np.array([mode]), np.array([1.0])
    sigma = lognormal_sigma(mode, fwhm)
    t = np.linspace(-TRUNCATION * sigma, TRUNCATION * sigma, n)
    # number density per unit ln D is D·p(D) ∝ e^{t} exp(−t²/(2σ²))
    weights = np.exp(t - t**2 / (2.0 * sigma**2))
    return mode * np.exp(t), weights / weights.sum()


SIZE_DISTRIBUTIONS = ("lognormal", "gaussian", "schulz")

#: Smallest size node, as a fraction of the mode (the Gaussian and Schulz densities reach D = 0).
MIN_SIZE_FRACTION = 0.05


def size_nodes(distribution: str, mode: float, fwhm: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Diameters (nm) and number fractions (sum 1) of ``n`` nodes of the named size distribution."""
    if distribution == "lognormal":
        return lognormal_nodes(mode, fwhm, n)
    if distribution not in SIZE_DISTRIBUTIONS:
        raise ValueError(f"size distribution {distribution!r}: must be one of {', '.join(SIZE_DISTRIBUTIONS)}")
    if fwhm <= 0.0 or n == 1:
        return np.array([mode]), np.array([1.0])
    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    lo = max(MIN_SIZE_FRACTION * mode, mode - TRUNCATION * sigma)
    if distribution == "gaussian":
        sizes = np.linspace(lo, mode + TRUNCATION * sigma, n)
        log_weights = -0.5 * ((sizes - mode) / sigma) ** 2
    else:  # Gamma(k, θ) with mode (k − 1)θ and variance kθ²
        theta = 0.5 * (math.sqrt(mode**2 + 4.0 * sigma**2) - mode)
        shape = 1.0 + mode / theta
        sizes = np.linspace(lo, mode + 1.5 * TRUNCATION * sigma, n)
        log_weights = (shape - 1.0) * np.log(sizes / mode) - (sizes - mode) / theta
    weights = np.exp(log_weights - log_weights.max())
    return sizes, weights / weights.sum()


def orientation_nodes(azimuth_deg: float, spread_deg: float, n: int) -> np.ndarray:
    """``n`` in-plane angles (rad), the midpoints of equal parts of [azimuth − spread/2, azimuth + spread/2];
    a single angle when the spread is 0. Equal weights."""
    if spread_deg <= 0.0 or n == 1:
        return np.array([math.radians(azimuth_deg)])
    u = (np.arange(n) + 0.5) / n - 0.5
    return np.radians(azimuth_deg + spread_deg * u)
