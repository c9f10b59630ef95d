"""The BornAgain mapping of our classes (gisaxs_live.simulator.conventions) without BornAgain: the inverse
gives back the class and the particle parameters, and refuses particles that are none of our classes.
tests/test_bornagain.py checks the mapping itself against BornAgain's patterns and volumes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gisaxs_live.simulator import conventions
from gisaxs_live.simulator.shapes import CLASS_NAMES, get_shape


def test_every_class_is_mapped():
    assert tuple(conventions.TO_BORNAGAIN) == CLASS_NAMES
    for name in CLASS_NAMES:
        particle_parameters = set(conventions.PARTICLE_PARAMETERS[name])
        assert particle_parameters <= set(get_shape(name).names)
        assert {"D_y", "aspect"} <= particle_parameters


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_inverse_round_trips(name):
    """Parameters drawn over each class's sampled ranges come back from ``from_bornagain`` to 1e-12."""
    rng = np.random.default_rng(7)
    shape = get_shape(name)
    for _ in range(50):
        params = shape.random(rng)
        particle = conventions.to_bornagain(name, params)
        back_name, back = conventions.from_bornagain(particle)
        assert back_name == name
        expected = {k: params[k] for k in conventions.PARTICLE_PARAMETERS[name]}
        assert back.keys() == expected.keys()
        for key, value in expected.items():
            assert back[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_prism3_edge_and_rotation():
    """The issue's example: BornAgain's Prism3 takes the base edge, ours the circumscribed diameter."""
    particle = conventions.to_bornagain("prism3", {"D_y": 20.0, "aspect": 0.5, "azimuth": 30.0})
    (component,) = particle.components
    assert component.formfactor.name == "Prism3"
    assert component.formfactor.arg("base_edge") == pytest.approx(10.0 * math.sqrt(3.0))
    assert component.formfactor.arg("height") == pytest.approx(10.0)
    assert particle.rotation_z_deg == 30.0


def test_half_spheroid_is_a_hemispheroid():
    """A truncated spheroid cut at its equator is the hemispheroid of half its aspect: the inverse names
    the hemispheroid, and a full segment is the spheroid."""
    cut = conventions.to_bornagain("truncated_spheroid", {"D_y": 20.0, "aspect": 0.8, "h_ratio": 0.5})
    assert conventions.from_bornagain(cut) == ("hemispheroid", pytest.approx({"D_y": 20.0, "aspect": 0.4}))
    assert cut == conventions.to_bornagain("hemispheroid", {"D_y": 20.0, "aspect": 0.4})
    full = conventions.to_bornagain("truncated_spheroid", {"D_y": 20.0, "aspect": 0.8, "h_ratio": 1.0})
    assert conventions.from_bornagain(full) == ("spheroid", pytest.approx({"D_y": 20.0, "aspect": 0.8}))


def test_ellipsoid_long_along_x_is_ours_rotated():
    along_x = conventions.BornAgainParticle((conventions.Component(conventions.FormFactor(
        "Ellipsoid", (("radius_x", 10.0), ("radius_y", 5.0), ("radius_z", 4.0)))),), 10.0)
    name, params = conventions.from_bornagain(along_x)
    assert name == "ellipsoid"
    assert params == pytest.approx({"D_y": 20.0, "aspect": 0.4, "xy_ratio": 2.0, "azimuth": 100.0})


@pytest.mark.parametrize("formfactor", [
    conventions.FormFactor("Pyramid4", (("base_edge", 10.0), ("height", 5.0), ("alpha", 1.0))),
    conventions.FormFactor("SpheroidalSegment", (("radius_xy", 10.0), ("radius_z", 5.0), ("rm_top", 1.0),
                                                 ("rm_bottom", 0.0))),
])
def test_other_particles_are_refused(formfactor):
    with pytest.raises(ValueError, match="not one of our classes"):
        conventions.from_bornagain(conventions.BornAgainParticle((conventions.Component(formfactor),)))


def test_a_rotated_ellipsoid_long_along_x_comes_back_within_the_azimuth_limits():
    """RotationZ(300°) of an ellipsoid long along x is ours turned by 390°, i.e. 30° (the limits checking the
    parameters refused 390)."""
    along_x = conventions.BornAgainParticle((conventions.Component(conventions.FormFactor(
        "Ellipsoid", (("radius_x", 10.0), ("radius_y", 5.0), ("radius_z", 4.0)))),), 300.0)
    assert conventions.from_bornagain(along_x)[1]["azimuth"] == pytest.approx(30.0)


def test_a_segment_cut_below_its_bottom_is_refused_not_given_a_negative_height():
    """BornAgain's SpheroidalSegment(10, 3, 0, 7) keeps nothing of a 6-nm-tall spheroid: h_ratio would be −0.17."""
    cut = conventions.FormFactor("SpheroidalSegment", (("radius_xy", 10.0), ("radius_z", 3.0), ("rm_top", 0.0),
                                                       ("rm_bottom", 7.0)))
    with pytest.raises(ValueError, match="h_ratio"):
        conventions.from_bornagain(conventions.BornAgainParticle((conventions.Component(cut),)))


def test_capsule_parts_are_checked():
    good = conventions.to_bornagain("capsule", {"D_y": 20.0, "aspect": 1.4})
    lower, middle, upper = good.components
    shifted = conventions.BornAgainParticle((lower, middle, conventions.Component(upper.formfactor, upper.z + 1.0)))
    with pytest.raises(ValueError, match="not a capsule"):
        conventions.from_bornagain(shifted)


@pytest.mark.parametrize("mode, fwhm", [(5.0, 3.0), (20.0, 9.0), (40.0, 18.0)])
def test_lognormal_round_trips(mode, fwhm):
    assert conventions.lognormal_from_bornagain(*conventions.lognormal_to_bornagain(mode, fwhm)) == \
        pytest.approx((mode, fwhm), rel=1e-12)
