"""Model-free descriptors against analytic limits: the Guinier radius of spheres, the correlation distance
of a paracrystal and of a Lorentzian peak, and NaN where neither is determinable."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gisaxs_live.config import Experiment, Grid, Simulation
from gisaxs_live.preprocess.descriptors import descriptors, yoneda_cut
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.simulator.pattern import Optics, simulate_pattern
from gisaxs_live.simulator.shapes import get_shape
from gisaxs_live.simulator.structure import Structure, radial_paracrystal

EXPERIMENT = Experiment()
GRID = QGrid.for_experiment(EXPERIMENT, Grid())
QY = np.broadcast_to(GRID.qy[np.newaxis, :], GRID.shape)


def sphere_intensity(radius: float, q: np.ndarray) -> np.ndarray:
    """|F(q)|² / V² of a sphere of ``radius`` (nm) at q (nm⁻¹)."""
    u = np.maximum(radius * q, 1e-6)
    return (3.0 * (np.sin(u) - u * np.cos(u)) / u**3) ** 2


def simulated(d_y: float, structure: Structure) -> np.ndarray:
    """The bundled simulator's DWBA pattern of spheres (spheroid with D_z = D_y), nearly monodisperse."""
    return simulate_pattern(get_shape("spheroid"), {"D_y": d_y, "aspect": 1.0, "fwhm": 0.3}, GRID,
                            Optics.from_experiment(EXPERIMENT), Simulation(), structure)


@pytest.mark.parametrize("radius", [2.0, 3.0, 6.0, 12.0])
def test_sphere_form_factor_gives_its_guinier_radius(radius):
    distance, rg = descriptors(sphere_intensity(radius, QY), GRID, EXPERIMENT)
    assert rg == pytest.approx(math.sqrt(3 / 5) * radius, rel=0.03)
    assert math.isnan(distance)  # dilute: the form factor's side maxima are not interference


@pytest.mark.parametrize("d_y", [6.0, 10.0, 16.0])
def test_dilute_dwba_spheres_at_the_yoneda_band(d_y):
    distance, rg = descriptors(simulated(d_y, Structure(kind="dilute")), GRID, EXPERIMENT)
    assert rg == pytest.approx(math.sqrt(3 / 5) * d_y / 2, rel=0.04)
    assert math.isnan(distance)


@pytest.mark.parametrize("spacing", [10.0, 25.0, 40.0])
def test_paracrystal_peak_gives_its_spacing(spacing):
    intensity = sphere_intensity(2.0, QY) * radial_paracrystal(QY, spacing, 0.1 * spacing)
    distance, _ = descriptors(intensity, GRID, EXPERIMENT)
    assert distance == pytest.approx(spacing, rel=0.03)


@pytest.mark.parametrize("q0", [0.4, 0.73, 1.2])
def test_lorentzian_peak_gives_two_pi_over_its_position(q0):
    intensity = 1.0 + 10.0 / (1.0 + ((QY - q0) / 0.05) ** 2)
    distance, _ = descriptors(intensity, GRID, EXPERIMENT)
    assert distance == pytest.approx(2 * math.pi / q0, rel=0.01)


def test_a_single_dipped_bin_does_not_split_the_peak():
    # as on the DESY frames: one bin at a module-gap edge 40 % low, on the rising side of the peak
    intensity = 1.0 + 10.0 / (1.0 + ((QY - 0.85) / 0.1) ** 2)
    intensity[:, np.argmin(np.abs(GRID.qy - 0.79))] *= 0.6
    distance, _ = descriptors(intensity, GRID, EXPERIMENT)
    assert distance == pytest.approx(2 * math.pi / 0.85, rel=0.01)


def test_dwba_paracrystal_of_spheres():
    distance, rg = descriptors(simulated(10.0, Structure(kind="paracrystal", spacing_ratio=1.5, disorder=0.15)),
                               GRID, EXPERIMENT)
    assert distance == pytest.approx(15.0, rel=0.03)
    assert math.isnan(rg)  # S(q) → (ω/d)² at q → 0: no Guinier decay under the peak


@pytest.mark.parametrize("d_y, shape", [(15.0, "spheroid"), (10.0, "spheroid"), (15.0, "cylinder")])
def test_a_form_factor_lobe_of_a_dense_deposit_is_no_distance(d_y, shape):
    """Percus–Yevick η 0.2: S(q) < 1 lowers the low-q_y intensity and R_g with it, so that the 2 R_g test let the
    form factor's first side lobe through as a distance of 0.56–0.63 D_y (a trial; islands closer than their
    diameter). The lobe stands far below the cut at lower q_y and is passed over: the distance found, if any, is
    at least the islands' diameter."""
    pattern = simulate_pattern(get_shape(shape), {"D_y": d_y, "aspect": 0.7, "fwhm": 0.2 * d_y}, GRID,
                               Optics.from_experiment(EXPERIMENT), Simulation(),
                               Structure(kind="hard_sphere", volume_fraction=0.2))
    distance, _ = descriptors(pattern, GRID, EXPERIMENT)
    assert math.isnan(distance) or distance >= d_y


def test_flat_and_empty_frames_give_nan():
    assert all(map(math.isnan, descriptors(np.ones(GRID.shape), GRID, EXPERIMENT)))
    noisy = np.random.default_rng(0).poisson(100.0, GRID.shape).astype(float)
    assert all(map(math.isnan, descriptors(noisy, GRID, EXPERIMENT)))
    assert all(map(math.isnan, descriptors(np.full(GRID.shape, np.nan), GRID, EXPERIMENT)))


def test_peak_under_the_specular_rod_is_not_found():
    # ω = d/4: the second order (at 2 q₀) is damped away, else it would be taken for the first (d/2)
    intensity = sphere_intensity(2.0, QY) * radial_paracrystal(QY, 25.0, 6.25)
    assert descriptors(intensity, GRID, EXPERIMENT)[0] == pytest.approx(25.0, rel=0.03)
    intensity[:, GRID.qy < 2 * math.pi / 25.0 + 0.05] = np.nan  # masked up to past the peak
    assert math.isnan(descriptors(intensity, GRID, EXPERIMENT)[0])


def test_guinier_range_below_the_grid_is_nan():
    # R_g = 31 nm: q_y R_g ≤ 1.3 holds below 0.042 nm⁻¹, where the grid has one bin
    assert math.isnan(descriptors(sphere_intensity(40.0, QY), GRID, EXPERIMENT)[1])


def test_the_cut_is_taken_at_the_substrate_yoneda_band():
    # only the rows around α_f = α_c of Si carry a peak: the cut must see it
    alpha_c = math.sqrt(2 * (1 - EXPERIMENT.substrate.refractive_index(EXPERIMENT.wavelength_nm).real))
    qz_c = EXPERIMENT.k_nm * (math.sin(EXPERIMENT.alpha_i_rad) + math.sin(alpha_c))
    row = int(np.argmin(np.abs(GRID.qz - qz_c)))
    intensity = np.ones(GRID.shape)
    intensity[row] += 10.0 / (1.0 + ((GRID.qy - 0.5) / 0.05) ** 2)
    qy, cut = yoneda_cut(intensity, GRID, EXPERIMENT)
    assert qy.size == GRID.n_qy and cut.max() > 3.0
    assert descriptors(intensity, GRID, EXPERIMENT)[0] == pytest.approx(2 * math.pi / 0.5, rel=0.01)


def test_wrong_shape_is_an_error_in_words():
    with pytest.raises(ValueError, match="does not match the model grid"):
        descriptors(np.ones((10, 10)), GRID, EXPERIMENT)
