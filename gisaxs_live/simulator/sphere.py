"""The sphere's normalised amplitude Φ(u) = 3(sin u − u cos u)/u³ by a table of cubic pieces.

Φ is smooth and even, so on cells of width h = 1/256 centred at u_n = n·h a cubic in t = u/h − n (|t| ≤ 1/2),
interpolating Φ at the cell's four Chebyshev points, is within 1e-14 of it (absolute; the envelope 3/u²
falls to 2e-4 at u = ``LIMIT``). Per element: a product, a rounding, four gathers and Horner's rule, about
half the time of the table sine and cosine (``trig``) that the closed form needs. Arrays reaching
``LIMIT`` or beyond, or not finite, take the closed form (``shapes._amplitude.sphere_amplitude``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .shapes._amplitude import sphere_amplitude

_PER_UNIT = 256  # cells per unit of u
LIMIT = 128.0  # u up to which the table is used
_DEGREE = 3
#: elements per block: the dozen temporaries stay in a core's cache (2 MB L2 here)
_BLOCK = 16384


def _exact(u: np.ndarray) -> np.ndarray:
    """Φ(u) to rounding: its Taylor series 3 Σ_k (−1)^k (2k+2) u^{2k}/(2k+3)! below u = 1 (no cancellation),
    the closed form above."""
    u = np.abs(u)
    series = np.zeros_like(u)
    term = np.ones_like(u)  # u^{2k}/(2k+3)! · 3·(2k+2) built up term by term
    factorial = 6.0
    for k in range(14):
        series += (-1) ** k * 3.0 * (2 * k + 2) * term / factorial
        term = term * u * u
        factorial *= (2 * k + 4) * (2 * k + 5)
    return np.where(u < 1.0, series, sphere_amplitude(np.maximum(u, 1.0)))


@lru_cache(maxsize=1)
def _coefficients() -> tuple[np.ndarray, ...]:
    """Per cell n, the cubic's coefficients of t⁰ … t³, one read-only array (N,) each."""
    cells = np.arange(int(LIMIT * _PER_UNIT) + 2)
    points = 0.5 * np.cos(np.pi * (np.arange(_DEGREE + 1) + 0.5) / (_DEGREE + 1))  # Chebyshev, in t
    values = _exact((cells[:, np.newaxis] + points) / _PER_UNIT)
    inverse = np.linalg.inv(np.vander(points, _DEGREE + 1, increasing=True))
    coefficients = values @ inverse.T
    columns = tuple(np.ascontiguousarray(coefficients[:, k]) for k in range(_DEGREE + 1))
    for c in columns:
        c.flags.writeable = False
    return columns


def scaled_sphere_amplitude(unit: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Φ(u) at u = unit · scale (broadcast; unit ≥ 0 and scale > 0, dimensionless), a new float64 array."""
    unit, scale = np.asarray(unit, float), np.asarray(scale, float)
    if unit.size == 0 or scale.size == 0 or not float(unit.max()) * float(scale.max()) < LIMIT:
        return sphere_amplitude(unit * scale)
    x = np.multiply(unit, scale * _PER_UNIT)
    flat = x.reshape(-1)
    columns = _coefficients()
    for start in range(0, flat.size, _BLOCK):
        _table_block(flat[start:start + _BLOCK], columns)
    return x


def _table_block(x: np.ndarray, columns: tuple[np.ndarray, ...]) -> None:
    """Φ(x/256) written over x (0 ≤ x < ``LIMIT``·256), by Horner's rule in t = x − rint(x)."""
    n = np.rint(x)
    index = n.astype(np.intp)
    x -= n
    out = columns[-1].take(index)
    for c in columns[-2::-1]:
        out *= x
        out += c.take(index)
    x[...] = out
