"""Analytic checks of the optics, the structure factor, the size distribution and the DWBA pattern."""

import math

import numpy as np
import pytest

from gisaxs_live.config import Simulation, load_config
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.simulator import foreign
from gisaxs_live.simulator.distributions import lognormal_nodes, lognormal_sigma, orientation_nodes
from gisaxs_live.simulator.optics import critical_angle, dwba_amplitude, fresnel_r
from gisaxs_live.simulator.pattern import Optics, ensemble_intensity, simulate_pattern
from gisaxs_live.simulator.shapes import SHAPES, get_shape
from gisaxs_live.simulator.structure import compressibility_limit, percus_yevick

N_SI = complex(1 - 7.18e-6, 1.56e-7)


def test_fresnel_total_reflection_limits():
    assert fresnel_r(np.array(1e-9), N_SI) == pytest.approx(-1.0, abs=1e-4)
    alpha_c = critical_angle(N_SI)
    assert alpha_c == pytest.approx(math.sqrt(2 * 7.18e-6))
    below = np.abs(fresnel_r(np.linspace(0.1, 0.9, 9) * alpha_c, N_SI))
    assert np.all(below > 0.95)
    above = np.abs(fresnel_r(np.linspace(1.2, 20, 50) * alpha_c, N_SI))
    assert np.all(above < 1.0) and np.all(np.diff(above) < 0)
    # far above α_c: r → δ/(2 sin² α), so the reflectivity |r|² falls like α⁻⁴
    a = np.array([0.02, 0.04])
    r = fresnel_r(a, N_SI)
    np.testing.assert_allclose(r.real, 7.18e-6 / (2 * np.sin(a) ** 2), rtol=0.02)
    assert abs(r[0]) ** 2 / abs(r[1]) ** 2 == pytest.approx(16.0, rel=0.05)


def test_fresnel_of_vacuum_is_zero():
    assert np.all(np.abs(fresnel_r(np.linspace(1e-4, 0.1, 10), 1.0 + 0j)) < 1e-12)


def test_dwba_reduces_to_born_without_substrate():
    shape = get_shape("spheroid")
    g = shape.geometry(shape.check({}))
    k, ai = 41.9, 0.0035
    af = np.linspace(1e-4, 0.05, 20)
    qy = np.full_like(af, 0.3)
    f = dwba_amplitude(lambda qz: shape.form_factor(0.0, qy, qz, **g), k, ai, af, 1.0 + 0j)
    born = shape.form_factor(0.0, qy, k * (np.sin(af) + np.sin(ai)), **g)
    np.testing.assert_allclose(f, born, rtol=1e-12)


def test_dwba_is_zero_below_the_horizon():
    shape = get_shape("cylinder")
    g = shape.geometry(shape.check({}))
    f = dwba_amplitude(lambda qz: shape.form_factor(0.0, 0.2, qz, **g), 41.9, 0.0035,
                       np.array([-0.01, np.nan, 0.01]), N_SI)
    assert f[0] == 0 and f[1] == 0 and abs(f[2]) > 0


def test_percus_yevick_limits():
    eta = 0.2
    assert compressibility_limit(eta) == pytest.approx(0.8**4 / 1.4**2)
    s = percus_yevick(np.array([1e-5, 1e-3, 5e-3]), 10.0, eta)
    np.testing.assert_allclose(s, compressibility_limit(eta), rtol=2e-3)
    large = percus_yevick(np.linspace(20, 40, 100), 10.0, eta)
    assert np.max(np.abs(large - 1.0)) < 0.01
    # the first peak of a hard-sphere liquid at η = 0.2 sits at q d = 6.10 (2π/q = 1.03 d) and exceeds 1
    q = np.linspace(0.1, 1.5, 14001)
    s = percus_yevick(q, 10.0, eta)
    assert s.max() > 1.05 and q[np.argmax(s)] * 10.0 == pytest.approx(6.10, abs=0.02)
    np.testing.assert_array_equal(percus_yevick(q, 10.0, 0.0), 1.0)


