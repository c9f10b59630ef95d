"""Hot pixels and count cutoffs: a few bad pixels must not move the model input, genuine sharp features
must stay.

The frame is a synthetic Pilatus 1M (default geometry) of a sphere-like form factor with fringes
(Poisson counts, 3·10⁴ at the top, module gaps −1), with a Bragg-like peak (Gaussian, FWHM 2.5 px) and
a specular-like rod (2 px wide) added. 0.1 % hot pixels at random positions, log-uniform from 10⁴ to
2³¹ − 1 counts, must leave the image as it was: at most 5 of its 6300 bins more than 1 grey level off,
none more than 3. (A hot pixel takes the place of a genuine one, which the median of its neighbours
stands in for; a hot pixel of 10⁴ on the rod of 5·10³ is within the ratio 5 and stays. Measured over
40 seeds: at most 3 bins more than 1 level off, at most 3 levels.) With the hot-pixel test off the
same pixels move the image by more than 100 levels.
"""

from __future__ import annotations

import dataclasses

import fabio.cbfimage
import numpy as np
import pytest

from gisaxs_live.config import Config, load_config
from gisaxs_live.frame import Frame
from gisaxs_live.preprocess.geometry import DetectorGeometry
from gisaxs_live.preprocess.prepare import FramePreprocessor
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.sources.cutoff import count_cutoff
from gisaxs_live.sources.files import read_frames

PILATUS_1M = (1043, 981)
HOT_FRACTION = 0.001
PEAK = (300, 700)   # row, column of the Bragg-like peak
ROD_COLUMNS = slice(600, 602)


def with_mask(config: Config, **changes) -> Config:
    return dataclasses.replace(config, mask=dataclasses.replace(config.mask, **changes))


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config()


@pytest.fixture(scope="module")
def grid(config: Config) -> QGrid:
    return QGrid.for_experiment(config.experiment, config.grid)


@pytest.fixture(scope="module")
def counts(config: Config) -> np.ndarray:
    """The clean synthetic frame (int32 counts)."""
    q = DetectorGeometry(config.geometry).pixel_q(PILATUS_1M, config.experiment.k_nm, config.experiment.alpha_i_rad)
    x = np.hypot(q.qy, q.qz) * 6.0 + 1e-6  # sphere of radius 6 nm
    form = (3.0 * (np.sin(x) - x * np.cos(x)) / x**3) ** 2
    expected = 3e4 * form * (q.alpha_f >= 0) + 0.5
    rows, cols = np.indices(PILATUS_1M)
    sigma = 2.5 / 2.355
    expected += 2e4 * np.exp(-((rows - PEAK[0]) ** 2 + (cols - PEAK[1]) ** 2) / (2 * sigma**2))
    expected[:850, ROD_COLUMNS] += 5e3
    data = np.random.default_rng(3).poisson(expected).astype(np.int32)
    for i in range(1, 5):
        data[212 * i - 17:212 * i, :] = -1
    data[:, 487:494] = -1
    return data


