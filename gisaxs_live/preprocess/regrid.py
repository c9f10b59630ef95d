"""Detector pixels → bins of the canonical (q_z, q_y) grid: a lookup table built once per detector shape,
then per frame one gather (pixels in bin order) and one ``np.add.reduceat`` over the bins' runs: the
table is a CSR sparse operator pixels → bins with unit weights (``starts`` its row pointers, ``pixels``
its column indices), applied without building the weights. Per-frame masking takes the few invalid
pixels out of the sums and counts afterwards, so the common case touches every pixel once.

A pixel goes to the bin holding (|q_y|, q_z): both halves of the detector average into the same bins
(the pattern is mirror-symmetric in q_y). Within a bin the table holds the q_y < 0 pixels first, then the
q_y ≥ 0 ones (each run a "half"): the sums are taken per half and added per bin, so that the two halves'
totals come at no extra pass over the pixels (``preprocess.mirror`` compares them). Pixels below the
sample horizon (α_f < 0), outside the grid or statically masked are left out of the table. Bins are
numbered row-major over ``grid.shape``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .qgrid import QGrid
from .geometry import PixelQ


@dataclass(frozen=True)
class Lookup:
    """Pixel → bin table of one detector shape (build it with ``table``): ``pixels`` (flat indices) of the
    usable pixels sorted by bin, within a bin by half (q_y < 0 first) and ascending within a half; ``bins``,
    the bin of each; ``counts`` (flat, per bin): how many usable pixels it has; ``occupied``: the bins with
    any, and ``starts``: where each one's run of pixels starts. Per half-run (a bin's pixels on one side of
    q_y = 0; only non-empty ones): ``half_starts``, where it starts, ``half_keys``, 2 × its bin + its side
    (0: q_y < 0, 1: q_y ≥ 0), ``half_counts``, its pixels; per occupied bin, ``first_half``, its first
    half-run, and ``second_half``, its second one (the number of half-runs where it has one only)."""

    detector_shape: tuple[int, int]
    grid_shape: tuple[int, int]
    pixels: np.ndarray
    bins: np.ndarray
    counts: np.ndarray
    occupied: np.ndarray
    starts: np.ndarray
    half_starts: np.ndarray
    half_keys: np.ndarray
    half_counts: np.ndarray
    first_half: np.ndarray
    second_half: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """(grid.shape, bool): bins with a usable pixel."""
        return (self.counts > 0).reshape(self.grid_shape)

    @property
    def n_bins(self) -> int:
        return self.grid_shape[0] * self.grid_shape[1]


@dataclass
class BinTotals:
    """What ``bin_sums`` adds up, changed in place by ``replace_values``: per bin (flat), ``sums`` (float64)
    and ``counts`` of the valid pixels; per occupied bin, ``maxima``, the largest value (int32; None where
    ``bin_sums`` did not take them); per half-run of the table, ``half_sums`` (float64) and ``half_counts``."""

    sums: np.ndarray
    counts: np.ndarray
    maxima: np.ndarray | None
    half_sums: np.ndarray
    half_counts: np.ndarray


def build_lookup(q: PixelQ, masked: np.ndarray, grid: QGrid) -> Lookup:
    """The table for pixel wavevectors ``q`` (nm⁻¹) and static mask ``masked`` (True = masked)."""
    col = np.floor((np.abs(q.qy) - grid.qy_min) * (grid.n_qy / (grid.qy_max - grid.qy_min)))
    row = np.floor((q.qz - grid.qz_min) * (grid.n_qz / (grid.qz_max - grid.qz_min)))
    usable = ((col >= 0) & (col < grid.n_qy) & (row >= 0) & (row < grid.n_qz)
              & (q.alpha_f >= 0.0) & ~masked)
    pixels = np.flatnonzero(usable)
    bins = (row.ravel()[pixels] * grid.n_qy + col.ravel()[pixels]).astype(np.intp)
    return table(tuple(masked.shape), grid.shape, pixels, bins, q.qy.ravel()[pixels] >= 0)


def table(detector_shape: tuple[int, int], grid_shape: tuple[int, int], pixels: np.ndarray, bins: np.ndarray,
          sides: np.ndarray) -> Lookup:
    """The Lookup of the usable ``pixels`` (flat indices, ascending) in ``bins``, on the ``sides`` (bool: q_y ≥ 0)."""
    n_bins = grid_shape[0] * grid_shape[1]
    keys = 2 * bins.astype(np.intp) + sides
    order = np.argsort(keys, kind="stable")
    pixels, bins, keys = pixels[order].astype(np.intp), bins[order].astype(np.intp), keys[order]
    counts = np.bincount(bins, minlength=n_bins)
    occupied = np.flatnonzero(counts)
    per_half = np.bincount(keys, minlength=2 * n_bins)
    half_keys = np.flatnonzero(per_half)
    first = np.searchsorted(half_keys // 2, occupied).astype(np.intp)
    two_sided = per_half[2 * occupied] * per_half[2 * occupied + 1] > 0
    return Lookup(detector_shape, grid_shape, pixels, bins, counts, occupied, run_starts(counts[occupied]),
                  run_starts(per_half[half_keys]), half_keys, per_half[half_keys], first,
                  np.where(two_sided, first + 1, half_keys.size))


def per_bin(half_values: np.ndarray, lookup: Lookup) -> np.ndarray:
    """Per occupied bin, the sum of its half-runs' ``half_values`` (in their type)."""
    padded = np.append(half_values, np.zeros(1, half_values.dtype))
    return padded[lookup.first_half] + padded[lookup.second_half]


