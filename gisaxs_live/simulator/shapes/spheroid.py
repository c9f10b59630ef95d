"""Full spheroid resting on the substrate: semi-axes R = D_y/2 in-plane and R_z = D_z/2 vertically."""

from __future__ import annotations

import numpy as np

from ._amplitude import sphere_amplitude
from ._kernel import Ellipsoidal
from ._table import ShapeModel, aspect, diameter, fwhm, steps


def volume(D_y: float, aspect: float) -> float:
    """(π/6) D_y² D_z (nm³)."""
    return np.pi / 6.0 * D_y**2 * (aspect * D_y)


def form_factor(qx, qy, qz, D_y: float, aspect: float) -> np.ndarray:
    """V · 3(sin u − u cos u)/u³ · e^{i q_z R_z}, u = √((q∥R)² + (q_z R_z)²); centre at z = R_z."""
    r, rz = 0.5 * D_y, 0.5 * aspect * D_y
    qz = np.asarray(qz)
    u = np.sqrt((np.asarray(qx) ** 2 + np.asarray(qy) ** 2) * r**2 + qz**2 * rz**2)
    return volume(D_y, aspect) * sphere_amplitude(u) * np.exp(1j * qz * rz)


def radii(D_y: float, aspect: float) -> tuple[float, float, float]:
    """(R, R, R_z) (nm)."""
    r = 0.5 * D_y
    return r, r, aspect * r


shape = ShapeModel(
    name="spheroid",
    description=__doc__.strip(),
    parameters=(diameter(), aspect(0.3, 0.9), fwhm()),
    form_factor=form_factor,
    volume=volume,
    paper_grid={"D_y": steps(5, 40, 5), "aspect": steps(0.3, 0.9, 0.1), "fwhm": steps(3, 18, 3)},
    kernel=Ellipsoidal(radii),
)
