"""log10 → 256 grey levels: the one scaling used for training images and for live frames alike."""

from __future__ import annotations

import numpy as np

LEVELS = 256
EMPTY = np.finfo(np.float32).tiny  # stands in for empty bins (and for positive values below it)


def to_levels(intensity: np.ndarray, decades: float) -> np.ndarray:
    """Map each image (last two axes) to uint8: level 255 at the brightest bin, 0 at ``decades`` below
    it or darker. Zero, negative, NaN and infinite bins (empty or masked) get level 0. An image with no
    positive finite bin is all 0. Computed in float32 (ample for 256 levels)."""
    data = np.fmax(np.asarray(intensity, dtype=np.float32), EMPTY)  # NaN, zero and negative → EMPTY
    data[np.isinf(data)] = EMPTY
    logs = np.log10(data, out=data)
    top = logs.max(axis=(-2, -1), keepdims=True)
    top[top <= np.log10(EMPTY)] = 0.0  # nothing positive: every level 0
    logs -= top - np.float32(decades)
    logs *= np.float32((LEVELS - 1) / decades)
    return np.rint(np.clip(logs, 0.0, LEVELS - 1, out=logs), out=logs).astype(np.uint8)
