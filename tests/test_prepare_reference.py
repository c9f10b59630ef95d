"""The live preprocessing against a straightforward reference, bit for bit, on frames of the demo growth series.

``FramePreprocessor.prepare`` takes shortcuts for speed (bins summed along a table in the narrowest exact type,
the bins' largest values reused by the hot-pixel test, a cached plan of which empty bins fill from which). The
reference here takes none: each pixel's validity checked on its own, bin sums and pixel counts by
``np.bincount`` in float64, each bin's largest value by ``np.maximum.at``, the mean and its minimum pixel count
as documented, and the fill along q_z then q_y written out row by row as it was before the plan. The model
input (uint8 image) and the intensity (NaN pattern included) must come out identical, on demo frames with
their beam stop and rod masked and module gaps at −1, plus hot pixels, dead pixels (−2), counts above a count
cutoff, a mask of the frame's own and counts high enough to need int64 sums.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gisaxs_live.config import Config, load_config
from gisaxs_live.frame import Frame
from gisaxs_live.preprocess import descriptors
from gisaxs_live.preprocess.hotpixels import replace_hot_pixels
from gisaxs_live.preprocess.mask import valid_counts
from gisaxs_live.preprocess.prepare import MIN_BIN_PIXEL_FRACTION, FramePreprocessor
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.preprocess.regrid import BinTotals, fill_empty, fill_empty_stack
from gisaxs_live.preprocess.scale import to_levels
from gisaxs_live.publisher.demo_series import GrowthSeries, demo_config

N_FRAMES = 6
CUTOFF = 1_048_500.0  # a Pilatus CBF header's Count_cutoff


@pytest.fixture(scope="module")
def config() -> Config:
    return demo_config(load_config())


@pytest.fixture(scope="module")
def grid(config: Config) -> QGrid:
    return QGrid.for_experiment(config.experiment, config.grid)


@pytest.fixture(scope="module")
def series(config: Config) -> GrowthSeries:
    return GrowthSeries(config, N_FRAMES)


def damaged(counts: np.ndarray, seed: int) -> np.ndarray:
    """``counts`` with 0.1 % hot pixels (10⁴ to 2³¹ − 1), 0.3 % dead pixels (−2) and 200 saturated ones
    (above ``CUTOFF``) at random positions."""
    rng = np.random.default_rng(seed)
    data = counts.copy().ravel()
    hot, dead, saturated = np.split(rng.choice(data.size, 1043 + 3129 + 200, replace=False), [1043, 1043 + 3129])
    data[hot] = np.exp(rng.uniform(np.log(1e4), np.log(2**31 - 1), hot.size)).astype(np.int32)
    data[dead] = -2
    data[saturated] = rng.integers(int(CUTOFF) + 1, 2**31 - 1, saturated.size)
    return data.reshape(counts.shape)


def reference(pre: FramePreprocessor, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """(image, intensity) of ``frame`` computed the plain way (see the module's notes)."""
    data = np.asarray(frame.data)
    mask = pre.config.mask
    max_count = mask.max_count if mask.max_count is not None else frame.count_cutoff
    lookup = pre.lookup(data.shape)  # which pixel lies in which bin: the geometry, not under test here
    values = data.ravel()[lookup.pixels].copy()
    valid = valid_counts(values, mask.negative_is_masked, max_count)
    if frame.mask is not None:
        valid &= ~np.asarray(frame.mask, bool).ravel()[lookup.pixels]
    values[~valid] = 0
    sums = np.bincount(lookup.bins, weights=values.astype(np.float64), minlength=lookup.n_bins)
    counts = np.bincount(lookup.bins[valid], minlength=lookup.n_bins)
    half = np.repeat(np.arange(lookup.half_keys.size), lookup.half_counts)
    totals = BinTotals(sums, counts, None, np.bincount(half, weights=values.astype(np.float64)),
                       np.bincount(half[valid], minlength=lookup.half_keys.size))
    if mask.hot_pixel_ratio is not None:
        maxima = np.full(lookup.n_bins, np.iinfo(values.dtype).min, values.dtype)
        np.maximum.at(maxima, lookup.bins, values)
        replace_hot_pixels(values, lookup, totals, maxima[lookup.occupied], data,
                           lambda v: valid_counts(v, mask.negative_is_masked, max_count), mask.hot_pixel_ratio)
    enough = (counts > 0) & (counts >= MIN_BIN_PIXEL_FRACTION * np.median(counts[counts > 0]))
    intensity = np.full(lookup.n_bins, np.nan)
    intensity[enough] = sums[enough] / counts[enough]
    intensity = intensity.reshape(lookup.grid_shape).astype(np.float32)
    return to_levels(reference_fill(intensity), pre.decades), intensity


def reference_fill(intensity: np.ndarray) -> np.ndarray:
    """``regrid.fill_empty`` as it was written before its plan was cached: along q_z, then along q_y."""
    return _fill_rows(_fill_rows(intensity.T).T).astype(intensity.dtype)


def _fill_rows(values: np.ndarray) -> np.ndarray:
    """NaNs of each row filled linearly from the nearest non-NaN entries on both sides, else the nearest one."""
    empty = np.isnan(values)
    if not empty.any():
        return values
    n = values.shape[1]
    index = np.broadcast_to(np.arange(n), values.shape)
    left = np.maximum.accumulate(np.where(empty, -1, index), axis=1)
    right = np.minimum.accumulate(np.where(empty, n, index)[:, ::-1], axis=1)[:, ::-1]
    has_left, has_right = left >= 0, right < n
    value_left = np.take_along_axis(values, np.clip(left, 0, n - 1), axis=1)
    value_right = np.take_along_axis(values, np.clip(right, 0, n - 1), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        between = value_left + (index - left) / (right - left) * (value_right - value_left)
    fill = np.where(has_left & has_right, between, np.where(has_left, value_left, value_right))
    return np.where(empty, fill, values)


def frames(series: GrowthSeries, index: int) -> dict[str, Frame]:
    """Frame ``index`` of the series as it is, damaged with a count cutoff, with its own mask, and scaled up
    so that bin sums overflow int32."""
    counts = series.frame(index)
    bad = damaged(counts, index)
    own_mask = np.random.default_rng(100 + index).random(counts.shape) < 0.05
    bright = np.where(counts > 0, counts.astype(np.int64) * 40_000, counts).clip(max=2**31 - 1).astype(np.int32)
    return {"as is": Frame(counts, "demo", index, 0.0),
            "damaged, cutoff": Frame(bad, "demo", index, 0.0, count_cutoff=CUTOFF),
            "damaged, own mask": Frame(bad, "demo", index, 0.0, mask=own_mask, count_cutoff=CUTOFF),
            "int64 sums": Frame(bright, "demo", index, 0.0)}


@pytest.mark.parametrize("settings", [{}, {"hot_pixel_ratio": None}, {"max_count": 2e4},
                                      {"negative_is_masked": False}])
def test_prepare_matches_the_reference_bit_for_bit(config, grid, series, settings):
    changed = dataclasses.replace(config, mask=dataclasses.replace(config.mask, **settings))
    pre = FramePreprocessor(changed, grid, changed.scale.decades)
    for index in range(N_FRAMES):
        for name, frame in frames(series, index).items():
            prepared = pre.prepare(frame)
            image, intensity = reference(pre, frame)
            assert np.array_equal(prepared.intensity, intensity, equal_nan=True), (index, name)
            if prepared.status == "ok":
                assert np.array_equal(prepared.image, image), (index, name)


def test_the_fill_matches_the_reference_on_random_holes():
    rng = np.random.default_rng(4)
    for _ in range(50):
        intensity = rng.lognormal(3.0, 2.0, (90, 70)).astype(np.float32)
        intensity[rng.random(intensity.shape) < rng.uniform(0.0, 0.6)] = np.nan
        intensity[:, rng.integers(0, 70, 3)] = np.nan   # whole columns: filled along q_y
        intensity[rng.integers(0, 90, 2), :] = np.nan   # whole rows
        assert np.array_equal(fill_empty(intensity), reference_fill(intensity), equal_nan=True)
        twice = fill_empty(intensity)  # the second time from the cached plan
        assert np.array_equal(twice, reference_fill(intensity), equal_nan=True)


def test_the_fill_of_a_stack_matches_the_reference_image_by_image():
    """The training augmentation fills its images as one stack; each must come out as the live fill makes it."""
    rng = np.random.default_rng(5)
    stack = rng.lognormal(3.0, 2.0, (40, 90, 70)).astype(np.float32)
    for image in stack[2:]:
        image[rng.random(image.shape) < rng.uniform(0.0, 0.6)] = np.nan
        image[:, rng.integers(0, 70, rng.integers(0, 4))] = np.nan
        image[rng.integers(0, 90, rng.integers(0, 3)), :] = np.nan
    stack[1] = np.nan  # nothing to fill from: stays empty; stack[0] has no holes
    filled = fill_empty_stack(stack)
    for image, result in zip(stack, filled):
        assert np.array_equal(result, reference_fill(image), equal_nan=True)


def test_closed_form_fits_match_polyfit():
    rng = np.random.default_rng(2)
    for _ in range(200):
        x = np.sort(rng.uniform(0.01, 0.5, rng.integers(3, 12)))
        y = rng.normal(size=x.size)
        assert descriptors._slope(x, y) == pytest.approx(np.polyfit(x, y, 1)[0], rel=1e-9, abs=1e-12)
        q, top = x[:3], rng.normal(size=3)
        a, b, _ = np.polyfit(q, top, 2)
        expected = q[1] if a >= 0 or not q[0] <= -b / (2 * a) <= q[2] else -b / (2 * a)
        assert descriptors._vertex(q, top) == pytest.approx(expected, rel=1e-9)
