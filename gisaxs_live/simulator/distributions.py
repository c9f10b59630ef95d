"""Quadrature nodes of the ensemble averages: log-normal sizes and uniform in-plane orientations."""

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


def orientation_nodes(azimuth_deg: float, spread_deg: float, n: int) -> np.ndarray:
    """``n`` in-plane angles (rad), the midpoints of equal parts of [azimuth − spread/2, azimuth + spread/2];
    a single angle when the spread is 0. Equal weights."""
    if spread_deg <= 0.0 or n == 1:
        return np.array([math.radians(azimuth_deg)])
    u = (np.arange(n) + 0.5) / n - 0.5
    return np.radians(azimuth_deg + spread_deg * u)
