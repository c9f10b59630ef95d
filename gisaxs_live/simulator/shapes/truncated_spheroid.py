"""Truncated spheroid: the top part, of height H, of a spheroid with semi-axes R = D_y/2 and R_z = D_z/2,
cut by the substrate plane. H = D_z is the full spheroid, H = D_z/2 the hemispheroid.

Class definition: H/D_z is sampled over [0.2, 0.8] without (0.4, 0.6). Near H/D_z = 0.5 the particle is a
hemispheroid (exactly so at 0.5, with the hemispheroid's aspect = this aspect / 2), so the two classes would
overlap; the band keeps them apart: a truncated spheroid is either a cap (H/D_z ≤ 0.4, contact angle below
about 80° for a sphere) or a spheroid cut below its equator (H/D_z ≥ 0.6)."""

from __future__ import annotations

import numpy as np

from ._amplitude import axial_kernel, axial_profile_amplitude
from ._table import Parameter, ShapeModel, aspect, diameter, fwhm, steps

Z_NODES = 24


def _dims(D_y: float, aspect: float, h_ratio: float) -> tuple[float, float, float, float]:
    """(R, R_z, H, z_c): radii, kept height and the spheroid centre's height above the base (nm)."""
    r, rz = 0.5 * D_y, 0.5 * aspect * D_y
    height = h_ratio * 2.0 * rz
    return r, rz, height, height - rz


def volume(D_y: float, aspect: float, h_ratio: float) -> float:
    """π R² [H − (R_z³ + z_c³)/(3 R_z²)] (nm³)."""
    r, rz, height, zc = _dims(D_y, aspect, h_ratio)
    return np.pi * r**2 * (height - (rz**3 + zc**3) / (3.0 * rz**2))


def _profile(D_y: float, aspect: float, h_ratio: float):
    """(z0, z1, r²(z)): the profile's z range (nm) and squared radius."""
    r, rz, height, zc = _dims(D_y, aspect, h_ratio)
    return 0.0, height, lambda z: r**2 * (1.0 - ((z - zc) / rz) ** 2)


def form_factor(qx, qy, qz, D_y: float, aspect: float, h_ratio: float, z_nodes: int = Z_NODES) -> np.ndarray:
    """Gauss–Legendre over z ∈ [0, H] of discs of radius² R²(1 − (z − z_c)²/R_z²)."""
    q_par = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2)
    return axial_profile_amplitude(q_par, qz, *_profile(D_y, aspect, h_ratio), z_nodes)


shape = ShapeModel(
    name="truncated_spheroid",
    description=__doc__.strip(),
    parameters=(
        diameter("the full spheroid's equatorial diameter (mode of the size distribution); below h_ratio 0.5 the "
                 "particle's widest is its footprint, narrower"),
        aspect(0.3, 0.9, description="the full spheroid's height over its diameter, D_z/D_y (the particle is "
                                     "h_ratio·D_z tall)"),
        fwhm(),
        Parameter("h_ratio", "", 0.6, (0.01, 1.0), (0.2, 0.8), "kept height over spheroid height, H/D_z", "shape",
                  excluded=(0.4, 0.6)),
    ),
    form_factor=form_factor,
    volume=volume,
    paper_grid={"D_y": (10.0, 20.0, 30.0, 40.0), "aspect": steps(0.3, 0.9, 0.1), "fwhm": (3.0, 9.0, 15.0),
                "h_ratio": steps(0.2, 0.8, 0.2)},
    z_extent=lambda D_y, aspect, h_ratio: h_ratio * aspect * D_y,
    kernel=axial_kernel(_profile),
)
