"""log10 → 256 grey levels: the one scaling used for training images and for live frames alike."""

from __future__ import annotations

import numpy as np

LEVELS = 256


def to_levels(intensity: np.ndarray, decades: float) -> np.ndarray:
    """Map each image (last two axes) to uint8: level 255 at the brightest bin, 0 at ``decades`` below
    it or darker. Zero, negative and NaN bins (empty or masked) get level 0. An image with no positive
    bin is all 0."""
    data = np.asarray(intensity, dtype=np.float64)
    positive = np.isfinite(data) & (data > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(positive, np.log10(np.where(positive, data, 1.0)), -np.inf)
    top = logs.max(axis=(-2, -1), keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    scaled = (logs - (top - decades)) / decades
    levels = np.rint(np.clip(scaled, 0.0, 1.0) * (LEVELS - 1))
    return levels.astype(np.uint8)
