"""Structured descriptions of the form factors for the fast pattern path (``pattern._separable_amplitudes``).

Each shape keeps its general ``form_factor(qx, qy, qz)``; a kernel restates the same function in a form
that lets the canonical grid (q_x = 0, q_y per column, q_z per row) be computed by outer and matrix
products. Both must agree: tests/test_physics.py compares the two paths pattern by pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Ellipsoidal:
    """F(q) = V · 3(sin u − u cos u)/u³ · e^{i q_z R_z}, u² = (q_x R_x)² + (q_y R_y)² + (q_z R_z)², V = 4π/3 R_x R_y R_z:
    an ellipsoid with semi-axes ``radii(**geometry) = (R_x, R_y, R_z)`` (nm) resting on the substrate. Its axes along
    x, y and z make it its own mirror image under y → −y (``mirrored``, as ``Separable``'s)."""

    radii: Callable[..., tuple[float, float, float]]
    isotropic: bool = False
    mirrored: bool = True


@dataclass(frozen=True)
class Separable:
    """F(q) = Σ_t Z_t(q_z) · P_t(q_x, q_y), a sum of products of a vertical and an in-plane factor, with
    Z_t(q_z) = w_t e^{i q_z c_t} sinc(q_z L_t / 2) (nm): a slab of length L_t centred at height c_t with
    weight w_t, or a quadrature node at c_t when L_t = 0.

    ``vertical(**geometry)`` returns (w, c, L), three arrays of shape (T,); ``inplane(qx, qy, **geometry)``
    returns the in-plane factors (nm²) at broadcast (q_x, q_y) with a trailing axis of length T.
    ``isotropic``: P depends on |q∥| only (no in-plane orientation average needed). ``mirrored``: the particle at
    azimuth 0 is its own mirror image under y → −y, so that P(q_x, −q_y) = P(q_x, q_y) and at q_x = 0 the
    orientations φ and π − φ scatter alike (the fast path evaluates such pairs once).
    """

    vertical: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]
    inplane: Callable[..., np.ndarray]
    isotropic: bool
    mirrored: bool = False
