"""Make clean simulated patterns look like regridded detector frames.

Applied to the float intensity on the canonical grid, then scaled with the same ``to_levels`` as live
frames. Per image, independently:

* q calibration: q_y and q_z (above the horizon) stretched by a factor within ±``q_scale``, and the direct
  beam displaced by up to ``beam_shift_bins`` bins in each direction (bilinear resampling, mirrored at q_y = 0);
* counting statistics: the brightest bin expects ``peak_counts`` photons per pixel (log-uniform over
  ``peak_counts``), a flat background of ``background`` × peak (log-uniform) is added, and each bin is
  the mean of ``pixels_per_bin`` Poisson-distributed pixels;
* masks: with probability ``p_mask`` a few horizontal and vertical bands (detector module gaps) and a
  beam stop over the lowest q_y columns and q_z rows become empty bins, filled by ``fill_empty`` as live.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates

from ..preprocess.regrid import fill_empty
from ..preprocess.scale import to_levels


@dataclass(frozen=True)
class Realism:
    """Ranges of the detector effects (see module docstring)."""

    q_scale: float = 0.03
    beam_shift_bins: float = 1.0
    peak_counts: tuple[float, float] = (30.0, 1e6)
    background: tuple[float, float] = (1e-6, 1e-2)
    pixels_per_bin: tuple[int, int] = (10, 80)
    p_mask: float = 0.7
    p_clean: float = 0.1




def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    lo, hi = np.log(bounds)
    return np.exp(rng.uniform(lo, hi, n))


def recalibrate(intensity: np.ndarray, rng: np.random.Generator, realism: Realism) -> np.ndarray:
    """Resample each (rows, cols) image on a stretched and shifted grid (bilinear, mirrored at column −0.5)."""
    n, rows, cols = intensity.shape
    out = np.empty_like(intensity)
    r = np.arange(rows, dtype=float)[:, None]
    c = np.arange(cols, dtype=float)[None, :]
    for i in range(n):
        sz, sy = 1.0 + rng.uniform(-realism.q_scale, realism.q_scale, 2)
        dz, dy = rng.uniform(-realism.beam_shift_bins, realism.beam_shift_bins, 2)
        src_r = np.broadcast_to((r + 0.5) * sz - 0.5 + dz, (rows, cols))
        src_c = np.abs((c + 0.5) * sy + dy) - 0.5  # |q_y|: the detector's other half mirrors in
        out[i] = map_coordinates(intensity[i], [src_r, np.broadcast_to(src_c, (rows, cols))], order=1,
                                 mode="nearest")
    return out


def count(intensity: np.ndarray, rng: np.random.Generator, realism: Realism) -> np.ndarray:
    """Counting noise and background: bin means of Poisson pixels (counts per pixel)."""
    n = intensity.shape[0]
    peak = intensity.reshape(n, -1).max(axis=1)
    peak = np.where(peak > 0, peak, 1.0)[:, None, None]
    counts = _log_uniform(rng, realism.peak_counts, n)[:, None, None]
    background = _log_uniform(rng, realism.background, n)[:, None, None] * counts
    pixels = rng.integers(realism.pixels_per_bin[0], realism.pixels_per_bin[1] + 1, n)[:, None, None]
    expected = intensity * (counts * pixels / peak).astype(np.float32)  # float32: half the memory traffic
    expected += (background * pixels).astype(np.float32)
    return poisson(expected, rng) / pixels.astype(np.float32)


#: Above this mean a Poisson count is drawn from its normal approximation (error in the variance < 1 %).
NORMAL_ABOVE = 1000.0


def poisson(expected: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts of mean ``expected`` (float32); large means via the normal approximation, which is
    several times faster and indistinguishable after the log scale."""
    expected = np.asarray(expected)
    large = expected > NORMAL_ABOVE
    out = np.empty(expected.shape, dtype=np.float32)
    out[~large] = rng.poisson(expected[~large])
    mean = expected[large]
    out[large] = np.rint(mean + np.sqrt(mean) * rng.standard_normal(mean.size, dtype=np.float32))
    return out


def mask(intensity: np.ndarray, rng: np.random.Generator, realism: Realism) -> np.ndarray:
    """Empty (NaN) bands like module gaps and a beam stop near q = 0, on a copy."""
    out = intensity.astype(np.float32, copy=True)
    n, rows, cols = out.shape
    for i in np.nonzero(rng.random(n) < realism.p_mask)[0]:
        for _ in range(rng.integers(0, 3)):
            start = rng.integers(0, rows)
            out[i, start:start + rng.integers(1, 4), :] = np.nan
        for _ in range(rng.integers(0, 3)):
            start = rng.integers(0, cols)
            out[i, :, start:start + rng.integers(1, 3)] = np.nan
        if rng.random() < 0.7:
            out[i, : rng.integers(1, rows // 6), : rng.integers(1, cols // 12)] = np.nan
    return out


def realistic_images(intensity: np.ndarray, rng: np.random.Generator, decades: float,
                     realism: Realism = Realism()) -> np.ndarray:
    """uint8 model inputs (N, rows, cols) from clean intensities (N, rows, cols); a fraction ``p_clean``
    of them are scaled without any detector effect."""
    intensity = np.asarray(intensity, dtype=np.float32)
    noisy = recalibrate(intensity, rng, realism) if realism.q_scale or realism.beam_shift_bins else intensity
    noisy = mask(count(noisy, rng, realism), rng, realism)
    for i in np.nonzero(np.isnan(noisy).any(axis=(1, 2)))[0]:
        noisy[i] = fill_empty(noisy[i])
    clean = rng.random(len(intensity)) < realism.p_clean
    noisy[clean] = intensity[clean]
    return to_levels(noisy, decades)
