"""Simulated frames on the model grid for the refinement's recovery test and benchmark: the forward model at
known parameters, scaled so that the brightest bin holds ``peak_counts`` counts in all its pixels, plus a flat
background, Poisson noise per bin; bins without pixels are NaN, as in ``Prepared.intensity``."""

from __future__ import annotations

import numpy as np

from .fit import FitData
from .model import ForwardModel


def synthetic_frame(forward: ForwardModel, truth: dict[str, float], pixels: np.ndarray, rng: np.random.Generator,
                    peak_counts: float = 1e4, background_counts: float = 0.0) -> FitData:
    """A frame of ``truth`` (over ``forward.names``) on bins of ``pixels`` pixels each (mean counts per bin);
    ``background_counts`` per pixel."""
    intensity = forward(np.array([truth[n] for n in forward.names]))
    n = pixels.astype(float)
    total = intensity * n
    expected = peak_counts * total / total.max() + background_counts * n
    counts = rng.poisson(expected).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(pixels > 0, counts / n, np.nan)
    return FitData(mean.astype(np.float32), pixels)
