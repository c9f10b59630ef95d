"""Regular n-gonal prisms standing on the substrate; D_y is the diameter of the circumscribed circle."""

from __future__ import annotations

import numpy as np

from ._amplitude import polygon_amplitude, regular_polygon, slab_amplitude
from ._kernel import Separable
from ._table import ShapeModel, aspect, azimuth, diameter, fwhm, steps


def prism(n: int, description: str) -> ShapeModel:
    """The ShapeModel of a regular ``n``-gonal prism of height H = D_z, one vertex on +x at azimuth 0."""

    def area(D_y: float) -> float:
        return 0.5 * n * (0.5 * D_y) ** 2 * np.sin(2.0 * np.pi / n)

    def volume(D_y: float, aspect: float) -> float:
        """Base area × height (nm³)."""
        return area(D_y) * aspect * D_y

    def form_factor(qx, qy, qz, D_y: float, aspect: float) -> np.ndarray:
        """Polygon amplitude(q_x, q_y) · H sinc(q_z H/2) e^{i q_z H/2}."""
        height = aspect * D_y
        base = polygon_amplitude(qx, qy, regular_polygon(n, 0.5 * D_y))
        return height * base * slab_amplitude(qz, height)

    def vertical(D_y: float, aspect: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One slab of height H from z = 0: (w, c, L) = (H, H/2, H)."""
        height = aspect * D_y
        return np.array([height]), np.array([0.5 * height]), np.array([height])

    def inplane(qx, qy, D_y: float, aspect: float) -> np.ndarray:
        """The polygon amplitude (nm²) on a trailing axis of length 1."""
        return polygon_amplitude(qx, qy, regular_polygon(n, 0.5 * D_y))[..., np.newaxis]

    period = 360.0 / n
    return ShapeModel(
        name=f"prism{n}",
        description=description,
        parameters=(diameter(), aspect(0.3, 0.9), fwhm(), *azimuth(period)),
        form_factor=form_factor,
        volume=volume,
        paper_grid={"D_y": steps(5, 40, 5), "aspect": steps(0.3, 0.9, 0.1), "fwhm": steps(3, 18, 3)},
        orientation_period_deg=period,
        kernel=Separable(vertical, inplane, isotropic=False, mirrored=True),
    )