def with_hot_pixels(data: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hot = data.copy()
    where = rng.choice(hot.size, int(HOT_FRACTION * hot.size), replace=False)
    hot.ravel()[where] = np.exp(rng.uniform(np.log(1e4), np.log(2**31 - 1), where.size)).astype(np.int32)
    return hot


def frame_of(data: np.ndarray, cutoff: float | None = None) -> Frame:
    return Frame(data=data, source="test", frame_id=0, t=0.0, count_cutoff=cutoff)


def test_hot_pixels_leave_the_image_unchanged(config, grid, counts):
    pre = FramePreprocessor(config, grid, config.scale.decades)
    clean = pre.prepare(frame_of(counts))
    for seed in range(5):
        hot = pre.prepare(frame_of(with_hot_pixels(counts, seed)))
        assert hot.status == "ok" and "hot pixels replaced" in hot.message
        change = np.abs(hot.image.astype(int) - clean.image.astype(int))
        moved = np.count_nonzero(change > 1)
        assert moved <= 5 and change.max() <= 3, f"seed {seed}: {moved} bins moved, up to {change.max()} levels"


def test_without_the_hot_pixel_test_the_same_pixels_ruin_the_image(config, grid, counts):
    pre = FramePreprocessor(with_mask(config, hot_pixel_ratio=None), grid, config.scale.decades)
    clean, hot = pre.prepare(frame_of(counts)), pre.prepare(frame_of(with_hot_pixels(counts)))
    assert np.abs(hot.image.astype(int) - clean.image.astype(int)).max() > 100


def test_genuine_sharp_features_are_kept(config, grid, counts):
    on = FramePreprocessor(config, grid, config.scale.decades).prepare(frame_of(counts))
    off = FramePreprocessor(with_mask(config, hot_pixel_ratio=None), grid, config.scale.decades).prepare(frame_of(counts))
    assert "hot" not in on.message, on.message  # the peak, the rod and Poisson noise: no pixel replaced
    assert np.array_equal(on.intensity, off.intensity, equal_nan=True)


def test_two_hot_pixels_side_by_side_are_both_replaced(config, grid, counts):
    pre = FramePreprocessor(config, grid, config.scale.decades)
    lookup = pre.lookup(PILATUS_1M)
    row, col = 40, 20
    pixels = lookup.pixels[lookup.bins == row * grid.n_qy + col]
    first = pixels[len(pixels) // 2]
    pair = np.array([first, first + 1])  # neighbours in one detector row
    assert np.isin(pair, pixels).all()
    data = counts.copy()
    data.ravel()[pair] = [10**6, 3 * 10**5]
    prepared = pre.prepare(frame_of(data))
    assert "2 hot pixels replaced" in prepared.message
    clean = pre.prepare(frame_of(counts)).intensity[row, col]
    assert prepared.intensity[row, col] == pytest.approx(clean, rel=0.01)  # by their neighbours' median


def test_the_cbf_header_cutoff_masks_counts_above_it_unless_the_config_sets_one(config, grid, counts, tmp_path):
    header = {"_array_data.header_convention": "PILATUS_1.2",
              "_array_data.header_contents": "# Detector: PILATUS 1M\r\n# Count_cutoff 1000 counts\r\n"}
    with_header, without = tmp_path / "with_header.cbf", tmp_path / "without.cbf"
    fabio.cbfimage.CbfImage(data=counts, header=header).write(str(with_header))
    fabio.cbfimage.CbfImage(data=counts).write(str(without))
    (frame,) = read_frames(with_header)
    (plain,) = read_frames(without)
    assert frame.count_cutoff == 1000.0 and plain.count_cutoff is None
    assert count_cutoff({"_array_data.header_contents": "# Exposure_time 1 s"}) is None
    no_hot_test = with_mask(config, hot_pixel_ratio=None)
    lookup = FramePreprocessor(no_hot_test, grid, 5.0).lookup(PILATUS_1M)
    table = counts.ravel()[lookup.pixels]
    n_valid = np.bincount(lookup.bins, weights=table >= 0, minlength=lookup.n_bins)
    above = np.bincount(lookup.bins, weights=table > 1000, minlength=lookup.n_bins) / np.maximum(n_valid, 1)
    bin_index = int(np.argmin(np.abs(above - 0.5) + (n_valid < 50)))  # about half its pixels above the cutoff
    values = counts.ravel()[lookup.pixels[lookup.bins == bin_index]]
    assert (values > 1000).any() and ((values >= 0) & (values <= 1000)).any()

    def bin_value(cfg: Config, f: Frame) -> float:
        return float(FramePreprocessor(cfg, grid, 5.0).prepare(f).intensity.ravel()[bin_index])

    assert bin_value(no_hot_test, frame) == pytest.approx(values[(values >= 0) & (values <= 1000)].mean(), rel=1e-6)
    assert bin_value(no_hot_test, plain) == pytest.approx(values[values >= 0].mean(), rel=1e-6)
    own = with_mask(no_hot_test, max_count=5000.0)
    assert bin_value(own, frame) == pytest.approx(values[(values >= 0) & (values <= 5000)].mean(), rel=1e-6)