def run_starts(lengths: np.ndarray) -> np.ndarray:
    """Where each of consecutive runs of ``lengths`` starts once they are laid end to end."""
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)


def bin_sums(values: np.ndarray, lookup: Lookup, excluded: np.ndarray | None) -> BinTotals:
    """Per bin and per half-run, the sum of ``values`` (one per table pixel, in table order, e.g. counts) and how
    many pixels it has, leaving out those where ``excluded`` (bool per table pixel; None: none); for int32
    ``values`` none of which is negative once those are left out (Pilatus counts), also each occupied bin's
    largest value (else None: ``bin_maxima`` gives it). Sets the excluded values to 0 in place. Integer
    counts are summed exactly, others in float64; everything runs along the table in order (no scattered
    access), once per half-run, then over the half-runs of each bin. Sums and counts take the narrowest type
    that holds them exactly (measured on a Pilatus 1M: int32 sums 0.1 ms instead of 0.5 ms in int64, uint8
    counts of the excluded 0.07 ms instead of 0.45 ms in intp); the largest values, needed for that, serve the
    hot-pixel test too."""
    totals = BinTotals(np.zeros(lookup.n_bins), lookup.counts.copy(), None, np.zeros(lookup.half_keys.size),
                       lookup.half_counts.copy())
    if not lookup.occupied.size:
        return totals
    if excluded is not None:
        np.copyto(values, 0, where=excluded)  # measured 5× faster than np.putmask here
        per_half = _excluded_per_half(excluded, lookup)
        totals.half_counts -= per_half
        totals.counts[lookup.occupied] -= per_bin(per_half, lookup)
    dtype = np.int64 if values.dtype.kind in "iub" else np.float64
    if values.dtype == np.int32:
        totals.maxima, largest = _int32_maxima(values, lookup)
        if totals.maxima is not None and largest * int(lookup.counts.max()) < 2**31:  # no bin's sum overflows int32
            dtype = np.int32
    half_sums = np.add.reduceat(values, lookup.half_starts, dtype=dtype)
    totals.half_sums[:] = half_sums
    totals.sums[lookup.occupied] = per_bin(half_sums, lookup)
    return totals


def bin_maxima(values: np.ndarray, lookup: Lookup) -> np.ndarray:
    """Per occupied bin, the largest of ``values`` (one per table pixel, in table order)."""
    return np.maximum.reduceat(values, lookup.starts)


