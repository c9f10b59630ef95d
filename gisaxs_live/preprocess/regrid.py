"""Detector pixels → bins of the canonical (q_z, q_y) grid: a lookup table built once per detector shape,
then one gather and two ``np.bincount`` per frame.

A pixel goes to the bin holding (|q_y|, q_z): both halves of the detector average into the same bins
(the pattern is mirror-symmetric in q_y). Pixels below the sample horizon (α_f < 0), outside the grid
or statically masked are left out of the table. Bins are numbered row-major over ``grid.shape``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..qgrid import QGrid
from .geometry import PixelQ


@dataclass(frozen=True)
class Lookup:
    """Pixel → bin table of one detector shape: ``pixels`` (flat indices, ascending) of the usable
    pixels and ``bins``, the bin of each; ``covered`` (grid.shape, bool): bins with a usable pixel."""

    detector_shape: tuple[int, int]
    grid_shape: tuple[int, int]
    pixels: np.ndarray
    bins: np.ndarray
    covered: np.ndarray

    @property
    def n_bins(self) -> int:
        return self.grid_shape[0] * self.grid_shape[1]


def build_lookup(q: PixelQ, masked: np.ndarray, grid: QGrid) -> Lookup:
    """The table for pixel wavevectors ``q`` (nm⁻¹) and static mask ``masked`` (True = masked)."""
    col = np.floor((np.abs(q.qy) - grid.qy_min) * (grid.n_qy / (grid.qy_max - grid.qy_min)))
    row = np.floor((q.qz - grid.qz_min) * (grid.n_qz / (grid.qz_max - grid.qz_min)))
    usable = ((col >= 0) & (col < grid.n_qy) & (row >= 0) & (row < grid.n_qz)
              & (q.alpha_f >= 0.0) & ~masked)
    pixels = np.flatnonzero(usable)
    bins = (row.ravel()[pixels] * grid.n_qy + col.ravel()[pixels]).astype(np.intp)
    covered = np.bincount(bins, minlength=grid.n_qz * grid.n_qy).reshape(grid.shape) > 0
    return Lookup(tuple(masked.shape), grid.shape, pixels.astype(np.intp), bins, covered)


def bin_mean(values: np.ndarray, lookup: Lookup, valid: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``values`` (one per table pixel, e.g. counts) in each bin, over the pixels where ``valid``
    (None = all); float32 of grid shape, NaN in bins without a valid pixel."""
    bins = lookup.bins
    if valid is not None:
        bins, values = bins[valid], values[valid]
    counts = np.bincount(bins, minlength=lookup.n_bins)
    sums = np.bincount(bins, weights=values, minlength=lookup.n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    return mean.reshape(lookup.grid_shape).astype(np.float32)


def fill_empty(intensity: np.ndarray) -> np.ndarray:
    """``intensity`` (n_qz, n_qy) with its NaN bins filled: linearly along q_z between the nearest
    non-empty bins below and above in the same column (module gaps, a beam stop), and bins still
    empty after that (at the grid's edges, whole empty columns) from the nearest non-empty bin."""
    empty = np.isnan(intensity)
    if not empty.any() or empty.all():
        return intensity
    n = intensity.shape[0]
    rows = np.broadcast_to(np.arange(n)[:, np.newaxis], intensity.shape)
    below = np.maximum.accumulate(np.where(empty, -1, rows), axis=0)
    above = np.minimum.accumulate(np.where(empty, n, rows)[::-1], axis=0)[::-1]
    inner = empty & (below >= 0) & (above < n)
    low = np.take_along_axis(intensity, np.clip(below, 0, n - 1), axis=0)
    high = np.take_along_axis(intensity, np.clip(above, 0, n - 1), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = (rows - below) / (above - below)
    filled = np.where(inner, low + weight * (high - low), intensity).astype(intensity.dtype)
    still = np.isnan(filled)
    if still.any():
        nearest = ndimage.distance_transform_edt(still, return_distances=False, return_indices=True)
        filled = filled[tuple(nearest)]
    return filled
