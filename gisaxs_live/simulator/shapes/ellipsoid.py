"""Triaxial ellipsoid resting on the substrate: semi-axes R_x = D_x/2, R_y = D_y/2, R_z = D_z/2, with the
long in-plane axis along y at azimuth 0; the deposit's in-plane orientation is averaged over.

Class definition: randomly oriented in-plane (``azimuth_spread`` sampled at the full period only). An aligned
ellipsoid is not a class of its own: on the canonical grid (q_x neglected) it scatters exactly as the spheroid
whose in-plane diameter is its width across the beam, so it is a spheroid by definition
(``tests/test_physics.py::test_aligned_ellipsoid_on_the_canonical_grid_is_the_spheroid_of_its_d_y``)."""

from __future__ import annotations

import numpy as np

from ._amplitude import sphere_amplitude
from ._kernel import Ellipsoidal
from ._table import Parameter, ShapeModel, aspect, azimuth, diameter, fwhm, steps

PERIOD_DEG = 180.0


def volume(D_y: float, aspect: float, xy_ratio: float) -> float:
    """(π/6) D_x D_y D_z (nm³)."""
    return np.pi / 6.0 * (D_y / xy_ratio) * D_y * (aspect * D_y)


def form_factor(qx, qy, qz, D_y: float, aspect: float, xy_ratio: float) -> np.ndarray:
    """V · 3(sin u − u cos u)/u³ · e^{i q_z R_z}, u = √((q_x R_x)² + (q_y R_y)² + (q_z R_z)²)."""
    ry = 0.5 * D_y
    rx, rz = ry / xy_ratio, aspect * ry
    qz = np.asarray(qz)
    u = np.sqrt((np.asarray(qx) * rx) ** 2 + (np.asarray(qy) * ry) ** 2 + (qz * rz) ** 2)
    return volume(D_y, aspect, xy_ratio) * sphere_amplitude(u) * np.exp(1j * qz * rz)


def radii(D_y: float, aspect: float, xy_ratio: float) -> tuple[float, float, float]:
    """(R_x, R_y, R_z) (nm)."""
    ry = 0.5 * D_y
    return ry / xy_ratio, ry, aspect * ry


shape = ShapeModel(
    name="ellipsoid",
    description=__doc__.strip(),
    parameters=(
        diameter(), aspect(0.3, 0.9), fwhm(),
        Parameter("xy_ratio", "", 2.0, (1.0, 100.0), (1.5, 3.0), "in-plane axis ratio D_y/D_x", "shape"),
        *azimuth(PERIOD_DEG, sampled_spread=(PERIOD_DEG, PERIOD_DEG)),
    ),
    form_factor=form_factor,
    volume=volume,
    paper_grid={"D_y": (10.0, 20.0, 30.0, 40.0), "aspect": steps(0.3, 0.9, 0.1), "fwhm": (3.0, 9.0, 15.0),
                "xy_ratio": steps(1.5, 3.0, 0.5)},
    orientation_period_deg=PERIOD_DEG,
    kernel=Ellipsoidal(radii),
)
