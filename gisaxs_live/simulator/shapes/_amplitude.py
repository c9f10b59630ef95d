"""Building blocks of the form factors: normalised amplitudes of spheres, discs, slabs and polygons,
and Gauss–Legendre quadrature along z of axially symmetric profiles. Lengths in nm, q in nm⁻¹."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy.special import j1

from ..tables import scaled_disc_amplitude
from ..trig import expi, sinc, sincos
from ._kernel import Separable

_SMALL = 1e-4


def _real(x, what: str) -> np.ndarray:
    """``x`` as a float array; a ValueError for complex input (these amplitudes are for real q only: a cast
    would drop the imaginary part)."""
    if np.iscomplexobj(x):
        raise ValueError(f"{what} takes real q only, got complex values")
    return np.asarray(x, dtype=float)


def sphere_amplitude(u: np.ndarray) -> np.ndarray:
    """3 (sin u − u cos u) / u³, the sphere's form factor over its volume; → 1 − u²/10 as u → 0."""
    u = _real(u, "the sphere amplitude")
    small = u < _SMALL
    us = np.where(small, 1.0, u)
    exact = 3.0 * (np.sin(us) - us * np.cos(us)) / us**3
    return np.where(small, 1.0 - u**2 / 10.0, exact)


def disc_amplitude(x: np.ndarray) -> np.ndarray:
    """2 J1(x) / x, a disc's form factor over its area; → 1 − x²/8 as x → 0."""
    x = _real(x, "the disc amplitude")
    small = x < _SMALL
    xs = np.where(small, 1.0, x)
    return np.where(small, 1.0 - x**2 / 8.0, 2.0 * j1(xs) / xs)


def slab_amplitude(qz: np.ndarray, height: float) -> np.ndarray:
    """∫₀ᴴ e^{i q_z z} dz / H = e^{i q_z H/2} sinc(q_z H/2), for a slab from z = 0 to z = H."""
    half = np.asarray(qz) * (0.5 * height)
    return np.exp(1j * half) * np.sinc(half / np.pi)


