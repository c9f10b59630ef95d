"""Hemispheroid: the upper half of a spheroid, flat face on the substrate, base radius R = D_y/2 and
height D_z (the spheroid's vertical semi-axis)."""

from __future__ import annotations

import numpy as np

from ._amplitude import axial_kernel, axial_profile_amplitude
from ._table import ShapeModel, aspect, diameter, fwhm, steps

Z_NODES = 24


def volume(D_y: float, aspect: float) -> float:
    """(2π/3) R² D_z (nm³)."""
    return 2.0 * np.pi / 3.0 * (0.5 * D_y) ** 2 * aspect * D_y


def _profile(D_y: float, aspect: float):
    """(z0, z1, r²(z)): the profile's z range (nm) and squared radius."""
    r, height = 0.5 * D_y, aspect * D_y
    return 0.0, height, lambda z: r**2 * (1.0 - (z / height) ** 2)


def form_factor(qx, qy, qz, D_y: float, aspect: float, z_nodes: int = Z_NODES) -> np.ndarray:
    """Gauss–Legendre over z ∈ [0, D_z] of discs of radius² R²(1 − z²/D_z²)."""
    q_par = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2)
    return axial_profile_amplitude(q_par, qz, *_profile(D_y, aspect), z_nodes)


shape = ShapeModel(
    name="hemispheroid",
    description=__doc__.strip(),
    parameters=(diameter(), aspect(0.3, 0.9), fwhm()),
    form_factor=form_factor,
    volume=volume,
    paper_grid={"D_y": steps(5, 40, 5), "aspect": steps(0.3, 0.9, 0.1), "fwhm": steps(3, 18, 3)},
    z_extent=lambda D_y, aspect: aspect * D_y,
    kernel=axial_kernel(_profile),
)
