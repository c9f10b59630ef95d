"""Simulated frames on the model grid for the refinement's recovery test and benchmark: the forward model at
known parameters, scaled so that the brightest bin holds ``peak_counts`` counts in all its pixels, plus a flat
background, Poisson noise per bin; bins without pixels are NaN, as in ``Prepared.intensity``. And the
Cramér–Rao bound of such a frame: the best 1σ any unbiased fit can reach on it."""

from __future__ import annotations

import numpy as np

from .fit import FitData, count_derivatives, expected_counts, fisher_information, standard_errors
from .model import ForwardModel, parameter_bounds


def frame_scale(intensity: np.ndarray, pixels: np.ndarray, peak_counts: float) -> float:
    """s (counts per nm² and pixel) that puts ``peak_counts`` counts into the brightest bin of s·I·n."""
    return float(peak_counts / np.max(intensity * pixels))


def synthetic_frame(forward: ForwardModel, truth: dict[str, float], pixels: np.ndarray, rng: np.random.Generator,
                    peak_counts: float = 1e4, background_counts: float = 0.0) -> FitData:
    """A frame of ``truth`` (over ``forward.names``) on bins of ``pixels`` pixels each (mean counts per bin);
    ``background_counts`` per pixel."""
    intensity = forward(np.array([truth[n] for n in forward.names]))
    n = pixels.astype(float)
    expected = frame_scale(intensity, n, peak_counts) * intensity * n + background_counts * n
    counts = rng.poisson(expected).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(pixels > 0, counts / n, np.nan)
    return FitData(mean.astype(np.float32), pixels)


def cramer_rao(forward: ForwardModel, truth: dict[str, float], pixels: np.ndarray, peak_counts: float = 1e4,
               background_counts: float = 0.0) -> dict[str, float]:
    """The Cramér–Rao 1σ of each parameter of ``forward.names`` (its own unit) on ``synthetic_frame``'s frames
    of ``truth``: √diag(F⁻¹) of the Poisson Fisher information at the truth, with the scale and background
    free beside θ as in the fit (``fit.fisher_information``, ∂μ/∂θ as the fit takes it)."""
    theta = np.array([truth[n] for n in forward.names])
    data = FitData(np.where(pixels > 0, 0.0, np.nan), pixels)
    scale = frame_scale(forward(theta), pixels.astype(float), peak_counts)
    x = np.append(theta, [np.log(scale), background_counts])
    upper = np.append(parameter_bounds(forward.shape)[1], [np.inf, np.inf])
    expected = expected_counts(forward, data)(x)[1]
    sigma = standard_errors(fisher_information(count_derivatives(forward, data, x, upper), expected))
    return dict(zip(forward.names, map(float, sigma)))
