"""Detector-like augmentation of simulated patterns."""

import numpy as np
import pytest

from gisaxs_live.config import load_config
from gisaxs_live.preprocess.scale import to_levels
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.simulator.pattern import Optics, simulate_pattern
from gisaxs_live.simulator.shapes import get_shape
from gisaxs_live.training.augment import (Realism, count, critical_row, instrument_background, mask, realistic_images,
                                          recalibrate, smear, transfer_realism)


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


def test_recalibration_is_scipys_bilinear_map_coordinates_bit_for_bit():
    """The block-wise resampling equals ``map_coordinates(order=1, mode="nearest")`` image by image, with the same
    draws, also where the stretched grid reaches beyond the edges."""
    from scipy.ndimage import map_coordinates

    rng = np.random.default_rng(6)
    images = rng.lognormal(2.0, 2.0, (300, 90, 70)).astype(np.float32)
    realism = Realism(q_scale=0.2, beam_shift_bins=4.0)
    draws = np.random.default_rng(7)
    rows, cols = np.arange(90.0)[:, None], np.arange(70.0)[None, :]
    for image, result in zip(images, recalibrate(images, np.random.default_rng(7), realism, block=64)):
        sz, sy = 1.0 + draws.uniform(-0.2, 0.2, 2)
        dz, dy = draws.uniform(-4.0, 4.0, 2)
        source = np.broadcast_arrays((rows + 0.5) * sz - 0.5 + dz, np.abs((cols + 0.5) * sy + dy) - 0.5)
        assert np.array_equal(result, map_coordinates(image, source, order=1, mode="nearest"))


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


def test_smearing_without_width_is_identity_and_with_width_lowers_sharp_peaks():
    p = pattern()[None]
    rng = np.random.default_rng(5)
    np.testing.assert_allclose(smear(p, rng, Realism(smear_bins=0.0)), p, rtol=1e-6)
    spike = np.zeros((20, 90, 70), np.float32)
    spike[:, 40, 30] = 1.0
    blurred = smear(spike, rng, Realism(smear_bins=1.5))
    np.testing.assert_allclose(blurred.sum(axis=(1, 2)), 1.0, rtol=1e-4)  # a blur keeps the flux
    assert (blurred.max(axis=(1, 2)) < 1.0).mean() > 0.9


def test_instrument_background_puts_the_rod_at_qy_zero_and_the_band_at_the_critical_row():
    flat = np.full((40, 90, 70), 1e-6, np.float32)
    flat[:, 80, 60] = 1.0  # the peak the effects are scaled to
    rng = np.random.default_rng(6)
    rod = instrument_background(flat, rng, Realism(p_rod=1.0, rod=(0.1, 0.1)))
    assert np.all(rod[:, 0, 0] > 0.09) and np.all(rod[:, 0, 5] < 1e-5)
    band = instrument_background(flat, rng, Realism(p_diffuse=1.0, diffuse=(0.01, 0.01), yoneda_row=30.0))
    brightest_rows = np.argmax(band[:, :, 1], axis=1)
    assert np.all(np.abs(brightest_rows - 30) <= 3)
    assert np.all(band[:, 30, 1] > band[:, 30, 60])  # decays along q_y


def test_critical_row_is_the_row_of_the_critical_exit_angle():
    k, alpha_i, delta = 2 * np.pi / 0.15, np.radians(0.2), 7.18e-6
    qz_min, step = k * np.sin(alpha_i), 0.03
    row = critical_row(qz_min, step, k, alpha_i, delta)
    assert qz_min + (row + 0.5) * step == pytest.approx(k * (np.sin(alpha_i) + np.sin(np.sqrt(2 * delta))))
    assert 4.0 < row < 5.5  # α_c(Si, 0.15 nm) = 0.217°: about 4.8 rows of 0.03 nm⁻¹ above the horizon


def test_transfer_realism_images_are_valid_model_inputs():
    p = pattern()
    images = realistic_images(np.stack([p] * 8), np.random.default_rng(7), 5.0, transfer_realism(4.8))
    assert images.dtype == np.uint8 and images.shape == (8, 90, 70)
    assert np.all(images.max(axis=(1, 2)) == 255)