def polygon_amplitude(qx: np.ndarray, qy: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """∫_P e^{i q·r} d²r (nm²) over a polygon with counter-clockwise ``vertices`` (N, 2), by the divergence
    theorem: (−i/q²) Σ_edges (q·n_j l_j) e^{i q·M_j} sinc(q·E_j/2), with M_j the edge midpoint, E_j the
    edge vector and n_j l_j its outward normal times its length. Equals the area at q = 0.

    A centrosymmetric polygon (even N, V_{j+N/2} = −V_j: the hexagon) has opposite edges with E, M and n
    reversed, so each pair gives 2i (q·n_j l_j) sin(q·M_j) sinc(q·E_j/2): the amplitude is real and half the
    edges are summed (returned as a float array)."""
    qx, qy = np.broadcast_arrays(_real(qx, "the polygon amplitude"), _real(qy, "the polygon amplitude"))
    edges = np.roll(vertices, -1, axis=0) - vertices
    mids = vertices + 0.5 * edges
    area = 0.5 * np.sum(vertices[:, 0] * edges[:, 1] - vertices[:, 1] * edges[:, 0])
    q2 = qx**2 + qy**2
    size = np.max(np.hypot(vertices[:, 0], vertices[:, 1]))
    small = q2 * size**2 < _SMALL**2
    q2s = np.where(small, 1.0, q2)
    if _centrosymmetric(vertices, size):
        total = np.zeros(qx.shape)
        for (ex, ey), (mx, my) in zip(edges[:len(edges) // 2], mids):
            total += (qx * ey - qy * ex) * sincos(qx * mx + qy * my)[0] * sinc(0.5 * (qx * ex + qy * ey))
        return np.where(small, area, 2.0 * total / q2s)
    total = np.zeros(qx.shape, dtype=complex)
    for (ex, ey), (mx, my) in zip(edges, mids):
        q_dot_n = qx * ey - qy * ex
        half = 0.5 * (qx * ex + qy * ey)
        total += q_dot_n * expi(qx * mx + qy * my) * sinc(half)
    return np.where(small, area, -1j * total / q2s)


def _centrosymmetric(vertices: np.ndarray, size: float) -> bool:
    """Whether V_{j+N/2} = −V_j for every vertex (to 1e-12 of the polygon's size, nm)."""
    half = len(vertices) // 2
    return len(vertices) % 2 == 0 and bool(np.all(np.abs(vertices[half:] + vertices[:half]) <= 1e-12 * size))


def regular_polygon(n: int, circumradius: float) -> np.ndarray:
    """Vertices (n, 2) of a regular n-gon centred at the origin, first vertex on +x, counter-clockwise."""
    angles = 2.0 * np.pi * np.arange(n) / n
    return circumradius * np.column_stack([np.cos(angles), np.sin(angles)])


@lru_cache(maxsize=None)
def gauss_legendre(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [−1, 1] (cached, read-only)."""
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    x.flags.writeable = False
    w.flags.writeable = False
    return x, w


def z_node_count(least: int, largest_qz: float, extent: float) -> int:
    """Gauss–Legendre nodes for ∫ e^{i q_z z} r(z)² dz over ``extent`` (nm) up to |q_z| = ``largest_qz`` (nm⁻¹):
    at least ``least``, and 0.6 ω + 12 with ω = q_z·extent/2 the integrand's frequency on [−1, 1] (measured for
    the spheroidal profiles up to ω = 150: error below 2e-12 of the volume; 24 nodes at ω = 75 were 4 % off), at most
    ``MAX_Z_NODES`` (a particle microns tall, far outside every trained range, is then under-resolved at large q)."""
    return min(max(least, math.ceil(0.3 * largest_qz * extent) + 12), max(least, MAX_Z_NODES))


#: the most Gauss–Legendre nodes ``z_node_count`` gives: enough for q_z·H up to 3,000 (a 1-µm island at 3 nm⁻¹)
MAX_Z_NODES = 1024


def axial_nodes(z0: float, z1: float, radius_sq, n_nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes z (nm), their length weights (nm) and r(z)² (nm², clipped at 0) on [z0, z1]."""
    x, w = gauss_legendre(n_nodes)
    half = 0.5 * (z1 - z0)
    z = z0 + half * (x + 1.0)
    return z, half * w, np.clip(radius_sq(z), 0.0, None)


def disc_terms(q_par: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """π r² · 2J1(q∥ r)/(q∥ r) for each r² on a trailing axis (nm²); 2J1(x)/x from its table
    (``simulator.tables``, within 5e-12)."""
    return np.pi * r2 * scaled_disc_amplitude(np.asarray(q_par)[..., np.newaxis], np.sqrt(r2))


#: a solid of revolution about z given by its geometry: (z0, z1, r²(z)), its z range (nm) and squared radius (nm²)
Profile = Callable[..., tuple[float, float, Callable[[np.ndarray], np.ndarray]]]


def axial_kernel(profile: Profile) -> Separable:
    """The fast path's kernel (``_kernel.Separable``) of ``axial_profile_amplitude`` over ``profile(**geometry)``:
    its ``z_nodes`` Gauss–Legendre nodes as terms of zero length, a disc π r² · 2J1(q∥ r)/(q∥ r) in-plane at each."""

    def vertical(*, z_nodes: int, **geometry: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(length weights (nm), heights (nm), zero lengths) of the nodes."""
        z, weight, _ = axial_nodes(*profile(**geometry), z_nodes)
        return weight, z, np.zeros_like(z)

    def inplane(qx, qy, *, z_nodes: int, **geometry: float) -> np.ndarray:
        """π r(z_n)² · 2J1(q∥ r)/(q∥ r) at each node (nm², trailing axis)."""
        q_par = np.sqrt(np.asarray(qx) ** 2 + np.asarray(qy) ** 2)
        return disc_terms(q_par, axial_nodes(*profile(**geometry), z_nodes)[2])

    return Separable(vertical, inplane, isotropic=True)


def axial_profile_amplitude(q_par: np.ndarray, qz: np.ndarray, z0: float, z1: float,
                            radius_sq, n_nodes: int) -> np.ndarray:
    """∫_{z0}^{z1} π r(z)² · 2J1(q∥ r)/(q∥ r) · e^{i q_z z} dz (nm³) by Gauss–Legendre with ``n_nodes``.

    ``radius_sq(z)`` gives r(z)² (nm²). For the shapes here r² is a polynomial in z, so the integrand is
    analytic and the quadrature converges exponentially. ``q_par`` and ``qz`` broadcast against each other.
    """
    z, length_weight, r2 = axial_nodes(z0, z1, radius_sq, n_nodes)
    weight = length_weight * np.pi * r2
    disc = disc_amplitude(np.asarray(q_par)[..., np.newaxis] * np.sqrt(r2))
    phase = np.exp(1j * np.asarray(qz)[..., np.newaxis] * z)
    return np.einsum("...k,...k->...", phase * weight, disc)
