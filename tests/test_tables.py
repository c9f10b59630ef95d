"""The simulator's tables of the sphere amplitude Φ(u) = 3(sin u − u cos u)/u³, the disc amplitude 2 J₁(x)/x and
sinc x = sin x / x against extended-precision and series references."""

import numpy as np
from scipy.special import j1

from gisaxs_live.simulator.shapes._amplitude import disc_amplitude, sphere_amplitude
from gisaxs_live.simulator.tables import LIMIT, scaled_disc_amplitude, scaled_sinc, scaled_sphere_amplitude

_U = np.concatenate([np.geomspace(1e-2, 3.0, 2000), np.random.default_rng(0).uniform(0.0, LIMIT, 50_000)])


def test_sphere_table_matches_the_closed_form_in_extended_precision():
    ul = _U.astype(np.longdouble)
    reference = (3.0 * (np.sin(ul) - ul * np.cos(ul)) / ul**3).astype(float)
    table = scaled_sphere_amplitude(_U[:, np.newaxis] / 2.0, np.array([2.0]))[:, 0]
    assert np.max(np.abs(table - reference) / np.minimum(1.0, 3.0 / _U**2)) < 1e-10
    small = np.array([0.0, 1e-6, 1e-3])
    np.testing.assert_allclose(scaled_sphere_amplitude(small, np.ones(1)), 1.0 - small**2 / 10.0, rtol=0, atol=1e-11)


def test_disc_table_matches_scipy():
    wide = _U[_U > 0.5]
    table = scaled_disc_amplitude(wide, np.ones(1))
    assert np.max(np.abs(table - 2.0 * j1(wide) / wide) / np.minimum(1.0, wide**-1.5)) < 1e-10
    small = np.array([0.0, 1e-6, 1e-3, 0.3])
    series = 1.0 - small**2 / 8.0 + small**4 / 192.0 - small**6 / 9216.0 + small**8 / 737280.0
    np.testing.assert_allclose(scaled_disc_amplitude(small, np.ones(1)), series, rtol=0, atol=1e-11)


def test_sinc_table_matches_the_closed_form_in_extended_precision_and_its_series():
    ul = _U.astype(np.longdouble)
    table = scaled_sinc(_U[:, np.newaxis] / 4.0, np.array([4.0]))[:, 0]
    assert np.max(np.abs(table - (np.sin(ul) / ul).astype(float)) * np.maximum(1.0, _U)) < 1e-10
    small = np.array([0.0, 1e-6, 1e-3, 0.3])
    series = 1.0 - small**2 / 6.0 + small**4 / 120.0 - small**6 / 5040.0 + small**8 / 362880.0
    np.testing.assert_allclose(scaled_sinc(small, np.ones(1)), series, rtol=0, atol=1e-11)
    assert np.isnan(scaled_sinc(np.array([1.0, np.nan]), np.ones(1))[1])


def test_tables_fall_back_to_the_closed_forms_beyond_their_limit_and_for_non_finite_values():
    u = np.array([0.5, 2.0 * LIMIT, 7.0])
    np.testing.assert_allclose(scaled_sphere_amplitude(u, np.ones(1)), sphere_amplitude(u), rtol=1e-13)
    np.testing.assert_allclose(scaled_disc_amplitude(u, np.ones(1)), disc_amplitude(u), rtol=1e-13)
    assert np.isnan(scaled_sphere_amplitude(np.array([1.0, np.nan]), np.ones(1))[1])
    assert scaled_sphere_amplitude(np.zeros((0, 3)), np.ones(1)).shape == (0, 3)
