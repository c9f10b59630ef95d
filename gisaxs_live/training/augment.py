"""Make clean simulated patterns look like regridded detector frames.

Applied to the float intensity on the canonical grid, then scaled with the same ``to_levels`` as live
frames. Per image, independently (the instrument effects are off in ``Realism()``, which ``evaluate`` uses
for its noisy test set; ``transfer_realism`` turns them on for training):

* resolution smearing (beam divergence, pixel size, energy spread): a Gaussian blur with σ drawn uniformly
  in [0, ``smear_bins``] bins separately along q_y and q_z (mirrored at q_y = 0);
* diffuse background with a Yoneda band: with probability ``p_diffuse``, ``diffuse`` × peak (log-uniform)
  times a band along q_z centred within ±2 rows of ``yoneda_row`` (the substrate's critical exit angle),
  1–3 rows wide, with a power-law tail above it, decaying along q_y as (1 + (q_y/ξ)²)^−h, ξ 2–30 bins,
  h 0.75–1.5;
* specular-rod and beam-stop leakage: with probability ``p_rod``, a bright column at q_y = 0 (the first
  column, sometimes also the second at a third of it) of ``rod`` × peak (log-uniform), falling along q_z as
  (1 + row/r₀)^−p, r₀ 2–20 rows, p 1–3; with probability ``p_leak`` a spot of ``rod`` × peak at the lowest
  q, 1–3 bins wide;
* q calibration: q_y and q_z (above the horizon) stretched by a factor within ±``q_scale``, and the direct
  beam displaced by up to ``beam_shift_bins`` bins in each direction (bilinear resampling, mirrored at q_y = 0);
* counting statistics: the brightest bin expects ``peak_counts`` photons per pixel (log-uniform over
  ``peak_counts``), a flat background of ``background`` × peak (log-uniform) is added, and each bin is
  the mean of ``pixels_per_bin`` Poisson-distributed pixels;
* masks: with probability ``p_mask`` a few horizontal and vertical bands (detector module gaps) and a
  beam stop over the lowest q_y columns and q_z rows become empty bins, filled by ``fill_empty`` as live
  (``fill_empty_stack``, the same for a stack of images).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from ..preprocess.regrid import fill_empty_stack
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
    smear_bins: float = 0.0
    p_diffuse: float = 0.0
    diffuse: tuple[float, float] = (1e-4, 3e-2)
    yoneda_row: float = 0.0
    p_rod: float = 0.0
    p_leak: float = 0.0
    rod: tuple[float, float] = (1e-3, 0.3)


def transfer_realism(yoneda_row: float) -> Realism:
    """The training augmentation: ``Realism()`` plus every instrument effect, for a grid whose substrate
    critical exit angle lies at row ``yoneda_row`` (see ``critical_row``)."""
    return Realism(smear_bins=1.5, p_diffuse=0.5, yoneda_row=yoneda_row, p_rod=0.3, p_leak=0.2)


def critical_row(qz_min: float, qz_step: float, k: float, alpha_i: float, delta: float) -> float:
    """Row (fractional index of bin centres) of α_f = α_c = √(2δ) on a grid starting at ``qz_min`` with
    rows ``qz_step`` apart (nm⁻¹), at wave number ``k`` (nm⁻¹) and incidence ``alpha_i`` (rad)."""
    qz = k * (np.sin(alpha_i) + np.sin(np.sqrt(2.0 * delta)))
    return float((qz - qz_min) / qz_step - 0.5)


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    lo, hi = np.log(bounds)
    return np.exp(rng.uniform(lo, hi, n))


def recalibrate(intensity: np.ndarray, rng: np.random.Generator, realism: Realism,
                block: int = 256) -> np.ndarray:
    """Resample each (rows, cols) image on a stretched and shifted grid (bilinear, mirrored at column −0.5),
    ``block`` images at a time: scipy's ``map_coordinates(order=1, mode="nearest")`` bit for bit, its four
    products summed in its order in float64, but on whole blocks rather than one image per call."""
    n, rows, cols = intensity.shape
    shifts = np.empty((n, 4))
    for draws in shifts:
        draws[:2] = 1.0 + rng.uniform(-realism.q_scale, realism.q_scale, 2)  # stretch of q_z, q_y
        draws[2:] = rng.uniform(-realism.beam_shift_bins, realism.beam_shift_bins, 2)  # shift in rows, cols
    src_rows = (np.arange(rows) + 0.5) * shifts[:, :1] - 0.5 + shifts[:, 2:3]
    src_cols = np.abs((np.arange(cols) + 0.5) * shifts[:, 1:2] + shifts[:, 3:4]) - 0.5  # |q_y|: the other half
    row_taps, col_taps = _linear_taps(src_rows, rows), _linear_taps(src_cols, cols)
    flat = np.ascontiguousarray(intensity).reshape(-1)
    out = np.empty_like(intensity)
    for first in range(0, n, block):
        part = slice(first, min(n, first + block))
        row_starts = (np.arange(first, part.stop) * rows)[:, None]
        total = None
        for row, row_weight in row_taps:
            at_row = ((row_starts + row[part]) * cols)[:, :, None]
            for col, col_weight in col_taps:
                term = flat[at_row + col[part, None, :]].astype(np.float64)
                term *= row_weight[part, :, None]
                term *= col_weight[part, None, :]
                total = term if total is None else np.add(total, term, out=total)
        out[part] = total
    return out


def _linear_taps(source: np.ndarray, size: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The lower and the upper neighbour of each ``source`` coordinate on an axis of ``size`` entries, each
    with its linear weight: ((index, weight), (index, weight)), coordinates clamped to the axis first."""
    x = np.clip(source, 0.0, size - 1.0)
    lower = np.floor(x)
    fraction = x - lower
    lower = lower.astype(np.intp)
    return (lower, 1.0 - fraction), (np.minimum(lower + 1, size - 1), fraction)


