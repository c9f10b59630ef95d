"""Isolated hot pixels: one pixel far above its neighbours, which would otherwise set its bin's mean.

A bin's mean follows a single hot pixel (one pixel of 10⁶ counts among 90 of 10 raises it 1000-fold),
so outliers are found per frame in two cheap steps, touching every pixel only once:
  1. suspect bins: the brightest pixel of a bin (one ``np.maximum.reduceat`` over the table) above
     ``SUSPECT_RATIO`` × the mean of the bin's other pixels + ``SUSPECT_COUNTS``;
  2. in those bins only, each pixel above that level is hot if it is a spike on each of the 4 lines
     through it (row, column, two diagonals) and above ``ratio`` counts. A spike on a line is brighter
     than both neighbours there and than ``ratio`` × the dimmer one; where one neighbour is off the
     detector or invalid (a module gap), brighter than ``ONE_SIDED_RATIO`` × the other; where both
     are, it is a spike. A pixel found hot no longer counts as a neighbour; the others are judged again.
A genuine feature continues through a pixel in some direction: a specular rod, even 1 pixel wide,
along the rod (also where it meets a module gap); a Bragg-like peak a few pixels wide, in every
direction at its top; its flanks lie between a brighter and a dimmer neighbour. Such pixels are kept.
A hot pixel is a spike in every direction, even beside a bright rod; of a hot pair, the brighter is
found first, then the other. A feature narrower than a pixel cannot be told from a hot pixel.
A hot pixel is replaced by the median of its valid neighbours rather than left out: its bin keeps its
pixel count (a bin cut by a module gap does not fall below ``MIN_BIN_PIXEL_FRACTION``), and on a
peak or rod the pixel it covers keeps most of its weight. Replacing one lowers its bin's mean, which
can reveal a second one in the same bin: the bins that had one are examined again, up to ``PASSES``
times.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .regrid import BinTotals, Lookup, replace_values, run_starts

SUSPECT_RATIO = 4.0
SUSPECT_COUNTS = 10.0
ONE_SIDED_RATIO = 2.0
PASSES = 3
#: (row, column) offsets of the 8 neighbours; the one opposite neighbour i is 7 − i
_NEIGHBOURS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])


def replace_hot_pixels(values: np.ndarray, lookup: Lookup, totals: BinTotals, maxima: np.ndarray,
                       data: np.ndarray, valid: Callable[[np.ndarray], np.ndarray], ratio: float) -> int:
    """Find the isolated hot pixels among the table's ``values`` (counts, table order, invalid ones 0) of
    the 2-D frame ``data`` and replace them in ``values`` and ``totals`` (``regrid.bin_sums``), in place, by
    the median of their valid neighbours (left out where they have none); ``maxima``: each occupied bin's
    largest value (``regrid.bin_sums`` or ``bin_maxima``); ``valid(counts)`` tells usable
    neighbour values. Returns how many were replaced."""
    if not lookup.occupied.size:
        return 0
    bins = lookup.occupied
    dropped = np.empty(0, dtype=np.intp)  # flat detector indices
    for _ in range(PASSES):
        suspect, level = _suspects(bins, maxima, totals.sums, totals.counts)
        if not suspect.size:
            break
        positions, run, _ = _runs(lookup, suspect)
        candidates = positions[values[positions] > level[run]]
        hot = candidates[_isolated(data, lookup.pixels[candidates], values[candidates], valid, ratio, dropped)]
        if not hot.size:
            break
        dropped = np.concatenate([dropped, lookup.pixels[hot]])
        replace_values(values, lookup, totals, hot, _median_of_neighbours(data, lookup.pixels[hot], valid, dropped))
        bins = np.unique(lookup.bins[hot])
        positions, _, starts = _runs(lookup, bins)
        maxima = np.maximum.reduceat(values[positions], starts)
    return dropped.size


def _suspects(bins: np.ndarray, maxima: np.ndarray, sums: np.ndarray,
              counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Among ``bins`` (with their brightest values ``maxima``), those whose brightest pixel stands out,
    and for each the level (counts) above which its pixels are candidates."""
    n = counts[bins]
    others = (sums[bins] - maxima) / np.maximum(n - 1, 1)
    level = SUSPECT_RATIO * others + SUSPECT_COUNTS
    stands_out = (n >= 2) & (maxima > level)
    return bins[stands_out], level[stands_out]


