"""Cross-check of the bundled simulator against BornAgain 25 (an independent DWBA implementation).

One monodisperse particle (fwhm = 0), dilute (no interference: our volume_fraction = 0, i.e. S = 1;
BornAgain ``Dilute2D``), one in-plane orientation (azimuth_spread = 0), Te-like particle on a Si substrate,
λ = 0.15 nm, α_i = 0.2°, on the same 40 × 40 (2θ_f, α_f) grid from 0.05° to 2.5° (BornAgain's bin
centres). Our simulator gets the exact q_x = k(cos α_f cos 2θ_f − cos α_i), q_y = k cos α_f sin 2θ_f.

How the two are compared. Our intensity is dσ/dΩ per particle (nm²). BornAgain's pixel value for a beam of
intensity 1 is n_A · dσ/dΩ · ΔΩ / sin α_i, with n_A the particles per nm² of ``Dilute2D`` and ΔΩ the pixel's
solid angle Δ(2θ_f) · (sin α_f,max − sin α_f,min) (checked here: the fitted scale equals this to < 1 %).
So we compare in absolute units, without a free factor: the median over the pixels brighter than 1e-4 of
the maximum of |ours · n_A ΔΩ / sin α_i − BornAgain| / BornAgain must be ≤ 5 %. As a second view we
also fit one scale factor (geometric mean of the ratio over the same pixels) and require the same bound.

Conventions matched here (no physics differences): the particles are built from
``gisaxs_live.simulator.conventions`` (``to_bornagain`` and ``build``), the mapping the model card quotes;
its docstrings state each class's convention. Notes on what the comparison showed:
  * The azimuth's sign is seen only through the small q_x: BornAgain rotated by −φ differs from ours by a
    median 6 % (prism3, 20°) to 8 % (ellipsoid D_y = 40, xy_ratio 3, 45°), against 0.1 % for +φ.
  * ``Dilute2D`` needs a small density (1e-6 nm⁻²): BornAgain slices the particle layer with the
    volume-averaged material, and at a coverage of tens of % that averaged slab refracts the waves
    (a real effect of a dense layer that our dilute model does not contain).

Physics difference found (fixed in our simulator): with the e^{+iq·r} form factors, the substrate's
Fresnel coefficients enter the four DWBA terms complex-conjugated (see ``optics.dwba_amplitude``). Before
the fix the spheroid pattern differed from BornAgain by a median 77 % (α_i = 0.2° is below Si's critical
angle, where r is complex); ``test_point_scatterer_matches_standing_waves`` pins that convention.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gisaxs_live.config import Simulation
from gisaxs_live.simulator import conventions
from gisaxs_live.simulator.optics import fresnel_r
from gisaxs_live.simulator.pattern import Optics, ensemble_intensity
from gisaxs_live.simulator.shapes import get_shape

ba = pytest.importorskip("bornagain")

WAVELENGTH = 0.15
K = 2.0 * math.pi / WAVELENGTH
ALPHA_I = math.radians(0.2)
SI = (7.18e-6, 1.56e-7)
TE = (1.546e-5, 1.92e-6)
N_PIXELS = 40
ANGLE_MIN, ANGLE_MAX = math.radians(0.05), math.radians(2.5)
DENSITY = 1e-6  # particles per nm²: dilute enough that BornAgain's averaged layer material is vacuum
THRESHOLD = 1e-4  # pixels above this fraction of the maximum are compared
TOLERANCE = 0.05  # median relative difference
GRAY = (0.5, 0.5, 0.5)  # BornAgain 25 materials take a display colour


def _material(name: str, delta_beta: tuple[float, float]):
    return ba.RefractiveMaterial(name, GRAY, *delta_beta)


def _bin_centres(angle_max: float = ANGLE_MAX) -> np.ndarray:
    edges = np.linspace(ANGLE_MIN, angle_max, N_PIXELS + 1)
    return 0.5 * (edges[1:] + edges[:-1])


def bornagain_pattern(particle, substrate=SI, angle_max: float = ANGLE_MAX) -> np.ndarray:
    """BornAgain's (n_alpha, n_phi) pattern of ``particle`` deposited dilutely on the substrate, on angles from
    ``ANGLE_MIN`` to ``angle_max`` (rad)."""
    ambient = ba.Layer(ba.Vacuum())
    ambient.deposit2D(ba.Dilute2D(DENSITY, particle))
    sample = ba.Sample()
    sample.addLayer(ambient)
    sample.addLayer(ba.Layer(_material("substrate", substrate)))
    detector = ba.SphericalDetector(N_PIXELS, ANGLE_MIN, angle_max, N_PIXELS, ANGLE_MIN, angle_max)
    simulation = ba.ScatteringSimulation(ba.Beam(1.0, WAVELENGTH, ALPHA_I), sample, detector)
    simulation.options().setNumberOfThreads(1)
    result = simulation.simulate()
    # rows α_f ascending, columns 2θ_f ascending, at the bin centres
    np.testing.assert_allclose(result.xCenters(), _bin_centres(angle_max), rtol=1e-12)
    np.testing.assert_allclose(result.yCenters(), _bin_centres(angle_max), rtol=1e-12)
    intensity = np.asarray(result.intensities(), dtype=float)
    assert intensity.shape == (N_PIXELS, N_PIXELS)
    return intensity


def our_pattern(shape_name: str, params: dict, substrate=SI, angle_max: float = ANGLE_MAX) -> np.ndarray:
    """Our dσ/dΩ (nm²) on the same pixels, converted to BornAgain's units (see the module docstring)."""
    two_theta = _bin_centres(angle_max)[np.newaxis, :]
    alpha_f = _bin_centres(angle_max)[:, np.newaxis]
    qx = K * (np.cos(alpha_f) * np.cos(two_theta) - math.cos(ALPHA_I))
    qy = K * np.cos(alpha_f) * np.sin(two_theta)
    optics = Optics(K, ALPHA_I, complex(1 - substrate[0], substrate[1]), complex(1 - TE[0], TE[1]), 0.0)
    shape = get_shape(shape_name)
    full = dict(params, fwhm=0.0)
    if shape.orientation_period_deg is not None:
        full["azimuth_spread"] = 0.0
    intensity = ensemble_intensity(shape, full, qx, qy, alpha_f, optics, Simulation())
    edges = np.linspace(ANGLE_MIN, angle_max, N_PIXELS + 1)
    solid_angle = (edges[1] - edges[0]) * np.diff(np.sin(edges))[:, np.newaxis]
    return intensity * DENSITY * solid_angle / math.sin(ALPHA_I)


