"""GISAXS intensity of a particle ensemble: DWBA amplitudes averaged over the log-normal size distribution
and the in-plane orientations, combined by the decoupling approximation
I = P · [⟨|F|²⟩ − |⟨F⟩|² + |⟨F⟩|² S(q∥)] (or the local monodisperse one, ``Structure.approximation``), in
cm-free units: dσ/dΩ per particle (nm²/sr)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..config import Experiment, Simulation
from ..preprocess.qgrid import QGrid, grid_wavevectors
from .distributions import orientation_nodes, size_nodes
from .optics import dwba_amplitude, fresnel_r, scattering_prefactor
from .shapes import ShapeModel
from .shapes._amplitude import z_node_count
from .shapes._kernel import Ellipsoidal, Separable
from .tables import scaled_sphere_amplitude
from .structure import Structure, percus_yevick
from .trig import expi


@dataclass(frozen=True)
class Optics:
    """The experiment reduced to numbers: k (nm⁻¹), α_i (rad), refractive indices, volume fraction."""

    k: float
    alpha_i: float
    n_substrate: complex
    n_particle: complex
    volume_fraction: float

    @classmethod
    def from_experiment(cls, experiment: Experiment) -> "Optics":
        lam = experiment.wavelength_nm
        return cls(experiment.k_nm, experiment.alpha_i_rad, experiment.substrate.refractive_index(lam),
                   experiment.particle.refractive_index(lam), experiment.volume_fraction)


def ensemble_amplitudes(shape: ShapeModel, params: Mapping[str, float], qx, qy, alpha_f,
                        optics: Optics, simulation: Simulation,
                        distribution: str = "lognormal") -> tuple[np.ndarray, np.ndarray]:
    """(⟨F_DWBA⟩, ⟨|F_DWBA|²⟩) over sizes and orientations at broadcastable (q_x, q_y, α_f) (nm⁻¹, rad);
    sizes from the named ``distribution`` (``distributions.SIZE_DISTRIBUTIONS``) of D_y.

    On a separable grid — q_x = 0, q_y a row (1, n) and α_f a column (m, 1), as the canonical grid — shapes
    with a ``kernel`` take the fast path (``_separable_amplitudes``); everything else the general one."""
    p = shape.check(params)
    geometry = shape.geometry(p)
    qx, qy, alpha_f = np.asarray(qx, float), np.asarray(qy, float), np.asarray(alpha_f, float)
    sizes, weights = size_nodes(distribution, p["D_y"], p["fwhm"], simulation.size_samples, simulation.size_step)
    if shape.z_extent is not None:
        extent = shape.z_extent(**geometry) * float(sizes.max()) / p["D_y"]
        geometry["z_nodes"] = z_node_count(simulation.z_nodes, _largest_qz(alpha_f, optics), extent)
    angles = _orientations(shape, p, simulation.orientation_samples)
    if shape.kernel is not None and _is_separable_grid(qx, qy, alpha_f):
        return _separable_amplitudes(shape, geometry, sizes, weights, angles, qy[0], alpha_f[:, 0], optics)
    mean_f = 0.0
    mean_f2 = 0.0
    for angle in angles:
        # a particle rotated by +φ about z scatters like the unrotated one at R(−φ) q
        c, s = math.cos(angle), math.sin(angle)
        qx_r, qy_r = c * qx + s * qy, -s * qx + c * qy
        for size, weight in zip(sizes, weights):
            g = dict(geometry, D_y=float(size))
            f = dwba_amplitude(lambda qz: shape.form_factor(qx_r, qy_r, qz, **g),
                               optics.k, optics.alpha_i, alpha_f, optics.n_substrate)
            w = weight / len(angles)
            mean_f = mean_f + w * f
            mean_f2 = mean_f2 + w * (f.real**2 + f.imag**2)
    return mean_f, mean_f2


def _orientations(shape: ShapeModel, p: Mapping[str, float], n: int) -> np.ndarray:
    """The in-plane angles (rad) averaged over: ``n`` nodes of the spread about the azimuth, or one angle for a
    shape symmetric about z. An average over a whole period does not depend on its centre, so it is taken about
    azimuth 0: there the nodes come in mirror pairs (φ, −φ), which the fast path evaluates once
    (``_orientation_shares``; the ellipsoid in half its time; at the default 24 orientations the patterns lie within
    a grey level of those about any other centre and of 144 orientations; with a handful of orientations neither
    centre is converged, and the azimuth no longer picks among the errors)."""
    period = shape.orientation_period_deg
    if period is None:
        return np.zeros(1)
    whole = p["azimuth_spread"] >= period
    return orientation_nodes(0.0 if whole else p["azimuth"], p["azimuth_spread"], n)


def _largest_qz(alpha_f: np.ndarray, optics: Optics) -> float:
    """The largest |q_z| (nm⁻¹) of the DWBA terms at exit angles ``alpha_f`` (rad): k (sin α_f + sin α_i)."""
    finite = alpha_f[np.isfinite(alpha_f)]
    top = max(float(finite.max()), 0.0) if finite.size else 0.0
    return optics.k * (math.sin(top) + math.sin(optics.alpha_i))


def _is_separable_grid(qx: np.ndarray, qy: np.ndarray, alpha_f: np.ndarray) -> bool:
    return (qx.size == 1 and float(qx.reshape(-1)[0]) == 0.0 and qy.ndim == 2 and qy.shape[0] == 1
            and alpha_f.ndim == 2 and alpha_f.shape[1] == 1)


def _abs2(z: np.ndarray) -> np.ndarray:
    return z.real**2 + z.imag**2


def _separable_amplitudes(shape: ShapeModel, geometry: dict, sizes: np.ndarray, weights: np.ndarray,
                          angles: np.ndarray, qy: np.ndarray, alpha_f: np.ndarray,
                          optics: Optics) -> tuple[np.ndarray, np.ndarray]:
    """The general path's sums, rearranged for q_x = 0, q_y per column (n,) and α_f per row (m,).

    The four DWBA terms need F at q_z = ±Q0, ±Q1 per row, Q0 = k(sin α_f + sin α_i), Q1 = k(sin α_f − sin α_i),
    and every kernel's vertical factor obeys Z(−Q) = conj Z(Q) (a real profile along z), so only Q0 and Q1
    are evaluated; the Fresnel coefficients are computed once per pattern, not per size."""
    above = np.isfinite(alpha_f) & (alpha_f >= 0.0)
    af = np.where(above, alpha_f, 0.0)
    s_i, s_f = optics.k * math.sin(optics.alpha_i), optics.k * np.sin(af)
    # the same coefficients as dwba_amplitude: 1, r̄_i, r̄_f, r̄_i r̄_f for F(Q0), F(Q1), F(−Q1), F(−Q0)
    r_i = complex(fresnel_r(np.asarray(optics.alpha_i), optics.n_substrate)).conjugate()
    r_f = np.conj(fresnel_r(af, optics.n_substrate))
    coefficients = (r_i, r_f, r_i * r_f)
    angles, share = _orientation_shares(shape, angles)
    average = _ellipsoidal if isinstance(shape.kernel, Ellipsoidal) else _separable
    mean_f, mean_f2 = average(shape.kernel, geometry, sizes, weights, angles, share, qy, s_f, s_i, coefficients)
    mask = above[:, np.newaxis]
    return np.where(mask, mean_f, 0.0), np.where(mask, mean_f2, 0.0)


def _orientation_shares(shape: ShapeModel, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The orientations (rad) the fast path evaluates and their shares of the average: one for a kernel that is
    isotropic, ``angles`` with mirror images merged for one that is ``mirrored``, else ``angles`` in equal shares."""
    kernel, period = shape.kernel, shape.orientation_period_deg
    if kernel.isotropic:
        return angles[:1], np.ones(1)
    if kernel.mirrored and period is not None:
        return _mirror_merged(angles, math.radians(period))
    return angles, np.full(len(angles), 1.0 / len(angles))


