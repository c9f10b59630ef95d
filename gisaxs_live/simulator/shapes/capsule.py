"""Capsule: a vertical cylinder of radius R = D_y/2 with hemispherical caps, total height D_z ≥ D_y
(cylinder length D_z − D_y), standing on the substrate. D_z = D_y is the sphere."""

from __future__ import annotations

import numpy as np

from ._amplitude import axial_nodes, axial_profile_amplitude, disc_amplitude, disc_terms, slab_amplitude
from ._kernel import Separable
from ._table import ShapeModel, aspect, diameter, fwhm, steps

Z_NODES = 24


def volume(D_y: float, aspect: float) -> float:
    """(4π/3) R³ + π R² (D_z − D_y) (nm³)."""
    r = 0.5 * D_y
    return 4.0 / 3.0 * np.pi * r**3 + np.pi * r**2 * (aspect - 1.0) * D_y


def form_factor(qx, qy, qz, D_y: float, aspect: float, z_nodes: int = Z_NODES) -> np.ndarray:
    """Lower cap z ∈ [0, R] and upper cap z ∈ [R + L, D_z] by Gauss–Legendre; the cylinder of length L
    between them in closed form."""
    r = 0.5 * D_y
    length = (aspect - 1.0) * D_y
    qz = np.asarray(qz)
    q_par = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2)
    lower = axial_profile_amplitude(q_par, qz, 0.0, r, lambda z: r**2 - (z - r) ** 2, z_nodes)
    top = r + length
    upper = axial_profile_amplitude(q_par, qz, top, top + r, lambda z: r**2 - (z - top) ** 2, z_nodes)
    middle = np.pi * r**2 * length * disc_amplitude(q_par * r) * slab_amplitude(qz, length) * np.exp(1j * qz * r)
    return lower + middle + upper


def _nodes(D_y: float, aspect: float, z_nodes: int):
    """Quadrature nodes of both caps: (z, length weights, r²), and (R, L)."""
    r = 0.5 * D_y
    length = (aspect - 1.0) * D_y
    top = r + length
    lower = axial_nodes(0.0, r, lambda z: r**2 - (z - r) ** 2, z_nodes)
    upper = axial_nodes(top, top + r, lambda z: r**2 - (z - top) ** 2, z_nodes)
    return tuple(np.concatenate(pair) for pair in zip(lower, upper)), (r, length)


def vertical(D_y: float, aspect: float, z_nodes: int = Z_NODES):
    """The caps' quadrature nodes, then the cylinder as one slab of length L centred at R + L/2."""
    (z, weight, _), (r, length) = _nodes(D_y, aspect, z_nodes)
    return (np.append(weight, length), np.append(z, r + 0.5 * length),
            np.append(np.zeros_like(z), length))


def inplane(qx, qy, D_y: float, aspect: float, z_nodes: int = Z_NODES) -> np.ndarray:
    """π r² · 2J1(q∥ r)/(q∥ r) at each cap node, then for the cylinder (r = R)."""
    (_, _, r2), (r, _) = _nodes(D_y, aspect, z_nodes)
    q_par = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2)
    return disc_terms(q_par, np.append(r2, r**2))


shape = ShapeModel(
    name="capsule",
    description=__doc__.strip(),
    parameters=(diameter(), aspect(1.1, 1.7, limits=(1.0, 100.0)), fwhm()),
    form_factor=form_factor,
    volume=volume,
    paper_grid={"D_y": steps(5, 40, 5), "aspect": steps(1.1, 1.7, 0.1), "fwhm": steps(3, 18, 3)},
    z_extent=lambda D_y, aspect: 0.5 * D_y,
    kernel=Separable(vertical, inplane, isotropic=True),
)