def smear(intensity: np.ndarray, rng: np.random.Generator, realism: Realism) -> np.ndarray:
    """Gaussian resolution blur, σ uniform in [0, ``smear_bins``] bins along q_z and q_y, per image."""
    out = np.empty_like(intensity)
    for i, (sz, sy) in enumerate(rng.uniform(0.0, realism.smear_bins, (len(intensity), 2))):
        out[i] = gaussian_filter(intensity[i], (sz, sy), mode=("nearest", "reflect"), truncate=3.0)
    return out


def instrument_background(intensity: np.ndarray, rng: np.random.Generator, realism: Realism) -> np.ndarray:
    """The diffuse background with its Yoneda band, the specular rod and beam-stop leakage (see module
    docstring), added to a copy."""
    out = np.array(intensity, dtype=np.float32)
    n, rows, cols = out.shape
    peak = out.reshape(n, -1).max(axis=1)
    r = np.arange(rows, dtype=np.float32)[:, None]
    c = np.arange(cols, dtype=np.float32)[None, :]
    for i in np.nonzero(rng.random(n) < realism.p_diffuse)[0]:
        centre = realism.yoneda_row + rng.uniform(-2.0, 2.0)
        width = rng.uniform(1.0, 3.0)
        band = np.where(r < centre, np.exp(-0.5 * ((r - centre) / width) ** 2), (1.0 + (r - centre) / width) ** -2.0)
        inplane = (1.0 + (c / rng.uniform(2.0, 30.0)) ** 2) ** -rng.uniform(0.75, 1.5)
        out[i] += (peak[i] * _log_uniform(rng, realism.diffuse, 1)[0]) * band * inplane
    for i in np.nonzero(rng.random(n) < realism.p_rod)[0]:
        profile = (1.0 + r[:, 0] / rng.uniform(2.0, 20.0)) ** -rng.uniform(1.0, 3.0)
        level = peak[i] * _log_uniform(rng, realism.rod, 1)[0]
        out[i, :, 0] += level * profile
        if rng.random() < 0.5:
            out[i, :, 1] += level / 3.0 * profile
    for i in np.nonzero(rng.random(n) < realism.p_leak)[0]:
        sr, sc = rng.uniform(1.0, 3.0, 2)
        out[i] += (peak[i] * _log_uniform(rng, realism.rod, 1)[0]) * np.exp(-0.5 * ((r / sr) ** 2 + (c / sc) ** 2))
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


#: Above this mean a Poisson count is drawn from its normal approximation, rounded (variance off by the
#: rounding's 1/12, < 0.1 %; the skewness 1/√mean, ≤ 0.1, is dropped: a fraction of one of the 256 levels).
#: 100 rather than 1000 makes ``count`` 2.7x as fast on simulated patterns.
NORMAL_ABOVE = 100.0


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
    noisy = smear(intensity, rng, realism) if realism.smear_bins else intensity
    if realism.p_diffuse or realism.p_rod or realism.p_leak:
        noisy = instrument_background(noisy, rng, realism)
    noisy = recalibrate(noisy, rng, realism) if realism.q_scale or realism.beam_shift_bins else noisy
    noisy = mask(count(noisy, rng, realism), rng, realism)
    holes = np.isnan(noisy).any(axis=(1, 2))
    noisy[holes] = fill_empty_stack(noisy[holes])
    clean = rng.random(len(intensity)) < realism.p_clean
    noisy[clean] = intensity[clean]
    return to_levels(noisy, decades)


def set_realism(attrs: dict, grid) -> Realism:
    """The training augmentation of a randomised set (``transfer_realism`` around the set's experiment, from its
    HDF5 attributes ``n_substrate``, ``wavelength_nm`` and ``incidence_angle_deg`` and its q-grid)."""
    import json

    n_substrate = json.loads(attrs["n_substrate"])
    k = 2.0 * np.pi / float(attrs["wavelength_nm"])
    return transfer_realism(critical_row(grid.qz_min, (grid.qz_max - grid.qz_min) / grid.n_qz, k,
                                         np.radians(float(attrs["incidence_angle_deg"])), 1.0 - n_substrate[0]))


def held_out_images(patterns, indices: np.ndarray, seed: int, realism: Realism, part: int = 4096) -> np.ndarray:
    """The fixed detector-like uint8 images of a set's patterns at ``indices`` (its held-out split) that training
    validates on, made in parts of ``part`` patterns with the generator ``[seed, 1]``; ``patterns`` is a
    ``simulator.shards.PatternSet``."""
    rng = np.random.default_rng([seed, 1])
    decades = float(patterns.attrs["scale_decades"])
    return np.concatenate([realistic_images(patterns.intensity(indices[i:i + part]), rng, decades, realism)
                           for i in range(0, len(indices), part)])
