"""Vertical circular cylinder standing on the substrate: radius R = D_y/2, height H = D_z."""

from __future__ import annotations

import numpy as np

from ._amplitude import disc_amplitude, slab_amplitude
from ._kernel import Separable
from ._table import ShapeModel, aspect, diameter, fwhm, steps


def volume(D_y: float, aspect: float) -> float:
    """π R² H (nm³)."""
    return np.pi * (0.5 * D_y) ** 2 * aspect * D_y


def form_factor(qx, qy, qz, D_y: float, aspect: float) -> np.ndarray:
    """π R² H · 2J1(q∥R)/(q∥R) · sinc(q_z H/2) e^{i q_z H/2}."""
    q_par = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2)
    return volume(D_y, aspect) * disc_amplitude(q_par * 0.5 * D_y) * slab_amplitude(qz, aspect * D_y)


def vertical(D_y: float, aspect: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One slab of height H from z = 0: (w, c, L) = (H, H/2, H)."""
    height = aspect * D_y
    return np.array([height]), np.array([0.5 * height]), np.array([height])


def inplane(qx, qy, D_y: float, aspect: float) -> np.ndarray:
    """π R² · 2J1(q∥R)/(q∥R) (nm²) on a trailing axis of length 1."""
    r = 0.5 * D_y
    q_par = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2)
    return (np.pi * r**2 * disc_amplitude(q_par * r))[..., np.newaxis]


shape = ShapeModel(
    name="cylinder",
    description=__doc__.strip(),
    parameters=(diameter(), aspect(0.3, 0.9), fwhm()),
    form_factor=form_factor,
    volume=volume,
    paper_grid={"D_y": steps(5, 40, 5), "aspect": steps(0.3, 0.9, 0.1), "fwhm": steps(3, 18, 3)},
    kernel=Separable(vertical, inplane, isotropic=True),
)
