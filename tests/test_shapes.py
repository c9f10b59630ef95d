"""Analytic checks of the form factors: volumes, limits, closed forms and in-plane symmetries."""

import numpy as np
import pytest
from scipy.special import j1

from gisaxs_live.simulator.shapes import CLASS_NAMES, SHAPES, get_shape
from gisaxs_live.simulator.shapes import capsule, cylinder, hemispheroid, prism3, prism6, spheroid, truncated_spheroid

RNG = np.random.default_rng(7)
Q = RNG.uniform(-1.5, 1.5, size=(3, 200))  # q_x, q_y, q_z (nm⁻¹)


def test_class_order_is_the_papers():
    assert CLASS_NAMES == ("capsule", "spheroid", "ellipsoid", "truncated_spheroid", "hemispheroid",
                           "prism3", "prism6", "cylinder")


@pytest.mark.parametrize("shape", SHAPES, ids=CLASS_NAMES)
def test_forward_amplitude_is_the_volume(shape):
    rng = np.random.default_rng(1)
    for _ in range(5):
        g = shape.geometry(shape.check(shape.random(rng)))
        f0 = shape.form_factor(np.zeros(1), np.zeros(1), np.zeros(1), **g)
        assert f0[0] == pytest.approx(shape.volume(**g), rel=1e-9)
        assert abs(f0[0].imag) < 1e-9 * shape.volume(**g)


@pytest.mark.parametrize("shape", SHAPES, ids=CLASS_NAMES)
def test_real_shape_gives_hermitian_amplitude(shape):
    g = shape.geometry(shape.check({}))
    f = shape.form_factor(*Q, **g)
    f_minus = shape.form_factor(*(-Q), **g)
    np.testing.assert_allclose(f_minus, np.conj(f), rtol=1e-9, atol=1e-9 * shape.volume(**g))


@pytest.mark.parametrize("shape", SHAPES, ids=CLASS_NAMES)
def test_every_class_scatters_mirror_symmetrically_about_q_y_0_at_any_azimuth(shape):
    # the premise of the live mirror check (preprocess/mirror.py): in the plane q_x = 0, |F(0, -q_y, q_z)| =
    # |F(0, q_y, q_z)| for a particle at any in-plane rotation phi, because every class's horizontal sections are
    # centrosymmetric (F(-q_par, q_z) = F(q_par, q_z)) or it is a vertical extrusion (prism3: |F| even in q_par)
    rng = np.random.default_rng(3)
    qy, qz = rng.uniform(0.02, 1.5, (2, 300))
    for phi in np.radians([0.0, 17.0, 30.0, 45.0, 71.0]):
        g = shape.geometry(shape.check(shape.random(rng)))
        rotate = lambda y: (-np.sin(phi) * y, np.cos(phi) * y)  # noqa: E731  (0, y) turned by phi
        plus = np.abs(shape.form_factor(*rotate(qy), qz, **g))
        minus = np.abs(shape.form_factor(*rotate(-qy), qz, **g))
        np.testing.assert_allclose(minus, plus, rtol=1e-9, atol=1e-9 * shape.volume(**g))


def sphere_closed_form(q, radius):
    """Sphere resting on z = 0: V 3(sin qR − qR cos qR)/(qR)³ e^{i q_z R}."""
    qr = np.linalg.norm(q, axis=0) * radius
    return (4 / 3 * np.pi * radius**3 * 3 * (np.sin(qr) - qr * np.cos(qr)) / qr**3) * np.exp(1j * q[2] * radius)


def test_spheroid_with_equal_axes_is_the_sphere():
    np.testing.assert_allclose(spheroid.form_factor(*Q, D_y=16.0, aspect=1.0), sphere_closed_form(Q, 8.0),
                               rtol=1e-10, atol=1e-9)


def test_capsule_tends_to_the_sphere():
    expected = sphere_closed_form(Q, 8.0)
    np.testing.assert_allclose(capsule.form_factor(*Q, D_y=16.0, aspect=1.0), expected, rtol=1e-8, atol=1e-6)
    close = capsule.form_factor(*Q, D_y=16.0, aspect=1.0001)
    assert np.max(np.abs(close - expected)) < 1e-3 * capsule.volume(16.0, 1.0)


def test_capsule_volume_is_sphere_plus_cylinder():
    assert capsule.volume(10.0, 1.5) == pytest.approx(4 / 3 * np.pi * 125 + np.pi * 25 * 5)


