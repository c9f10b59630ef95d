"""Vertical circular cylinder standing on the substrate: radius R = D_y/2, height H = D_z."""

from __future__ import annotations

import numpy as np

from ._amplitude import disc_amplitude, slab_amplitude
from ._table import ShapeModel, aspect, diameter, fwhm, steps


def volume(D_y: float, aspect: float) -> float:
    """π R² H (nm³)."""
    return np.pi * (0.5 * D_y) ** 2 * aspect * D_y


def form_factor(qx, qy, qz, D_y: float, aspect: float) -> np.ndarray:
    """π R² H · 2J1(q∥R)/(q∥R) · sinc(q_z H/2) e^{i q_z H/2}."""
    q_par = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2)
    return volume(D_y, aspect) * disc_amplitude(q_par * 0.5 * D_y) * slab_amplitude(qz, aspect * D_y)


shape = ShapeModel(
    name="cylinder",
    description=__doc__.strip(),
    parameters=(diameter(), aspect(0.3, 0.9), fwhm()),
    form_factor=form_factor,
    volume=volume,
    paper_grid={"D_y": steps(5, 40, 5), "aspect": steps(0.3, 0.9, 0.1), "fwhm": steps(3, 18, 3)},
)
