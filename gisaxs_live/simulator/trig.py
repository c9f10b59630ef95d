"""sin and cos of float64 arrays by table and short polynomials, to within a few ulp of ``np.sin``/``np.cos``.

NumPy 2.x computes float64 sin and cos with scalar libm calls (about 27 ns per element each on the project's
machine; complex ``exp`` and ``np.sinc`` cost the same), which made them most of the simulator's time. Here
x = n·2π/N + t with n = rint(xN/2π) and |t| ≤ π/N (the product n·2π/N in two parts, exact for
|x| < ``LIMIT``); sin and cos of n·2π/N come from an N-entry table, those of t from their Taylor series to t⁵
and t⁴ (remainders below 1e-17 for N = 1024), and the angle-addition formulas give sin x and cos x: about
7 ns per element for both. Arrays with larger or non-finite values fall back to NumPy.
"""

from __future__ import annotations

import math

import numpy as np

_N = 1024  # table nodes per period (a power of 2: n mod N is a bit mask)
_STEP = 2.0 * math.pi / _N
_STEP_HI = math.ldexp(math.floor(math.ldexp(_STEP, 40)), -40)  # 33 significant bits: n·_STEP_HI exact for n < 2²⁰
_STEP_LO = _STEP - _STEP_HI
LIMIT = 2.0**19 * _STEP  # |x| (rad) up to which the table path is used
_NODES = np.arange(_N) * _STEP_HI + np.arange(_N) * _STEP_LO
_SIN, _COS = np.sin(_NODES), np.cos(_NODES)


def sincos(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sin x, cos x) of a float64 array x (rad), both new arrays of x's shape (0-d for a scalar)."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        sin_x, cos_x = sincos(x.reshape(1))
        return sin_x.reshape(()), cos_x.reshape(())
    if x.size == 0 or not np.abs(x).max() < LIMIT:
        return np.sin(x), np.cos(x)
    return table_sincos(x)


def table_sincos(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sincos`` of a float64 array already known to lie within ±``LIMIT`` (no check)."""
    n = x * (1.0 / _STEP)
    np.rint(n, out=n)
    t = n * _STEP_HI
    np.subtract(x, t, out=t)
    t2 = n * _STEP_LO
    t -= t2
    index = n.astype(np.intp)
    index &= _N - 1
    sin_n, cos_n = _SIN.take(index), _COS.take(index)
    np.multiply(t, t, out=t2)
    sin_t = t2 * (1.0 / 120.0)  # t (1 − t²/6 + t⁴/120)
    sin_t -= 1.0 / 6.0
    sin_t *= t2
    sin_t += 1.0
    sin_t *= t
    cos_t1 = np.multiply(t2, 1.0 / 24.0, out=t)  # cos t − 1 = t² (t²/24 − 1/2)
    cos_t1 -= 0.5
    cos_t1 *= t2
    # sin x = sin_n + sin_n (cos t − 1) + cos_n sin t; cos x = cos_n + cos_n (cos t − 1) − sin_n sin t
    sin_x = sin_n * cos_t1
    sin_x += sin_n
    np.multiply(cos_n, sin_t, out=t2)
    sin_x += t2
    cos_x = np.multiply(cos_n, cos_t1, out=cos_t1)
    cos_x += cos_n
    np.multiply(sin_n, sin_t, out=sin_t)
    cos_x -= sin_t
    return sin_x, cos_x


def expi(x: np.ndarray) -> np.ndarray:
    """e^{ix} = cos x + i sin x (complex128) of a real array x (rad)."""
    sin_x, cos_x = sincos(x)
    out = np.empty(sin_x.shape, dtype=complex)
    out.real, out.imag = cos_x, sin_x
    return out


def sinc(x: np.ndarray) -> np.ndarray:
    """sin x / x (1 at x = 0) of a real array x (rad): ``np.sinc(x / π)``."""
    x = np.asarray(x, dtype=float)
    zero = x == 0.0
    safe = np.where(zero, 1.0, x)
    out = sincos(safe)[0]
    out /= safe
    out[zero] = 1.0
    return out