def median_relative_difference(ours: np.ndarray, reference: np.ndarray, scale: float = 1.0) -> float:
    mask = reference > THRESHOLD * reference.max()
    return float(np.median(np.abs(scale * ours[mask] - reference[mask]) / reference[mask]))


def fitted_scale(ours: np.ndarray, reference: np.ndarray) -> float:
    """exp(mean ln(reference/ours)) over the compared pixels: the least-squares scale in log space."""
    mask = (reference > THRESHOLD * reference.max()) & (ours > 0)
    return float(np.exp(np.mean(np.log(reference[mask] / ours[mask]))))


# ---- BornAgain particles in our parameterisation (gisaxs_live.simulator.conventions) -------------

def _particle(formfactor, azimuth_deg: float = 0.0):
    particle = ba.Particle(_material("particle", TE), formfactor)  # keep it in a variable before rotating
    if azimuth_deg:
        particle.rotate(ba.RotationZ(math.radians(azimuth_deg)))
    return particle


def ba_particle(shape_name: str, params: dict):
    """BornAgain's particle for our ``shape_name`` and ``params``, through the conventions module."""
    return conventions.build(conventions.to_bornagain(shape_name, params), _material("particle", TE), ba)


CASES = [
    ("spheroid", {"D_y": 20.0, "aspect": 0.6}),
    ("spheroid", {"D_y": 35.0, "aspect": 0.9}),
    ("cylinder", {"D_y": 20.0, "aspect": 0.6}),
    ("cylinder", {"D_y": 40.0, "aspect": 0.3}),
    ("prism3", {"D_y": 20.0, "aspect": 0.5, "azimuth": 0.0}),
    ("prism3", {"D_y": 30.0, "aspect": 0.7, "azimuth": 20.0}),
    ("prism6", {"D_y": 20.0, "aspect": 0.5, "azimuth": 0.0}),
    ("prism6", {"D_y": 30.0, "aspect": 0.7, "azimuth": 15.0}),
    ("ellipsoid", {"D_y": 20.0, "aspect": 0.5, "xy_ratio": 2.0, "azimuth": 0.0}),
    ("ellipsoid", {"D_y": 30.0, "aspect": 0.7, "xy_ratio": 3.0, "azimuth": 90.0}),
    ("ellipsoid", {"D_y": 30.0, "aspect": 0.4, "xy_ratio": 1.5, "azimuth": 35.0}),
    ("ellipsoid", {"D_y": 40.0, "aspect": 0.4, "xy_ratio": 3.0, "azimuth": 45.0}),
    ("truncated_spheroid", {"D_y": 20.0, "aspect": 0.6, "h_ratio": 0.6}),
    ("truncated_spheroid", {"D_y": 30.0, "aspect": 0.8, "h_ratio": 0.3}),
    ("hemispheroid", {"D_y": 20.0, "aspect": 0.5}),
    ("hemispheroid", {"D_y": 30.0, "aspect": 0.9}),
    ("capsule", {"D_y": 20.0, "aspect": 1.4}),
]


def _case_id(case) -> str:
    name, params = case
    return name + "-" + "-".join(f"{k}{v:g}" for k, v in params.items())


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_pattern_matches_bornagain(case):
    name, params = case
    reference = bornagain_pattern(ba_particle(name, params))
    ours = our_pattern(name, params)
    absolute = median_relative_difference(ours, reference)
    scale = fitted_scale(ours, reference)
    fitted = median_relative_difference(ours, reference, scale)
    assert absolute <= TOLERANCE, f"{name}: median relative difference {absolute:.2%} (absolute units)"
    assert fitted <= TOLERANCE, f"{name}: median relative difference {fitted:.2%} (fitted scale)"
    assert scale == pytest.approx(1.0, abs=0.01)