def test_lognormal_fwhm_and_mode():
    mode, fwhm = 20.0, 9.0
    sigma = lognormal_sigma(mode, fwhm)
    d = np.linspace(1, 80, 200001)
    pdf = np.exp(-((np.log(d) - (np.log(mode) + sigma**2)) ** 2) / (2 * sigma**2)) / d
    assert d[np.argmax(pdf)] == pytest.approx(mode, abs=1e-3)
    above = d[pdf >= pdf.max() / 2]
    assert above[-1] - above[0] == pytest.approx(fwhm, abs=1e-3)
    sizes, weights = lognormal_nodes(mode, fwhm, 11)
    assert weights.sum() == pytest.approx(1.0) and np.all(np.diff(sizes) > 0)
    sizes, weights = lognormal_nodes(mode, 0.0, 11)
    assert sizes.tolist() == [mode] and weights.tolist() == [1.0]


def test_orientation_nodes_cover_the_spread():
    a = orientation_nodes(10.0, 60.0, 6)
    np.testing.assert_allclose(np.degrees(a), [-15, -5, 5, 15, 25, 35])
    assert orientation_nodes(30.0, 0.0, 6).tolist() == [math.radians(30.0)]


def test_dilute_monodisperse_intensity_is_born_squared_in_vacuum():
    config = load_config()
    optics = Optics(41.9, 0.0035, 1.0 + 0j, config.experiment.substrate.refractive_index(0.15), 0.0)
    shape = get_shape("cylinder")
    params = shape.check({"fwhm": 0.0})
    qy = np.linspace(0.01, 1.5, 30)
    af = np.full_like(qy, 0.01)
    intensity = ensemble_intensity(shape, params, 0.0, qy, af, optics, Simulation())
    f = shape.form_factor(0.0, qy, 41.9 * (np.sin(af) + np.sin(0.0035)), **shape.geometry(params))
    ratio = intensity / np.abs(f) ** 2
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-10)


@pytest.mark.parametrize("name", ["prism3", "ellipsoid"])
def test_isotropic_pattern_of_anisotropic_shape_is_rotation_invariant(name):
    """With the full orientation spread, the deposit's mean azimuth does not matter: the simulator averages a whole
    period about azimuth 0, and a spread a hair short of it, averaged about 40°, gives the same pattern."""
    config = load_config()
    optics = Optics.from_experiment(config.experiment)
    grid = QGrid.for_experiment(config.experiment, config.grid)
    shape = get_shape(name)
    period = shape.orientation_period_deg
    whole = simulate_pattern(shape, {"azimuth": 40.0, "azimuth_spread": period}, grid, optics, config.simulation)
    np.testing.assert_array_equal(whole, simulate_pattern(shape, {"azimuth": 0.0}, grid, optics, config.simulation))
    about_40 = simulate_pattern(shape, {"azimuth": 40.0, "azimuth_spread": period * (1 - 1e-12)}, grid, optics,
                                config.simulation)
    np.testing.assert_allclose(whole, about_40, rtol=1e-4)


@pytest.mark.parametrize("period", [60.0, 90.0, 120.0, 180.0])
def test_a_whole_period_about_azimuth_0_pairs_up_in_mirror_images_and_other_centres_do_not(period):
    """φ and 180° − φ (modulo the period) scatter alike at q_x = 0 for a particle symmetric under y → −y: the 24
    nodes of a whole period about 0 are 12 such pairs; about 13° none pair up; the shares sum to 1."""
    from gisaxs_live.simulator.pattern import _mirror_merged

    merged, share = _mirror_merged(orientation_nodes(0.0, period, 24), math.radians(period))
    assert len(merged) == 12 and np.allclose(share, 2 / 24)
    merged, share = _mirror_merged(orientation_nodes(13.0, period, 24), math.radians(period))
    assert len(merged) == 24 and share.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_patterns_are_finite_positive_and_peak_at_low_q(shape):
    config = load_config()
    optics = Optics.from_experiment(config.experiment)
    grid = QGrid.for_experiment(config.experiment, config.grid)
    pattern = simulate_pattern(shape, {}, grid, optics, config.simulation)
    assert pattern.shape == (90, 70) and pattern.dtype == np.float32
    assert np.all(np.isfinite(pattern)) and np.all(pattern >= 0)
    row, col = np.unravel_index(np.argmax(pattern), pattern.shape)
    assert grid.qz[row] < 0.6 and grid.qy[col] < 0.5


