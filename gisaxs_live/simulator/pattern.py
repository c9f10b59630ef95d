"""GISAXS intensity of a particle ensemble: DWBA amplitudes averaged over the log-normal size distribution
and the in-plane orientations, combined by the decoupling approximation
I = P · [⟨|F|²⟩ − |⟨F⟩|² + |⟨F⟩|² S(q∥)], in cm-free units: dσ/dΩ per particle (nm²/sr)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..config import Experiment, Simulation
from ..qgrid import QGrid, grid_wavevectors
from .distributions import lognormal_nodes, orientation_nodes
from .optics import dwba_amplitude, scattering_prefactor
from .shapes import ShapeModel
from .structure import percus_yevick


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
                        optics: Optics, simulation: Simulation) -> tuple[np.ndarray, np.ndarray]:
    """(⟨F_DWBA⟩, ⟨|F_DWBA|²⟩) over sizes and orientations at broadcastable (q_x, q_y, α_f) (nm⁻¹, rad)."""
    p = shape.check(params)
    geometry = shape.geometry(p)
    if shape.uses_z_quadrature:
        geometry["z_nodes"] = simulation.z_nodes
    sizes, weights = lognormal_nodes(p["D_y"], p["fwhm"], simulation.size_samples)
    if shape.orientation_period_deg is None:
        angles = np.zeros(1)
    else:
        angles = orientation_nodes(p["azimuth"], p["azimuth_spread"], simulation.orientation_samples)
    qx, qy = np.asarray(qx, float), np.asarray(qy, float)
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


def ensemble_intensity(shape: ShapeModel, params: Mapping[str, float], qx, qy, alpha_f,
                       optics: Optics, simulation: Simulation) -> np.ndarray:
    """dσ/dΩ per particle (nm²) in the decoupling approximation with the Percus–Yevick S(q∥), hard-sphere
    diameter = the mode of D_y; 0 below the sample horizon."""
    p = shape.check(params)
    mean_f, mean_f2 = ensemble_amplitudes(shape, p, qx, qy, alpha_f, optics, simulation)
    q_par = np.hypot(np.asarray(qx, float), np.asarray(qy, float))
    coherent = mean_f.real**2 + mean_f.imag**2
    s_q = percus_yevick(q_par, p["D_y"], optics.volume_fraction)
    intensity = mean_f2 - coherent + coherent * s_q
    return scattering_prefactor(optics.k, optics.n_particle) * np.maximum(intensity, 0.0)


def simulate_pattern(shape: ShapeModel, params: Mapping[str, float], grid: QGrid, optics: Optics,
                     simulation: Simulation) -> np.ndarray:
    """The ensemble intensity at the canonical grid's bin centres, (n_qz, n_qy) float32 (nm²)."""
    qx, qy, alpha_f = grid_wavevectors(grid, optics.k, optics.alpha_i)
    intensity = ensemble_intensity(shape, params, qx, qy, alpha_f, optics, simulation)
    return np.broadcast_to(intensity, grid.shape).astype(np.float32)
