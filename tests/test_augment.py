"""Detector-like augmentation of simulated patterns."""

import numpy as np

from gisaxs_live.config import load_config
from gisaxs_live.preprocess.scale import to_levels
from gisaxs_live.qgrid import QGrid
from gisaxs_live.simulator.pattern import Optics, simulate_pattern
from gisaxs_live.simulator.shapes import get_shape
from gisaxs_live.training.augment import Realism, count, mask, realistic_images, recalibrate


def pattern():
    cfg = load_config()
    grid = QGrid.for_experiment(cfg.experiment, cfg.grid)
    return simulate_pattern(get_shape("cylinder"), {}, grid, Optics.from_experiment(cfg.experiment), cfg.simulation)


def test_counting_noise_is_poisson_of_the_bin_mean():
    rng = np.random.default_rng(0)
    flat = np.full((2000, 4, 4), 1.0, np.float32)
    realism = Realism(peak_counts=(50.0, 50.0), background=(1e-9, 1e-9), pixels_per_bin=(1, 1))
    counts = count(flat, rng, realism)
    assert abs(counts.mean() - 50.0) < 0.2
    assert abs(counts.var() - 50.0) < 2.0  # Poisson: variance = mean


def test_more_pixels_per_bin_means_less_noise():
    rng = np.random.default_rng(1)
    flat = np.full((500, 4, 4), 1.0, np.float32)
    one = count(flat, rng, Realism(peak_counts=(20.0, 20.0), background=(1e-9, 1e-9), pixels_per_bin=(1, 1)))
    many = count(flat, rng, Realism(peak_counts=(20.0, 20.0), background=(1e-9, 1e-9), pixels_per_bin=(64, 64)))
    assert many.std() < one.std() / 6


def test_recalibration_without_error_is_identity_and_with_error_moves_fringes():
    p = pattern()[None]
    rng = np.random.default_rng(2)
    same = recalibrate(p, rng, Realism(q_scale=0.0, beam_shift_bins=0.0))
    np.testing.assert_allclose(same, p, rtol=1e-6)
    moved = recalibrate(p, rng, Realism(q_scale=0.05, beam_shift_bins=2.0))
    assert np.abs(np.log10(moved + 1e-9) - np.log10(p + 1e-9)).mean() > 0.01


def test_masks_make_empty_bins():
    rng = np.random.default_rng(3)
    masked = mask(np.ones((50, 90, 70), np.float32), rng, Realism(p_mask=1.0))
    assert np.isnan(masked).any(axis=(1, 2)).mean() > 0.5


def test_realistic_images_are_uint8_close_to_clean_at_high_counts():
    p = pattern()
    rng = np.random.default_rng(4)
    high = Realism(q_scale=0.0, beam_shift_bins=0.0, peak_counts=(1e9, 1e9), background=(1e-12, 1e-12),
                   p_mask=0.0, p_clean=0.0)
    images = realistic_images(np.stack([p, p]), rng, 5.0, high)
    assert images.dtype == np.uint8 and images.shape == (2, 90, 70)
    clean = to_levels(p, 5.0).astype(int)
    assert np.abs(images[0].astype(int) - clean).mean() < 1.0
    low = realistic_images(p[None], rng, 5.0, Realism(peak_counts=(30.0, 30.0), p_clean=0.0))
    assert np.abs(low[0].astype(int) - clean).mean() > 5.0
