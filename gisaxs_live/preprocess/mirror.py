"""Does the configured geometry put q_y = 0 on the pattern's mirror axis? A per-frame check of the direct
beam's column.

A GISAXS pattern of islands without a preferred in-plane direction (every class of the model card) is
mirror-symmetric about the plane of incidence, q_y = 0. The regrid folds the two detector halves into the
same |q_y| bins (``regrid``); when the geometry's direct-beam column is wrong, pixels at different |q_y|
share a bin and the halves disagree. Per bin with pixels on both sides, with mean counts m₋ and m₊ over
n₋ and n₊ valid pixels and m̄ = (m₋ + m₊)/2, the relative difference r = (m₊ − m₋)/m̄ has the Poisson
variance σ² = (1/n₋ + 1/n₊)/m̄ when the halves agree. The frame's asymmetry is the median, over the bins
with σ ≤ ``MAX_NOISE``, of √max(0, r² − σ²): the typical relative difference of the two halves beyond
counting noise (0 for a symmetric pattern, whatever its counts). With fewer than ``MIN_BINS`` such bins
(few counts, or a detector that sees one side only) there is no verdict (None).

Measured (``benchmarks/bench_mirror.py``): 0.03-0.04 on the real DESY and GALAXI frames with their
configs, 0 on BornAgain's frames; a direct-beam column 10 px off gives 0.21-0.26 on the DESY frames. A
sample that is not mirror-symmetric (a grating at an azimuth, a tilted sample) is asymmetric too: set
``geometry.max_asymmetry`` to null there.
"""

from __future__ import annotations

import numpy as np

from .regrid import BinTotals, Lookup

MAX_NOISE = 0.07  # σ of r above which a bin says nothing
MIN_BINS = 50


def asymmetry(lookup: Lookup, totals: BinTotals) -> float | None:
    """The frame's left–right asymmetry beyond counting noise (see the module's notes), from the half-run sums
    of ``totals`` (counts); None without enough bins to tell."""
    left, right = lookup.first_half, lookup.second_half
    two_sided = right < lookup.half_keys.size
    left, right = left[two_sided], right[two_sided]
    n_left, n_right = totals.half_counts[left], totals.half_counts[right]
    with np.errstate(divide="ignore", invalid="ignore"):
        m_left, m_right = totals.half_sums[left] / n_left, totals.half_sums[right] / n_right
        mean = 0.5 * (m_left + m_right)
        variance = (1.0 / n_left + 1.0 / n_right) / mean
        told = variance <= MAX_NOISE**2  # False where a half has no valid pixel left (NaN)
        if np.count_nonzero(told) < MIN_BINS:
            return None
        r = (m_right[told] - m_left[told]) / mean[told]
    return float(np.median(np.sqrt(np.maximum(0.0, r**2 - variance[told]))))


def lopsided(value: float | None, limit: float | None) -> bool:
    """Whether an ``asymmetry`` ``value`` (None: no verdict) is above ``limit`` (``geometry.max_asymmetry``;
    None: no check): the frame is ``unknown``."""
    return value is not None and limit is not None and value > limit


def mirror_message(value: float, limit: float) -> str:
    """The row's message for a frame whose asymmetry ``value`` is above ``limit`` (at most 3 dashboard lines)."""
    return (f"the two detector halves differ (asymmetry {value:.2f} > {limit:g}): geometry.direct_beam_px off in "
            f"its column, or a sample not mirror-symmetric")
