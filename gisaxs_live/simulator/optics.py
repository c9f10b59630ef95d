"""Substrate reflection and the four DWBA terms for islands on a substrate (angles in rad, q in nm⁻¹)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def fresnel_r(alpha: np.ndarray, n: complex) -> np.ndarray:
    """Fresnel reflection coefficient of the substrate (any polarisation at grazing angles):
    r(α) = (sin α − √(n² − cos² α)) / (sin α + √(n² − cos² α)), n = 1 − δ + iβ. r → −1 as α → 0."""
    alpha = np.asarray(alpha, dtype=float)
    sin_a = np.sin(alpha)
    root = np.sqrt((n**2 - 1.0) + sin_a**2 + 0j)  # n² − cos² α without cancellation
    return (sin_a - root) / (sin_a + root)


def critical_angle(n: complex) -> float:
    """α_c = √(2δ) (rad), where total external reflection ends."""
    return math.sqrt(2.0 * (1.0 - n.real))


def dwba_amplitude(form_factor: Callable[[np.ndarray], np.ndarray], k: float, alpha_i: float,
                   alpha_f: np.ndarray, n_substrate: complex) -> np.ndarray:
    """F_DWBA = F(k_fz − k_iz) + r̄(α_i) F(k_fz + k_iz) + r̄(α_f) F(−k_fz − k_iz) + r̄(α_i) r̄(α_f) F(−k_fz + k_iz),
    with k_iz = −k sin α_i, k_fz = k sin α_f and r̄ the complex conjugate of the Fresnel coefficient.

    Why conjugated: the form factors use F(q) = ∫ e^{+i q·r} d³r and the fields e^{+i k·r} (n = 1 − δ + iβ).
    The matrix element ⟨Ψ_f⁻|V|Ψ_i⟩ weights V by the incident field e^{i k_i·r} + r(α_i) e^{i k_i'·r} times the
    reciprocal field incident from the detector, e^{−i k_f·r} + r(α_f) e^{−i k_f'·r}: that is
    Σ c_j F(−Q_j) with c = (1, r_i, r_f, r_i r_f) and Q_j the four q_z above, and for a real shape at real q
    F(−Q) = conj F(Q), so it equals conj(Σ c̄_j F(Q_j)) — this function up to a complex conjugation, which
    leaves |F_DWBA|² and |⟨F_DWBA⟩|² unchanged. For a point at height h it gives the standing-wave product
    |e^{−i s_i h} + r_i e^{i s_i h}|² |e^{−i s_f h} + r_f e^{i s_f h}|², s = k sin α (tests/test_physics.py).
    Unconjugated r with an e^{+iq·r} F is wrong wherever r is complex: near and below the critical angle,
    where α_i = 0.2° lies for Si at 0.15 nm. BornAgain 25 agrees with this form (tests/test_bornagain.py).

    ``form_factor(qz)`` returns F at the in-plane q of the caller for a q_z array; it is called once with
    the four q_z values stacked on a new leading axis. Below the horizon (α_f < 0 or NaN) F_DWBA = 0.
    """
    alpha_f = np.asarray(alpha_f, dtype=float)
    above = np.isfinite(alpha_f) & (alpha_f >= 0.0)
    af = np.where(above, alpha_f, 0.0)
    kiz = -k * math.sin(alpha_i)
    kfz = k * np.sin(af)
    f = form_factor(np.stack([kfz - kiz, kfz + kiz, -kfz - kiz, -kfz + kiz]))
    r_i = complex(fresnel_r(np.asarray(alpha_i), n_substrate)).conjugate()
    r_f = np.conj(fresnel_r(af, n_substrate))
    total = f[0] + r_i * f[1] + r_f * f[2] + r_i * r_f * f[3]
    return np.where(above, total, 0.0)


def scattering_prefactor(k: float, n_particle: complex) -> float:
    """|k² (1 − n_p²) / (4π)|² (nm⁻⁴): turns |F|² (nm⁶) into a cross-section dσ/dΩ (nm²) per particle."""
    return abs(k**2 * (1.0 - n_particle**2) / (4.0 * math.pi)) ** 2