def _int32_maxima(values: np.ndarray, lookup: Lookup) -> tuple[np.ndarray | None, int]:
    """Per occupied bin, the largest of the int32 ``values`` (None if any value is negative), and the largest
    of all. Taken as uint32, where a negative value is above 2³¹ − 1: one pass answers both."""
    maxima = np.maximum.reduceat(values.view(np.uint32), lookup.starts)
    largest = int(maxima.max())
    return (maxima.view(np.int32), largest) if largest < 2**31 else (None, largest)


def _excluded_per_half(excluded: np.ndarray, lookup: Lookup) -> np.ndarray:
    """How many of each half-run's pixels ``excluded`` (bool, table order) flags: summed as uint8 where no
    bin has more than 255 pixels, else counted by where the flagged positions fall among the runs' starts."""
    if lookup.counts.max() <= np.iinfo(np.uint8).max:
        return np.add.reduceat(excluded.view(np.uint8), lookup.half_starts, dtype=np.uint8)
    return np.diff(np.searchsorted(np.flatnonzero(excluded), np.append(lookup.half_starts, excluded.size)))


def replace_values(values: np.ndarray, lookup: Lookup, totals: BinTotals, positions: np.ndarray,
                   new: np.ndarray) -> None:
    """Give the table positions ``positions`` (not excluded) the values ``new`` in ``values`` and ``totals``, in
    place; where ``new`` is NaN, the pixel is left out instead (value 0)."""
    bins = lookup.bins[positions]
    halves = np.searchsorted(lookup.half_starts, positions, side="right") - 1
    keep = ~np.isnan(new)
    change = np.where(keep, new, 0.0) - values[positions]
    np.add.at(totals.sums, bins, change)
    np.add.at(totals.half_sums, halves, change)
    np.subtract.at(totals.counts, bins[~keep], 1)
    np.subtract.at(totals.half_counts, halves[~keep], 1)
    values[positions] = np.where(keep, new, 0)


def bin_mean(sums: np.ndarray, counts: np.ndarray, lookup: Lookup, min_fraction: float = 0.0) -> np.ndarray:
    """``sums`` / ``counts`` per bin (``BinTotals``), float32 of grid shape. NaN in bins without a
    valid pixel, and in bins with fewer valid pixels than ``min_fraction`` × the median over non-empty
    bins (cut by a mask or detector edge to one or two pixels, such a bin is mostly noise)."""
    enough = counts > 0
    if min_fraction > 0 and enough.any():
        enough &= counts >= min_fraction * np.median(counts[enough])
    mean = np.full(lookup.n_bins, np.nan)
    np.divide(sums, counts, out=mean, where=enough)
    return mean.reshape(lookup.grid_shape).astype(np.float32)


def fill_empty(intensity: np.ndarray) -> np.ndarray:
    """``intensity`` (n_qz, n_qy, NaN where empty, finite elsewhere) with its NaN bins filled along q_z:
    linearly between the nearest non-empty bins below and above in the same column (module gaps, a beam
    stop), or from the nearest one in the column (beyond the detector's or an aperture's edge); then, for
    columns empty throughout (e.g. a masked specular rod), the same along q_y within each row. Which bins
    fill from which, and at what fraction, depends only on where the NaNs are: that plan is kept for the
    last few patterns (a live series repeats one; 0.3 ms a frame saved), the arithmetic is done per call."""
    intensity = np.asarray(intensity)
    empty = np.isnan(intensity)
    if not empty.any():
        return intensity.copy()
    return _filled(intensity, _fill_plan(empty.shape, empty.tobytes()))


def fill_empty_stack(stack: np.ndarray) -> np.ndarray:
    """``fill_empty`` of each image of ``stack`` (n, n_qz, n_qy), planned for all of them at once (the
    training augmentation, where every image has holes of its own): equal to it bit for bit."""
    stack = np.asarray(stack)
    return _filled(stack, _plan(np.isnan(stack)))


