"""log10 → 256 grey levels: the one scaling used for training images and for live frames alike."""

from __future__ import annotations

import numpy as np

LEVELS = 256


def to_levels(intensity: np.ndarray, decades: float) -> np.ndarray:
    """Map each image (last two axes) to uint8: level 255 at the brightest bin, 0 at ``decades`` below
    it or darker. Zero, negative, NaN and infinite bins (empty or masked) get level 0. An image with no
    positive finite bin is all 0. Computed in float32 (ample for 256 levels)."""
    data = np.asarray(intensity, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(data)
    logs[~(np.isfinite(logs))] = -np.inf
    top = logs.max(axis=(-2, -1), keepdims=True)
    top[~np.isfinite(top)] = 0.0
    scaled = (logs - (top - np.float32(decades))) * np.float32((LEVELS - 1) / decades)
    return np.rint(np.clip(scaled, 0.0, LEVELS - 1)).astype(np.uint8)