def _mirror_merged(angles: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray]:
    """(orientations, their shares of the average): ``angles`` (rad) with φ and π − φ (modulo the ``period``, rad)
    merged, as they scatter alike at q_x = 0 for a particle that is its own mirror image under y → −y; equal to
    1e-12 rad. About azimuth 0, a whole period's nodes pair up so (for an ellipsoid, period π: φ and −φ)."""
    key = np.mod(angles, period)
    partner = np.mod(np.pi - angles, period)
    canonical = np.round(np.minimum(key, partner), 12)
    canonical[np.isclose(canonical, period, rtol=0.0, atol=1e-12)] = 0.0
    _, first, counts = np.unique(canonical, return_index=True, return_counts=True)
    return angles[first], counts / len(angles)


#: rows of the canonical grid per block of ``_ellipsoidal``: about 2**16 Φ values each (orientations × 2 × sizes
#: × columns × rows), so that its temporaries stay in a core's cache
_ELLIPSOID_BLOCK = 2**16


def _ellipsoidal(kernel: Ellipsoidal, geometry, sizes, weights, angles, share, qy, s_f, s_i, coefficients):
    """F = V Φ(u) e^{i q_z R_z}: the DWBA sum is V [Φ(u₀) k₀ + Φ(u₁) k₁] with per-row phases
    k₀ = e^{iQ0 R_z} + r̄_i r̄_f e^{−iQ0 R_z}, k₁ = r̄_i e^{iQ1 R_z} + r̄_f e^{−iQ1 R_z} and Φ real, so the
    orientation averages of Φ, Φ² and Φ₀Φ₁ are taken before the complex phases enter. Every radius is D_y
    times a ratio, so u at size λ·D_y is λ times u at the mode: one unit-size u serves all sizes, and the sums
    over sizes are small matrix products per row. Orientations ``angles`` (rad) weighted by ``share``."""
    q0, q1 = s_f + s_i, s_f - s_i
    s2, c2 = np.sin(angles) ** 2, np.cos(angles) ** 2
    scale = np.asarray(sizes, float) / geometry["D_y"]
    rx, ry, rz = kernel.radii(**geometry)
    # u at the mode's size: (orientation, row, Q0 or Q1, 1, column)
    inplane = (s2 * rx**2 + c2 * ry**2)[:, np.newaxis, np.newaxis, np.newaxis, np.newaxis] * qy**2
    unit = np.sqrt(inplane + (np.stack([q0, q1], axis=1) * rz)[np.newaxis, :, :, np.newaxis, np.newaxis] ** 2)
    amplitude, intensity = _ellipsoid_coefficients(scale, np.asarray(weights, float), (rx, ry, rz), q0, q1,
                                                   coefficients)
    m, n = len(q0), len(qy)
    mean_f = np.empty((m, n), complex)
    mean_f2 = np.empty((m, n))
    rows = max(1, _ELLIPSOID_BLOCK // unit[:, 0].size // len(scale))
    for start in range(0, m, rows):
        block = slice(start, start + rows)
        f_parts, mean_f2[block] = _ellipsoid_rows(unit[:, block], scale, share, amplitude[block], intensity[block])
        mean_f[block] = f_parts[:, 0] + 1j * f_parts[:, 1]
    return mean_f, mean_f2


def _ellipsoid_coefficients(scale: np.ndarray, weights: np.ndarray, radii: tuple[float, float, float],
                            q0: np.ndarray, q1: np.ndarray, coefficients: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the weights of the orientation averages in ⟨F⟩ and ⟨|F|²⟩ (nm³, nm⁶): (m, 2, 2S) real and
    imaginary parts of w V k₀, w V k₁ per size, and (m, 1, 3S) w V² (|k₀|², |k₁|², 2 Re k₀ k̄₁)."""
    r_i, r_f, r_if = coefficients
    rx, ry, rz = radii
    volume = 4.0 / 3.0 * math.pi * rx * ry * rz * scale**3  # (S,)
    rz_s = rz * scale
    e0, e1 = np.exp(1j * np.outer(q0, rz_s)), np.exp(1j * np.outer(q1, rz_s))  # (m, S)
    k0 = e0 + r_if[:, np.newaxis] * np.conj(e0)
    k1 = r_i * e1 + r_f[:, np.newaxis] * np.conj(e1)
    c = np.concatenate([k0, k1], axis=1) * np.tile(weights * volume, 2)  # (m, 2S)
    amplitude = np.stack([c.real, c.imag], axis=1)
    d = np.concatenate([_abs2(k0), _abs2(k1), 2.0 * (k0 * np.conj(k1)).real], axis=1)
    return amplitude, (d * np.tile(weights * volume**2, 3))[:, np.newaxis, :]


def _ellipsoid_rows(unit: np.ndarray, scale: np.ndarray, share: np.ndarray, amplitude: np.ndarray,
                    intensity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One block of rows: Φ at every size and distinct orientation, its orientation averages and their
    weighted sums over sizes: ((rows, 2, n) Re and Im of ⟨F⟩, (rows, n) ⟨|F|²⟩)."""
    rows, n, sizes = unit.shape[1], unit.shape[-1], len(scale)
    phi = scaled_sphere_amplitude(unit, scale[:, np.newaxis])  # (A, rows, 2, S, n)
    weighted = phi * share[:, np.newaxis, np.newaxis, np.newaxis, np.newaxis]
    mean_phi = weighted.sum(axis=0).reshape(rows, -1, n)  # (rows, 2S, n)
    mean_products = np.empty((rows, 3, sizes, n))
    for k, (i, j) in enumerate(((0, 0), (1, 1), (0, 1))):  # ⟨Φ₀²⟩, ⟨Φ₁²⟩, ⟨Φ₀Φ₁⟩
        np.einsum("arsn,arsn->rsn", weighted[:, :, i], phi[:, :, j], out=mean_products[:, k])
    return amplitude @ mean_phi, (intensity @ mean_products.reshape(rows, -1, n))[:, 0]


def _separable(kernel: Separable, geometry, sizes, weights, angles, share, qy, s_f, s_i, coefficients):
    """F = Σ_t Z_t(q_z) P_t(q∥): per size the DWBA sum is (Σ_j c_j Z(Q_j)) @ P, an (m × T)(T × n) product;
    with one term (prisms, cylinder) it is an outer product and the orientation average (orientations ``angles``,
    rad, weighted by ``share``) acts on P alone. e^{i Q c} at Q0 = s_f + s_i and Q1 = s_f − s_i is
    e^{i s_f c} e^{±i s_i c}."""
    r_i, r_f, r_if = coefficients
    q0, q1 = s_f + s_i, s_f - s_i
    cos_a, sin_a = np.cos(angles), np.sin(angles)
    # rotated q at q_x = 0: (q_x', q_y') = (sin φ q_y, cos φ q_y), one row per orientation
    qx_r, qy_r = sin_a[:, np.newaxis] * qy, cos_a[:, np.newaxis] * qy
    # every length of a shape is D_y times a ratio, so size λ·D_y has Z_λ(q_z) from (λw, λc, λL) and
    # P_λ(q∥) = λ² P(λ q∥): one evaluation at the mode's geometry covers all sizes
    scale = np.asarray(sizes, float) / geometry["D_y"]
    w, c, length = (np.asarray(a, float) for a in kernel.vertical(**geometry))
    w_s, c_s = scale[:, np.newaxis] * w, scale[:, np.newaxis] * c  # (S, T)
    x = s_f[np.newaxis, :, np.newaxis] * c_s[:, np.newaxis, :]  # (S, m, T)
    we_f = w_s[:, np.newaxis, :] * expi(x)
    e_i = np.exp(1j * s_i * c_s)[:, np.newaxis, :]
    z0, z1 = we_f * e_i, we_f * np.conj(e_i)
    slab = length > 0.0
    if slab.any():
        half_length = (scale[:, np.newaxis] * length[slab])[:, np.newaxis, :] / (2.0 * np.pi)
        z0[..., slab] *= np.sinc(q0[:, np.newaxis] * half_length)
        z1[..., slab] *= np.sinc(q1[:, np.newaxis] * half_length)
    zc = z0 + r_i * z1 + r_f[:, np.newaxis] * np.conj(z1) + r_if[:, np.newaxis] * np.conj(z0)  # (S, m, T)
    lam = scale[:, np.newaxis, np.newaxis]
    p = kernel.inplane(lam * qx_r, lam * qy_r, **geometry) * (lam**2)[..., np.newaxis]  # (S, orientations, n, T)
    w = np.asarray(weights, float)
    if zc.shape[-1] == 1:
        zc1, p1 = zc[..., 0], p[..., 0]  # (S, m), (S, orientations, n)
        mean_f = (zc1.T * w) @ (share @ p1)
        mean_f2 = (_abs2(zc1).T * w) @ (share @ _abs2(p1))
        return mean_f, mean_f2
    m, n = zc.shape[1], p.shape[2]
    real_p = not np.iscomplexobj(p)
    z_parts = np.concatenate([zc.real, zc.imag], axis=1) if real_p else zc  # (S, 2m, T): two real products
    mean_f = 0.0
    mean_f2 = 0.0
    for a in range(p.shape[1]):
        amplitude = z_parts @ np.ascontiguousarray(np.swapaxes(p[:, a], 1, 2))  # (S, 2m or m, n)
        mean = w @ amplitude.reshape(len(w), -1)
        power = w @ (amplitude * amplitude.conj()).real.reshape(len(w), -1)
        if real_p:
            mean = mean[:m * n] + 1j * mean[m * n:]
            power = power[:m * n] + power[m * n:]
        mean_f = mean_f + share[a] * mean.reshape(m, n)
        mean_f2 = mean_f2 + share[a] * power.reshape(m, n)
    return mean_f, mean_f2


def ensemble_intensity(shape: ShapeModel, params: Mapping[str, float], qx, qy, alpha_f,
                       optics: Optics, simulation: Simulation, structure: Structure | None = None,
                       distribution: str = "lognormal") -> np.ndarray:
    """dσ/dΩ per particle (nm²) in the decoupling approximation with the Percus–Yevick S(q∥), hard-sphere
    diameter = the mode of D_y, at the optics' volume fraction (or the given ``structure``'s S(q∥), in its
    ``approximation``); 0 below the sample horizon."""
    p = shape.check(params)
    q_par = np.hypot(np.asarray(qx, float), np.asarray(qy, float))
    if structure is not None and structure.approximation == "local_monodisperse":
        intensity = _local_monodisperse(shape, p, qx, qy, alpha_f, q_par, optics, simulation, structure,
                                        distribution)
    else:
        mean_f, mean_f2 = ensemble_amplitudes(shape, p, qx, qy, alpha_f, optics, simulation, distribution)
        if structure is None:
            s_q = percus_yevick(q_par, p["D_y"], optics.volume_fraction)
        else:
            s_q = structure.factor(q_par, p["D_y"])
        intensity = _decoupled(mean_f, mean_f2, s_q)
    return scattering_prefactor(optics.k, optics.n_particle) * np.maximum(intensity, 0.0)


def _decoupled(mean_f: np.ndarray, mean_f2: np.ndarray, s_q: np.ndarray) -> np.ndarray:
    """⟨|F|²⟩ − |⟨F⟩|² + |⟨F⟩|² S(q∥) (nm⁶ before the prefactor)."""
    coherent = mean_f.real**2 + mean_f.imag**2
    return mean_f2 - coherent + coherent * s_q


def _local_monodisperse(shape: ShapeModel, p: dict[str, float], qx, qy, alpha_f, q_par: np.ndarray,
                        optics: Optics, simulation: Simulation, structure: Structure,
                        distribution: str) -> np.ndarray:
    """Σ_i n_i [⟨|F_i|²⟩ − |⟨F_i⟩|² + |⟨F_i⟩|² S(q∥; D_i)] over the size nodes D_i (number fractions n_i) of
    ``distribution``: each size in a domain of its own with ``structure`` scaled to D_i, the in-plane
    orientations averaged within it."""
    sizes, weights = size_nodes(distribution, p["D_y"], p["fwhm"], simulation.size_samples, simulation.size_step)
    one_size = replace(simulation, size_samples=1)
    total = 0.0
    for size, weight in zip(sizes, weights):
        mean_f, mean_f2 = ensemble_amplitudes(shape, dict(p, D_y=float(size)), qx, qy, alpha_f, optics,
                                              one_size, distribution)
        total = total + weight * _decoupled(mean_f, mean_f2, structure.factor(q_par, float(size)))
    return total


def simulate_pattern(shape: ShapeModel, params: Mapping[str, float], grid: QGrid, optics: Optics,
                     simulation: Simulation, structure: Structure | None = None,
                     distribution: str = "lognormal") -> np.ndarray:
    """The ensemble intensity at the canonical grid's bin centres, (n_qz, n_qy) float32 (nm²)."""
    qx, qy, alpha_f = _grid_wavevectors(grid, optics.k, optics.alpha_i)
    intensity = ensemble_intensity(shape, params, qx, qy, alpha_f, optics, simulation, structure, distribution)
    return np.broadcast_to(intensity, grid.shape).astype(np.float32)


@lru_cache(maxsize=16)
def _grid_wavevectors(grid: QGrid, k: float, alpha_i: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``grid_wavevectors``, read-only and computed once per (grid, k, α_i): a set's patterns share them."""
    vectors = tuple(np.asarray(v, dtype=float) for v in grid_wavevectors(grid, k, alpha_i))
    for v in vectors:
        v.flags.writeable = False
    return vectors
