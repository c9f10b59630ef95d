"""One detector frame → the model's input image: mask, regrid onto the canonical grid, fill, scale.

Unusable frames raise ``FrameError`` (one line naming the frame and the cause): data not 2-D or not
numeric, more than ``MAX_NONFINITE_FRACTION`` of the pixels NaN / inf (fewer are masked), a mask of
another shape, a detector shape the geometry cannot use (a PONI detector of another shape, a mask
file of another shape) or that covers less than ``MIN_COVERED_FRACTION`` of the grid. A frame without
usable signal is reported as ``no_signal`` rather than forced into a class; it is one where, after
masking,
  - fewer than ``MIN_COVERED_FRACTION`` of the grid's bins hold a valid pixel (e.g. all masked), or
  - fewer than ``MIN_POSITIVE_FRACTION`` of those bins have counts (closed shutter, beam off), or
  - the brightest bin is less than ``MIN_CONTRAST`` times the median bin (a flat, featureless frame;
    a GISAXS pattern spans several decades).
Per frame, negative counts, counts above the cutoff (``mask.max_count``, else the one the file's header
gives: ``Frame.count_cutoff``), NaN / inf and the frame's own mask are left out of the bins, and
isolated hot pixels are replaced by their neighbours' median (``hotpixels``; 0.1 % of them at random
positions leave the real DESY frames' top-1 class unchanged, tests/test_real_frames.py).
A bin holding fewer valid pixels than ``MIN_BIN_PIXEL_FRACTION`` × the median bin counts as empty.
Empty bins (masked, module gaps, beam stop, beyond the detector) are filled before scaling, mostly by
linear interpolation along q_z (``regrid.fill_empty``): training images have no holes, and on a
synthetic Pilatus 1M frame of a simulated pattern (tests/test_preprocess.py, without Poisson noise)
this fill came closest to the simulated image in the bins emptied by the module gaps: mean error 1.4
grey levels, against 8.0 for the nearest bin, 3.1 for 2-D linear interpolation of log10 and 75 for
leaving them at level 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..config import Config, ConfigError
from ..frame import Frame, FrameError
from .qgrid import QGrid
from .geometry import DetectorGeometry
from .hotpixels import replace_hot_pixels
from .mask import invalid_counts, static_mask, valid_counts
from .mirror import asymmetry
from .regrid import Lookup, bin_maxima, bin_mean, bin_sums, build_lookup, fill_empty
from .scale import to_levels

MIN_COVERED_FRACTION = 0.25
MIN_POSITIVE_FRACTION = 0.10
MIN_CONTRAST = 10.0
MAX_NONFINITE_FRACTION = 0.5
#: pixels of a frame at most (a Rayonix MX340-HS has 59 million, an EIGER2 16M 18 million): building the pixel → bin
#: table takes about 75 bytes a pixel, 1.9 GB for 25 million, and a frame of 15,000 × 15,000 (a damaged header)
#: took 18.6 GB
MAX_FRAME_PIXELS = 1 << 26
MIN_BIN_PIXEL_FRACTION = 0.1


@dataclass(frozen=True)
class Prepared:
    """A preprocessed frame: ``image`` (uint8, grid shape; None unless ok), ``intensity`` (float32 mean
    counts per bin, NaN where empty), ``status``, a one-line ``message`` and the ``asymmetry`` of its two
    halves (``mirror.asymmetry``; None: too few counts to tell)."""

    image: np.ndarray | None
    intensity: np.ndarray | None
    status: Literal["ok", "no_signal"]
    message: str
    asymmetry: float | None = None


def coverage_problem(lookup: Lookup) -> str:
    """Why frames of ``lookup``'s detector cannot be classified with this geometry and mask: they cover too little
    of the model grid (below ``MIN_COVERED_FRACTION``); '' where they cover enough."""
    rows, columns = lookup.detector_shape
    coverage = lookup.covered.mean()
    if coverage == 0:
        return f"a {rows}×{columns} frame covers no bin of the model grid with this geometry and mask"
    if coverage < MIN_COVERED_FRACTION:
        return (f"a {rows}×{columns} frame covers only {coverage:.0%} of the model grid (needs "
                f"{MIN_COVERED_FRACTION:.0%})")
    return ""


class FramePreprocessor:
    """Frames of the configured detector → images on ``grid``, scaled over ``decades`` (log10).

    The pixel → bin lookup is built on the first frame and kept for its detector shape; a frame of
    another shape rebuilds it (0.03-0.08 s measured for a Pilatus 1M; 0.2 s through pyFAI)."""

    def __init__(self, config: Config, grid: QGrid, decades: float) -> None:
        self.config = config
        self.grid = grid
        self.decades = decades
        try:
            self.geometry = DetectorGeometry(config.geometry)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self._lookup: Lookup | None = None

    def lookup(self, shape: tuple[int, int]) -> Lookup:
        """The pixel → bin table for a detector of ``shape`` (built once, then cached). Safe to call from
        several threads: each gets a table of the shape it asked for."""
        lookup = self._lookup
        if lookup is None or lookup.detector_shape != tuple(shape):
            experiment = self.config.experiment
            q = self.geometry.pixel_q(shape, experiment.k_nm, experiment.alpha_i_rad)
            masked = static_mask(self.config.mask, shape, self.geometry.direct_beam_px(shape))
            lookup = self._lookup = build_lookup(q, masked, self.grid)
        return lookup

    def check_detector(self) -> str | None:
        """Build the pixel → bin table for the detector's shape, where the geometry gives it (the first frame then
        finds it built), and say what makes every frame of it an ``error`` row ('' if nothing; None: no shape)."""
        shape = self.geometry.detector_shape
        if shape is None:
            return None
        try:
            return coverage_problem(self.lookup(shape))
        except ValueError as exc:
            return str(exc)

    def prepare(self, frame: Frame) -> Prepared:
        """The model input for ``frame``; raises ``FrameError`` for an unusable frame."""
        data = np.asarray(frame.data)
        where = f"{frame.source} frame {frame.frame_id}"
        if data.ndim != 2:
            raise FrameError(f"{where}: expected a 2-D detector image, got {data.ndim}-D data of shape {data.shape}")
        if data.dtype.kind not in "iuf":
            raise FrameError(f"{where}: pixel type {data.dtype} is not numeric")
        if data.size > MAX_FRAME_PIXELS:
            raise FrameError(f"{where}: {data.shape[0]:,} × {data.shape[1]:,} pixels, more than any detector has "
                             f"(at most {MAX_FRAME_PIXELS:,} are classified)")
        if frame.mask is not None and np.shape(frame.mask) != data.shape:
            raise FrameError(f"{where}: its mask has shape {np.shape(frame.mask)}, the data {data.shape}")
        if data.dtype.kind == "f":
            nonfinite = 1.0 - np.count_nonzero(np.isfinite(data)) / data.size
            if nonfinite > MAX_NONFINITE_FRACTION:
                raise FrameError(f"{where}: {nonfinite:.0%} of the pixels are NaN or infinite")
        try:
            lookup = self.lookup(data.shape)
        except ValueError as exc:
            raise FrameError(f"{where}: {exc}") from None
        problem = coverage_problem(lookup)
        if problem:
            raise FrameError(f"{where}: {problem}")
        mask = self.config.mask
        max_count = mask.max_count if mask.max_count is not None else frame.count_cutoff
        values = np.take(data.ravel(), lookup.pixels, mode="clip")  # in range by construction; faster than "raise"
        excluded = invalid_counts(values, mask.negative_is_masked, max_count)
        if frame.mask is not None:
            masked = np.take(np.asarray(frame.mask, dtype=bool).ravel(), lookup.pixels, mode="clip")
            excluded = masked if excluded is None else excluded | masked
        totals = bin_sums(values, lookup, excluded)
        hot = 0
        if mask.hot_pixel_ratio is not None:
            hot = replace_hot_pixels(values, lookup, totals,
                                     bin_maxima(values, lookup) if totals.maxima is None else totals.maxima, data,
                                     lambda v: valid_counts(v, mask.negative_is_masked, max_count),
                                     mask.hot_pixel_ratio)
        intensity = bin_mean(totals.sums, totals.counts, lookup, MIN_BIN_PIXEL_FRACTION)
        problem = _lacks_signal(intensity)
        if problem:
            return Prepared(None, intensity, "no_signal", f"{where}: no usable signal: {problem}")
        image = to_levels(fill_empty(intensity), self.decades)
        used = int(totals.counts.sum())
        empty = np.isnan(intensity).mean()
        hot_note = f", {hot} hot {'pixel' if hot == 1 else 'pixels'} replaced" if hot else ""
        return Prepared(image, intensity, "ok",
                        f"{used} pixels in {1 - empty:.0%} of the grid's bins ({empty:.0%} filled{hot_note})",
                        asymmetry(lookup, totals))


def _lacks_signal(intensity: np.ndarray) -> str:
    """Why ``intensity`` (mean counts per bin, NaN = empty) has no usable signal; '' if it has."""
    filled = intensity[~np.isnan(intensity)]
    covered = filled.size / intensity.size
    if covered < MIN_COVERED_FRACTION:
        return f"only {covered:.0%} of the grid's bins hold a valid pixel (needs {MIN_COVERED_FRACTION:.0%})"
    positive = np.count_nonzero(filled > 0) / filled.size
    if positive < MIN_POSITIVE_FRACTION:
        return f"only {positive:.0%} of the covered bins have counts (needs {MIN_POSITIVE_FRACTION:.0%})"
    median = float(np.median(filled))
    top = float(filled.max())
    if top < MIN_CONTRAST * median:
        return f"flat frame: brightest bin {top:.3g} < {MIN_CONTRAST:g} × median bin {median:.3g}"
    return ""