@pytest.mark.parametrize("height", [0.0, 3.0, 20.0])
def test_dwba_of_a_point_scatterer_is_the_standing_wave_product(height):
    """A point at height h scatters with the product of the physical fields there: the incident
    e^{-i s_i h} + r_i e^{i s_i h} and, by reciprocity, the one incident from the detector
    e^{-i s_f h} + r_f e^{i s_f h} (s = k sin α, n = 1 − δ + iβ). Sensitive to the phase of r below α_c."""
    k, ai = 2 * math.pi / 0.15, math.radians(0.2)
    af = np.radians(np.linspace(0.02, 1.0, 60))
    f = dwba_amplitude(lambda qz: np.exp(1j * qz * height), k, ai, af, N_SI)
    si, sf = k * math.sin(ai), k * np.sin(af)
    r_i, r_f = fresnel_r(np.array(ai), N_SI), fresnel_r(af, N_SI)
    expected = (np.abs(np.exp(-1j * si * height) + r_i * np.exp(1j * si * height)) ** 2
                * np.abs(np.exp(-1j * sf * height) + r_f * np.exp(1j * sf * height)) ** 2)
    np.testing.assert_allclose(np.abs(f) ** 2, expected, rtol=1e-10)


KERNEL_SHAPES = [*SHAPES, foreign.CONE, foreign.PYRAMID, foreign.CORE_SHELL]


@pytest.mark.parametrize("shape", KERNEL_SHAPES, ids=[s.name for s in KERNEL_SHAPES])
def test_fast_canonical_grid_path_equals_the_general_sum(shape):
    """simulate_pattern's grid (q_x = 0, q_y a row, α_f a column) takes the kernel path; a q_x array of zeros
    forces the general four-term sum over every size and orientation. Both must agree to rounding. The classes,
    and the foreign cone, pyramid and core-shell sphere (closed form on the general path) that the
    out-of-distribution flag is shown."""
    from gisaxs_live.preprocess.qgrid import grid_wavevectors
    from gisaxs_live.simulator.pattern import _is_separable_grid

    config = load_config()
    optics = Optics.from_experiment(config.experiment)
    grid = QGrid.for_experiment(config.experiment, config.grid)
    qx, qy, af = grid_wavevectors(grid, optics.k, optics.alpha_i)
    assert shape.kernel is not None and _is_separable_grid(np.asarray(qx), qy, af)
    rng = np.random.default_rng(11)
    for params in [{}, shape.random(rng), shape.random(rng), *shape.paper_points()[-1:]]:
        fast = ensemble_intensity(shape, params, qx, qy, af, optics, config.simulation)
        general = ensemble_intensity(shape, params, np.zeros(qy.shape), qy, af, optics, config.simulation)
        np.testing.assert_allclose(fast, general, rtol=1e-9, atol=1e-12 * general.max())


def test_aligned_ellipsoid_on_the_canonical_grid_is_the_spheroid_of_its_d_y():
    """With q_x = 0 (the canonical grid) and the long axis along y, R_x drops out of u: the pattern is the
    spheroid's of the same D_y and D_z whatever D_y/D_x (the paper's spheroid/ellipsoid confusion);
    averaged over in-plane orientation it is not."""
    config = load_config()
    grid = QGrid.for_experiment(config.experiment, config.grid)
    optics = Optics.from_experiment(config.experiment)
    spheroid = simulate_pattern(get_shape("spheroid"), {"D_y": 20.0, "aspect": 0.5, "fwhm": 9.0}, grid, optics,
                                config.simulation)
    for xy_ratio in (1.5, 3.0):
        params = {"D_y": 20.0, "aspect": 0.5, "fwhm": 9.0, "xy_ratio": xy_ratio, "azimuth": 0.0}
        aligned = simulate_pattern(get_shape("ellipsoid"), dict(params, azimuth_spread=0.0), grid, optics,
                                   config.simulation)
        np.testing.assert_allclose(aligned / aligned.max(), spheroid / spheroid.max(), rtol=1e-5, atol=1e-12)  # float32
        averaged = simulate_pattern(get_shape("ellipsoid"), dict(params, azimuth_spread=180.0), grid, optics,
                                    config.simulation)
        ratio = (averaged / averaged.max()) / (spheroid / spheroid.max())
        assert np.nanmax(np.abs(np.log10(ratio))) > 0.5  # half a decade apart somewhere


