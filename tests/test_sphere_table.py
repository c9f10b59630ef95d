"""The simulator's table of the sphere amplitude Φ(u) = 3(sin u − u cos u)/u³ against an extended-precision one."""

import numpy as np

from gisaxs_live.simulator.shapes._amplitude import sphere_amplitude
from gisaxs_live.simulator.sphere import LIMIT, scaled_sphere_amplitude


def test_table_matches_the_closed_form_in_extended_precision():
    u = np.concatenate([np.geomspace(1e-2, 3.0, 2000), np.random.default_rng(0).uniform(0.0, LIMIT, 50_000)])
    ul = u.astype(np.longdouble)
    reference = (3.0 * (np.sin(ul) - ul * np.cos(ul)) / ul**3).astype(float)
    envelope = np.minimum(1.0, 3.0 / u**2)
    table = scaled_sphere_amplitude(u[:, np.newaxis] / 2.0, np.array([2.0]))[:, 0]
    assert np.max(np.abs(table - reference) / envelope) < 1e-12
    np.testing.assert_allclose(scaled_sphere_amplitude(np.array([0.0, 1e-6, 1e-3]), np.ones(1)),
                               1.0 - np.array([0.0, 1e-6, 1e-3]) ** 2 / 10.0, rtol=0, atol=1e-14)


def test_table_falls_back_to_the_closed_form_beyond_its_limit_and_for_non_finite_values():
    u = np.array([0.5, 2.0 * LIMIT, 7.0])
    np.testing.assert_array_equal(scaled_sphere_amplitude(u, np.ones(1)), sphere_amplitude(u))
    assert np.isnan(scaled_sphere_amplitude(np.array([1.0, np.nan]), np.ones(1))[1])
    assert scaled_sphere_amplitude(np.zeros((0, 3)), np.ones(1)).shape == (0, 3)