def test_truncated_spheroid_limits():
    g = dict(D_y=20.0, aspect=0.6)
    np.testing.assert_allclose(truncated_spheroid.form_factor(*Q, **g, h_ratio=1.0), spheroid.form_factor(*Q, **g),
                               rtol=1e-8, atol=1e-6)
    # the lower half of the spheroid cut away leaves a hemispheroid of height D_z/2
    half = truncated_spheroid.form_factor(*Q, **g, h_ratio=0.5)
    np.testing.assert_allclose(half, hemispheroid.form_factor(*Q, D_y=20.0, aspect=0.3), rtol=1e-8, atol=1e-6)
    assert truncated_spheroid.volume(20.0, 0.6, 0.5) == pytest.approx(hemispheroid.volume(20.0, 0.3))
    assert truncated_spheroid.volume(20.0, 0.6, 1.0) == pytest.approx(spheroid.volume(20.0, 0.6))


def test_cylinder_closed_form():
    radius, height = 7.0, 9.0
    qx, qy, qz = Q
    q_par = np.hypot(qx, qy)
    expected = (np.pi * radius**2 * height * 2 * j1(q_par * radius) / (q_par * radius)
                * np.sin(qz * height / 2) / (qz * height / 2) * np.exp(1j * qz * height / 2))
    np.testing.assert_allclose(cylinder.form_factor(qx, qy, qz, D_y=14.0, aspect=height / 14.0), expected,
                               rtol=1e-9, atol=1e-9)


def rotate(qx, qy, degrees):
    a = np.radians(degrees)
    return np.cos(a) * qx - np.sin(a) * qy, np.sin(a) * qx + np.cos(a) * qy


@pytest.mark.parametrize("module, fold", [(prism3, 3), (prism6, 6)])
def test_prism_in_plane_symmetry(module, fold):
    qx, qy, qz = Q
    f = module.form_factor(qx, qy, qz, D_y=20.0, aspect=0.5)
    turned = module.form_factor(*rotate(qx, qy, 360.0 / fold), qz, D_y=20.0, aspect=0.5)
    np.testing.assert_allclose(turned, f, rtol=1e-9, atol=1e-9)
    # and not a higher symmetry: a half-period turn changes the amplitude
    half = module.form_factor(*rotate(qx, qy, 180.0 / fold), qz, D_y=20.0, aspect=0.5)
    assert np.max(np.abs(half - f)) > 1e-3 * module.shape.volume(20.0, 0.5)


def test_prism6_tends_to_cylinder_of_equal_area_at_small_q():
    q = np.array([[0.0], [0.05], [0.0]])
    hexagon = prism6.form_factor(*q, D_y=20.0, aspect=0.5)
    radius = np.sqrt(prism6.shape.volume(20.0, 0.5) / (np.pi * 10.0))
    disc = cylinder.form_factor(*q, D_y=2 * radius, aspect=10.0 / (2 * radius))
    assert hexagon[0] == pytest.approx(disc[0], rel=1e-3)


def test_parameter_limits_are_enforced_with_a_clear_error():
    with pytest.raises(ValueError, match="spheroid: parameter D_y = -5 nm is outside"):
        get_shape("spheroid").check({"D_y": -5.0})
    with pytest.raises(ValueError, match="capsule: parameter aspect = 0.5"):
        get_shape("capsule").check({"aspect": 0.5})
    with pytest.raises(ValueError, match="unknown parameter"):
        get_shape("cylinder").check({"h_ratio": 0.5})
    with pytest.raises(ValueError, match="unknown particle shape 'cube'"):
        get_shape("cube")


@pytest.mark.parametrize("shape", SHAPES, ids=CLASS_NAMES)
def test_random_samples_lie_in_the_sample_ranges(shape):
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = shape.random(rng)
        for par in shape.parameters:
            assert par.sample_range[0] <= p[par.name] <= par.sample_range[1]
            assert par.admits(p[par.name])
    assert len(shape.paper_points()) == 336


def test_truncated_spheroids_are_never_sampled_where_they_are_hemispheroids():
    """The class definitions do not overlap: H/D_z near 0.5 (a hemispheroid) is not a truncated spheroid."""
    shape = get_shape("truncated_spheroid")
    h_ratio = np.array([shape.random(np.random.default_rng([5, i]))["h_ratio"] for i in range(2000)])
    assert not np.any((h_ratio > 0.4) & (h_ratio < 0.6))
    assert h_ratio.min() < 0.25 and h_ratio.max() > 0.75
    # uniform over the two remaining bands, which are equally wide
    assert 0.45 < np.mean(h_ratio < 0.5) < 0.55