def _filled(intensity: np.ndarray, plan: tuple[_LineFill, _LineFill]) -> np.ndarray:
    along_qz, along_qy = plan
    filled = intensity.astype(np.float64)
    along_qz.apply(intensity.ravel(), filled.ravel())
    along_qy.apply(filled.ravel(), filled.ravel())
    return filled.astype(intensity.dtype)


@dataclass(frozen=True)
class _LineFill:
    """Empty bins filled along one axis: the flat bins ``target`` from the flat bins ``low`` and ``high`` on
    either side, ``fraction`` (float64) of the way from ``low``; where only one side has a bin (``both``
    False), both name it."""

    target: np.ndarray
    low: np.ndarray
    high: np.ndarray
    fraction: np.ndarray
    both: np.ndarray

    def apply(self, source: np.ndarray, out: np.ndarray) -> None:
        """Write the fills from the flat ``source`` into the flat float64 ``out``, in ``source``'s type up to the
        difference of the two sides, then float64."""
        low, high = source[self.low], source[self.high]
        out[self.target] = np.where(self.both, low + self.fraction * (high - low), low)


@functools.lru_cache(maxsize=8)
def _fill_plan(shape: tuple[int, int], empty: bytes) -> tuple[_LineFill, _LineFill]:
    """``_plan`` of one (n_qz, n_qy) grid whose empty bins are ``empty`` (bool, C order, as bytes)."""
    return _plan(np.frombuffer(empty, dtype=bool).reshape(1, *shape))


def _plan(empty_bins: np.ndarray) -> tuple[_LineFill, _LineFill]:
    """How ``fill_empty`` fills a stack of (n_qz, n_qy) grids whose empty bins are ``empty_bins`` (n, n_qz,
    n_qy; flat bins count through the stack): along q_z, then along q_y in the columns empty throughout."""
    n, rows, cols = empty_bins.shape
    along_qz, dead = _line_fill(empty_bins.transpose(0, 2, 1).reshape(n * cols, rows),
                                lambda z, line: ((line // cols) * rows + z) * cols + line % cols)
    dead_bins = np.broadcast_to(dead.reshape(n, 1, cols), empty_bins.shape)
    along_qy, _ = _line_fill(dead_bins.reshape(n * rows, cols), lambda y, line: line * cols + y)
    return along_qz, along_qy


def _line_fill(empty: np.ndarray, flat: Callable[[np.ndarray, np.ndarray], np.ndarray]
               ) -> tuple[_LineFill, np.ndarray]:
    """The fill of the True entries of ``empty`` (M lines of L entries, M × L) from each line's nearest False
    entries on both sides (else on the one side that has one), ``flat(position, line)`` the flat bin of an
    entry; and which lines have no False entry (M, bool). Works on the runs of empty entries, so its cost
    follows their number."""
    n_lines, n = empty.shape
    line, position = np.divmod(np.flatnonzero(empty), n)
    new_run = np.ones(line.size, dtype=bool)
    new_run[1:] = (np.diff(position) != 1) | (np.diff(line) != 0)
    run = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    first, last = position[starts], position[np.append(starts[1:], line.size)[:starts.size] - 1]
    dead = np.zeros(n_lines, dtype=bool)
    dead[line[starts[(first == 0) & (last == n - 1)]]] = True
    has_left, has_right = first[run] > 0, last[run] < n - 1
    fills = has_left | has_right
    position, line, has_left, has_right = position[fills], line[fills], has_left[fills], has_right[fills]
    low, high = first[run[fills]] - 1, last[run[fills]] + 1
    both = has_left & has_right
    low, high = np.where(has_left, low, high), np.where(has_right, high, low)
    fraction = np.where(both, (position - low) / np.where(both, high - low, 1), 0.0)
    return _LineFill(flat(position, line), flat(low, line), flat(high, line), fraction, both), dead