def test_random_prism6_is_a_cylinder_of_equal_area():
    """The degenerate family prism6|cylinder (classify/families.py): averaged over in-plane orientation, a
    hexagonal prism of circumscribed diameter D_y scatters as the cylinder of the same height whose base has the
    hexagon's area, D = D_y·√(3√3/(2π)) = 0.909 D_y. On the model's 256 grey levels the two differ on average by less
    than the same prism made 3 % larger does (single bins of the narrowest, largest ones by up to 20–26 levels at
    large q: the card says so)."""
    config = load_config()
    grid = QGrid.for_experiment(config.experiment, config.grid)
    optics = Optics.from_experiment(config.experiment)
    from gisaxs_live.preprocess.scale import to_levels

    def levels(name: str, **p: float) -> np.ndarray:
        pattern = simulate_pattern(get_shape(name), p, grid, optics, config.simulation)
        return to_levels(pattern[None], 5.0)[0].astype(float)

    equal_area = math.sqrt(3.0 * math.sqrt(3.0) / (2.0 * math.pi))
    assert equal_area == pytest.approx(0.9094, abs=1e-4)
    for d_y, aspect, fwhm in ((10.0, 0.5, 3.0), (25.0, 0.8, 9.0), (40.0, 0.3, 15.0), (30.0, 0.6, 3.0), (40.0, 0.9, 3.0),
                              (5.0, 0.3, 18.0)):
        prism = levels("prism6", D_y=d_y, aspect=aspect, fwhm=fwhm, azimuth=0.0, azimuth_spread=60.0)
        cylinder = levels("cylinder", D_y=equal_area * d_y, aspect=aspect / equal_area, fwhm=equal_area * fwhm)
        larger = levels("prism6", D_y=1.03 * d_y, aspect=aspect, fwhm=1.03 * fwhm, azimuth=0.0, azimuth_spread=60.0)
        to_cylinder, to_larger = np.abs(prism - cylinder).mean(), np.abs(prism - larger).mean()
        assert to_cylinder < 2.0  # grey levels of 255, on average over the image
        assert to_cylinder < to_larger
        same_diameter = levels("cylinder", D_y=d_y, aspect=aspect, fwhm=fwhm)
        assert np.abs(prism - same_diameter).mean() > 1.8 * to_cylinder  # the equal-area circle is the match


def test_an_aligned_polydisperse_prism3_deposit_is_mirror_symmetric_and_60_degree_periodic_only_size_by_size():
    """The model card's orientation section. At q_x = 0 turning a particle by 180° in-plane (q_y → −q_y), or a
    triangle by 60°, conjugates its in-plane amplitude P but not its vertical DWBA factor, so each particle's |F|²
    (tests/test_shapes.py), a monodisperse deposit and the local monodisperse approximation are even in q_y and
    60°-periodic. The coherent term |⟨F⟩|² of the decoupling approximation sums F over sizes first: for a
    polydisperse, aligned prism3 deposit it is neither, by up to a fifth of the intensity at single q; the median
    relative asymmetry, which the live mirror check reads, stays far below its tolerance (``max_asymmetry`` 0.15)."""
    from gisaxs_live.simulator.structure import Structure

    config = load_config()
    optics = Optics.from_experiment(config.experiment)
    qy = np.linspace(0.05, 1.75, 35)[np.newaxis, :]
    both = np.concatenate([qy, -qy], axis=1)
    alpha_f = np.arcsin(np.linspace(0.2, 2.8, 30) / optics.k - math.sin(optics.alpha_i))[:, np.newaxis]
    prism3, n = get_shape("prism3"), qy.shape[1]
    paracrystal = Structure("paracrystal", spacing_ratio=1.3, disorder=0.15)
    local = Structure("hard_sphere", 0.2, approximation="local_monodisperse")

    def intensity(structure, **p):
        return ensemble_intensity(prism3, {"D_y": 20.0, "aspect": 0.6, "azimuth_spread": 0.0, **p},
                                  np.zeros_like(both), both, alpha_f, optics, config.simulation, structure)

    def asymmetry(i):
        return np.abs(i[:, :n] - i[:, n:]) / (0.5 * (i[:, :n] + i[:, n:]))

    for structure, fwhm in ((paracrystal, 0.0), (local, 9.0)):
        assert asymmetry(intensity(structure, fwhm=fwhm, azimuth=20.0)).max() < 1e-9
        np.testing.assert_allclose(intensity(structure, fwhm=fwhm, azimuth=80.0),
                                   intensity(structure, fwhm=fwhm, azimuth=20.0), rtol=1e-9)
    coherent = asymmetry(intensity(paracrystal, fwhm=9.0, azimuth=20.0))
    assert coherent.max() > 0.1 and np.median(coherent) < 0.01
    turned = intensity(paracrystal, fwhm=9.0, azimuth=80.0) / intensity(paracrystal, fwhm=9.0, azimuth=20.0)
    assert np.abs(turned - 1.0).max() > 0.1