TALL = [
    ("hemispheroid", {"D_y": 40.0, "aspect": 0.9}),
    ("truncated_spheroid", {"D_y": 40.0, "aspect": 0.9, "h_ratio": 0.8}),
    ("capsule", {"D_y": 40.0, "aspect": 2.0}),
]


@pytest.mark.parametrize("case", TALL, ids=[_case_id(c) for c in TALL])
def test_tall_particles_match_bornagain_in_every_pixel_up_to_the_grids_largest_q(case):
    """The shapes integrated along z, at the largest sizes and up to α_f = 3.9° (q_z ≈ 3 nm⁻¹, beyond the model
    grid's 2.85): the worst pixel above α_f = 0.5°, not only the median, within 4 % of BornAgain (1.2–2.9 %
    measured; the closed-form spheroid and cylinder of the same size 1.2 and 2.6 %, the lowest rows up to 7 %
    for every shape). With 24 nodes along z whatever the height, before the node count grew with q_z × height,
    the hemispheroid's worst pixel was 550× BornAgain's."""
    name, params = case
    angle_max = math.radians(3.9)
    reference = bornagain_pattern(ba_particle(name, params), angle_max=angle_max)
    ours = our_pattern(name, params, angle_max=angle_max)
    mask = (reference > THRESHOLD * reference.max()) & (_bin_centres(angle_max)[:, np.newaxis] >= math.radians(0.5))
    worst = float(np.max(np.abs(ours[mask] - reference[mask]) / reference[mask]))
    assert worst <= 0.04, f"{name}: worst pixel {worst:.2%} off BornAgain"


def test_comparison_detects_a_wrong_particle():
    """The same comparison fails for a 10 % larger BornAgain spheroid and for a 2 nm lift off the surface."""
    params = {"D_y": 20.0, "aspect": 0.6}
    ours = our_pattern("spheroid", params)
    bigger = bornagain_pattern(ba_particle("spheroid", {"D_y": 22.0, "aspect": 0.6}))
    assert median_relative_difference(ours, bigger, fitted_scale(ours, bigger)) > TOLERANCE
    lifted = ba_particle("spheroid", params)
    lifted.translate(0.0, 0.0, 2.0)
    assert median_relative_difference(ours, bornagain_pattern(lifted)) > TOLERANCE


def test_point_scatterer_matches_standing_waves():
    """A tiny sphere lifted to height h: BornAgain's pattern over the vacuum-substrate one is the product
    of the physical standing-wave intensities |e^{-i s h} + r e^{i s h}|² of the incident and the
    reciprocal exit wave (s = k sin α), the same convention as ``optics.dwba_amplitude``."""
    radius, lift = 0.05, 20.0
    n_si = complex(1 - SI[0], SI[1])

    def lifted():
        particle = _particle(ba.Sphere(radius))
        particle.translate(0.0, 0.0, lift)
        return particle

    ratio = bornagain_pattern(lifted())[:, 0] / bornagain_pattern(lifted(), substrate=(0.0, 0.0))[:, 0]
    h = lift + radius
    alpha_f = _bin_centres()
    s_i, s_f = K * math.sin(ALPHA_I), K * np.sin(alpha_f)
    r_i, r_f = fresnel_r(np.array(ALPHA_I), n_si), fresnel_r(alpha_f, n_si)
    expected = (np.abs(np.exp(-1j * s_i * h) + r_i * np.exp(1j * s_i * h)) ** 2
                * np.abs(np.exp(-1j * s_f * h) + r_f * np.exp(1j * s_f * h)) ** 2)
    np.testing.assert_allclose(ratio, expected, rtol=2e-3)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_mapped_volume_is_ours(case):
    """BornAgain's volume of the mapped form factors (summed over a capsule's parts) is our shape's volume."""
    name, params = case
    shape = get_shape(name)
    mapped = conventions.to_bornagain(name, params)
    volume = sum(getattr(ba, c.formfactor.name)(*c.formfactor.values).volume() for c in mapped.components)
    assert volume == pytest.approx(shape.volume(**shape.geometry(shape.check(params))), rel=1e-9)


@pytest.mark.parametrize("mode, fwhm", [(20.0, 9.0), (5.0, 3.0), (40.0, 18.0)])
def test_lognormal_mapping_matches_bornagain(mode, fwhm):
    """BornAgain's ``DistributionLogNormal`` of the mapped (median, scale) has its density peak at our mode
    and half maximum at our FWHM (its samples are the density on a fine linear grid)."""
    median, scale = conventions.lognormal_to_bornagain(mode, fwhm)
    samples = ba.DistributionLogNormal(median, scale, 20001, 4.0).distributionSamples()
    x = np.array([s.value for s in samples])
    p = np.array([s.weight for s in samples])
    step = x[1] - x[0]
    assert x[np.argmax(p)] == pytest.approx(mode, abs=step)
    above = x[p >= 0.5 * p.max()]
    assert above[-1] - above[0] == pytest.approx(fwhm, abs=2 * step)
