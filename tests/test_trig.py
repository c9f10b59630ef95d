"""The simulator's table sine and cosine against NumPy's."""

import numpy as np

from gisaxs_live.simulator.trig import LIMIT, expi, sinc, sincos


def test_sincos_matches_numpy_over_the_simulators_range():
    x = np.random.default_rng(0).uniform(-300.0, 300.0, 100_000)
    x[:5] = [0.0, 1e-300, np.pi, -np.pi / 2, 2.0 * np.pi * 37]
    s, c = sincos(x)
    assert np.max(np.abs(s - np.sin(x))) < 2e-14 and np.max(np.abs(c - np.cos(x))) < 2e-14
    small = np.geomspace(1e-12, 1e-2, 50)
    np.testing.assert_allclose(sincos(small)[0], np.sin(small), rtol=1e-15)


def test_sincos_falls_back_to_numpy_beyond_its_limit_and_for_non_finite_values():
    x = np.array([0.5, 2.0 * LIMIT, np.nan])
    s, c = sincos(x)
    np.testing.assert_array_equal(s, np.sin(x))
    np.testing.assert_array_equal(c, np.cos(x))
    assert sincos(np.zeros((0, 3)))[0].shape == (0, 3)


def test_expi_and_sinc():
    x = np.linspace(-20.0, 20.0, 400).reshape(20, 20)
    np.testing.assert_allclose(expi(x), np.exp(1j * x), rtol=0, atol=1e-14)
    np.testing.assert_allclose(sinc(x), np.sinc(x / np.pi), rtol=1e-13, atol=1e-15)
    assert sinc(np.zeros(2)).tolist() == [1.0, 1.0]