def _runs(lookup: Lookup, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The table positions of all pixels of ``bins`` (sorted, occupied), the index into ``bins`` of each, and where
    each bin's run starts among them."""
    lengths = lookup.counts[bins]
    first = np.searchsorted(lookup.occupied, bins)
    run = np.repeat(np.arange(bins.size), lengths)
    starts = run_starts(lengths)
    return lookup.starts[first][run] + np.arange(run.size) - starts[run], run, starts


def _isolated(data: np.ndarray, pixels: np.ndarray, values: np.ndarray,
              valid: Callable[[np.ndarray], np.ndarray], ratio: float, dropped: np.ndarray) -> np.ndarray:
    """Per flat detector index in ``pixels`` (with counts ``values``): a spike on every line through it,
    and above ``ratio`` counts (see the module's notes); the pixels ``dropped`` (flat indices) before
    count as invalid neighbours. Brighter neighbours are judged alongside (a hot pixel beside one
    outside the table, e.g. in a masked area, is found once that one is)."""
    around, flat = _neighbours(data, pixels, valid, dropped)
    brighter = np.unique(flat[around > values[:, np.newaxis]])
    extra = brighter[~np.isin(brighter, pixels, kind="table")]
    if extra.size:
        pixels = np.concatenate([pixels, extra])
        values = np.concatenate([values, data.ravel()[extra]])
        more, more_flat = _neighbours(data, extra, valid, dropped)
        around, flat = np.concatenate([around, more]), np.concatenate([flat, more_flat])
    value = values[:, np.newaxis].astype(np.float64)
    hot = np.zeros(pixels.size, dtype=bool)
    while True:
        first, second = around[:, :4], around[:, :3:-1]
        low, high = np.fmin(first, second), np.fmax(first, second)  # one missing: both the other
        two_sided = ~np.isnan(first) & ~np.isnan(second)
        spike = np.where(two_sided, (value > high) & (value > ratio * low),
                         np.isnan(high) | (value > ONE_SIDED_RATIO * high))
        found = spike.all(axis=1) & (values > ratio)
        if np.array_equal(found, hot):
            return hot[:pixels.size - extra.size]
        hot = found
        around[np.isin(flat, pixels[hot], kind="table")] = np.nan


def _median_of_neighbours(data: np.ndarray, pixels: np.ndarray, valid: Callable[[np.ndarray], np.ndarray],
                          dropped: np.ndarray) -> np.ndarray:
    """Median counts of the valid neighbours of each flat index in ``pixels``, not counting ``dropped``
    ones; NaN where none is."""
    around, _ = _neighbours(data, pixels, valid, dropped)
    around = np.sort(around, axis=1)  # NaN last
    n = np.count_nonzero(~np.isnan(around), axis=1)
    rows = np.arange(pixels.size)
    low, high = around[rows, np.maximum(n - 1, 0) // 2], around[rows, np.maximum(n, 1) // 2]
    return np.where(n > 0, (low + high) / 2, np.nan)


def _neighbours(data: np.ndarray, pixels: np.ndarray, valid: Callable[[np.ndarray], np.ndarray],
                dropped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 8 neighbours (``_NEIGHBOURS`` order) of each flat index in ``pixels``: counts (float64, NaN
    where off the detector, invalid or ``dropped``) and flat indices."""
    n_rows, n_cols = data.shape
    rows = pixels[:, np.newaxis] // n_cols + _NEIGHBOURS[:, 0]
    cols = pixels[:, np.newaxis] % n_cols + _NEIGHBOURS[:, 1]
    inside = (rows >= 0) & (rows < n_rows) & (cols >= 0) & (cols < n_cols)
    rows, cols = np.clip(rows, 0, n_rows - 1), np.clip(cols, 0, n_cols - 1)
    around, flat = data[rows, cols], rows * n_cols + cols
    return np.where(inside & valid(around) & ~np.isin(flat, dropped, kind="table"), around, np.nan), flat
