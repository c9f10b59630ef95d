"""Frames unlike every class (``simulator.foreign``): the foreign shapes' amplitudes against closed forms, and the
kinds as the out-of-distribution flag is shown them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gisaxs_live.config import load_config
from gisaxs_live.simulator.foreign import (KINDS, Setting, _cone_ff, _core_shell_ff, foreign_frames,
                                           foreign_intensities, square_frustum_amplitude)
from gisaxs_live.simulator.shapes._amplitude import polygon_amplitude, regular_polygon, sphere_amplitude

Q = np.linspace(-1.5, 1.5, 7)


def test_a_square_frustum_has_its_volume_at_q_zero_and_is_a_box_when_its_top_is_its_base():
    a, h, top = 6.0, 9.0, 0.4
    base, upper = (2 * a) ** 2, (2 * a * top) ** 2
    assert square_frustum_amplitude(0.0, 0.0, 0.0, a, h, top).real == pytest.approx(
        h / 3.0 * (base + upper + math.sqrt(base * upper)), rel=1e-10)
    qx, qy, qz = Q[:, None, None], 0.7 * Q[None, :, None], np.array([0.0, 0.3, 1.1])[None, None, :]
    box = (4 * a * a * np.sinc(qx * a / np.pi) * np.sinc(qy * a / np.pi) * h * np.exp(0.5j * qz * h)
           * np.sinc(qz * h / (2 * np.pi)))
    np.testing.assert_allclose(square_frustum_amplitude(qx, qy, qz, a, h, 1.0), box, atol=1e-9 * abs(box).max())


def test_each_slice_of_the_frustum_is_the_fourier_transform_of_its_square():
    """At q_z = 0 and top = 1 the amplitude is h × the square's 2D transform, here by the divergence theorem for
    a polygon with the same corners (``polygon_amplitude``)."""
    a, h = 5.0, 2.0
    square = a * np.array([[1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0]])
    qx, qy = Q[:, None] + 0.01, 0.8 * Q[None, :] + 0.02
    np.testing.assert_allclose(square_frustum_amplitude(qx, qy, 0.0, a, h, 1.0),
                               h * polygon_amplitude(qx, qy, square), rtol=1e-9, atol=1e-9)
    # the regular polygon of the same circumradius is this square turned by 45°
    turned = regular_polygon(4, a * math.sqrt(2.0))
    c = s = math.sqrt(0.5)
    np.testing.assert_allclose(square_frustum_amplitude(c * qx - s * qy, s * qx + c * qy, 0.0, a, h, 1.0),
                               h * polygon_amplitude(qx, qy, turned), rtol=1e-9, atol=1e-9)


def test_a_core_shell_sphere_is_a_solid_sphere_when_the_core_scatters_like_the_shell():
    q = np.abs(Q)[:, None] + 0.05
    qz = np.array([[0.0, 0.4]])
    r = 7.0
    solid = 4.0 / 3.0 * math.pi * r**3 * sphere_amplitude(np.sqrt(q**2 + qz**2) * r) * np.exp(1j * qz * r)
    np.testing.assert_allclose(_core_shell_ff(q, 0.0, qz, 2 * r, 1.0, core=0.7, contrast=1.0), solid, rtol=1e-12)
    # at q = 0: the shell's volume plus the core's weighted by its contrast
    hollow = _core_shell_ff(0.0, 0.0, 0.0, 2 * r, 1.0, core=0.7, contrast=-0.5).real
    assert hollow == pytest.approx(4.0 / 3.0 * math.pi * r**3 * (1.0 - 1.5 * 0.7**3), rel=1e-12)


def test_a_cone_whose_top_is_its_base_is_a_cylinder():
    d, aspect = 10.0, 0.8
    r, h = 0.5 * d, aspect * d
    q_par, qz = np.abs(Q)[:, None] + 0.01, np.array([[0.0, 0.25, 0.9]])
    from scipy.special import j1

    cylinder = (math.pi * r * r * h * 2 * j1(q_par * r) / (q_par * r) * np.exp(0.5j * qz * h)
                * np.sinc(qz * h / (2 * np.pi)))
    np.testing.assert_allclose(_cone_ff(q_par, 0.0, qz, d, aspect, top=1.0), cylinder, rtol=1e-8,
                               atol=1e-10 * abs(cylinder).max())


@pytest.fixture(scope="module")
def setting() -> Setting:
    return Setting.of_config(load_config())


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_gives_positive_finite_patterns_drawn_again_from_its_seed(kind, setting):
    first = foreign_intensities(kind, 2, 5, setting)
    assert first.shape == (2, *setting.grid.shape) and first.dtype == np.float32
    assert np.all(np.isfinite(first)) and np.all(first > 0)
    np.testing.assert_array_equal(foreign_intensities(kind, 2, 5, setting), first)
    if kind != "noise":
        assert not np.array_equal(foreign_intensities(kind, 2, 6, setting), first)


def test_an_upside_down_frame_is_a_known_pattern_with_its_rows_reversed(setting):
    """The same draws as a known pattern: its brightest row (near the horizon, the Yoneda band) ends up on top."""
    frame = foreign_intensities("upside_down", 1, 3, setting)[0]
    assert np.argmax(frame.max(axis=1)) > frame.shape[0] // 2


def test_the_frames_are_the_same_on_one_thread_and_on_several_and_a_kind_draws_alone(setting):
    """``foreign_frames`` draws each kind's parameters in turn and computes the frames on threads: how many threads,
    and which other kinds are drawn with it, change nothing."""
    kinds = list(KINDS)
    alone = foreign_frames(kinds, 3, [4, 11], setting, threads=1)
    together = foreign_frames(kinds, 3, [4, 11], setting, threads=3)
    for kind in kinds:
        np.testing.assert_array_equal(together[kind], alone[kind])
    np.testing.assert_array_equal(foreign_intensities("off_centre", 3, [4, 11], setting), alone["off_centre"])
    assert len({together[kind].tobytes() for kind in kinds}) == len(kinds)


def test_an_unknown_kind_is_refused(setting):
    with pytest.raises(ValueError, match="unknown kind of foreign frame 'lamellae'"):
        foreign_intensities("lamellae", 1, 0, setting)


def test_the_setting_of_a_simulated_set_is_its_experiment(tmp_path, setting):
    """``Setting.of_set``: the foreign frames of a calibration are made at the experiment the set was simulated
    for, read back from the set's attributes."""
    from gisaxs_live.simulator.dataset import random_specs, read_dataset, simulation_of, write_dataset

    path = tmp_path / "small.h5"
    write_dataset(path, random_specs(1, 0, 0.5), load_config(), seed=0, protocol="random", workers=1)
    data = read_dataset(path, with_intensity=False)
    assert Setting.of_set(data.attrs, data.grid) == setting
    attrs = {k: v for k, v in data.attrs.items() if k != "simulation"}
    with pytest.raises(ValueError, match="the set has no attribute 'simulation'"):
        simulation_of(attrs)
