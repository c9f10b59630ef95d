"""Percus–Yevick structure factor of hard spheres (Wertheim's closed form; Kinning & Thomas 1984).

Used in the decoupling approximation with the in-plane q∥ and the hard-sphere diameter equal to the
mode of D_y: a 3-D hard-sphere liquid at volume fraction η seen along q∥ (as FitGISAXS does).
"""

from __future__ import annotations

import numpy as np

_SMALL = 1e-3


def compressibility_limit(eta: float) -> float:
    """S(0) = (1 − η)⁴ / (1 + 2η)², the PY isothermal compressibility value."""
    return (1.0 - eta) ** 4 / (1.0 + 2.0 * eta) ** 2


def percus_yevick(q: np.ndarray, diameter: float, eta: float) -> np.ndarray:
    """S(q) for hard spheres of ``diameter`` (nm) at volume fraction ``eta``; q in nm⁻¹. S → 1 as q → ∞."""
    q = np.asarray(q, dtype=float)
    if eta == 0.0:
        return np.ones_like(q)
    a = np.abs(q) * diameter
    small = a < _SMALL
    a = np.where(small, 1.0, a)
    alpha = (1.0 + 2.0 * eta) ** 2 / (1.0 - eta) ** 4
    beta = -6.0 * eta * (1.0 + 0.5 * eta) ** 2 / (1.0 - eta) ** 4
    gamma = 0.5 * eta * alpha
    s, c = np.sin(a), np.cos(a)
    g = (alpha * (s - a * c) / a**2
         + beta * (2.0 * a * s + (2.0 - a**2) * c - 2.0) / a**3
         + gamma * (-(a**4) * c + 4.0 * ((3.0 * a**2 - 6.0) * c + (a**3 - 6.0 * a) * s + 6.0)) / a**5)
    return np.where(small, compressibility_limit(eta), 1.0 / (1.0 + 24.0 * eta * g / a))
