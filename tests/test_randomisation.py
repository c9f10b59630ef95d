"""Per-pattern randomisation of what the simulator otherwise fixes: size distributions, structure factors,
wavelength and incidence angle."""

import h5py
import numpy as np
import pytest

from gisaxs_live.config import load_config
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.simulator.dataset import (VARIATION_NAMES, Randomisation, random_specs, simulate_specs, varied,
                                           write_dataset)
from gisaxs_live.simulator.distributions import lognormal_nodes, size_nodes
from gisaxs_live.simulator.pattern import Optics, simulate_pattern
from gisaxs_live.simulator.shapes import get_shape
from gisaxs_live.simulator.structure import Structure, percus_yevick, radial_paracrystal


@pytest.mark.parametrize("distribution", ["gaussian", "schulz"])
def test_other_size_distributions_peak_at_the_mode_with_about_the_fwhm(distribution):
    sizes, weights = size_nodes(distribution, 20.0, 6.0, 201)
    assert weights.sum() == pytest.approx(1.0)
    assert sizes[np.argmax(weights)] == pytest.approx(20.0, abs=0.2)
    density = weights / np.gradient(sizes)
    above = sizes[density >= density.max() / 2]
    assert above[-1] - above[0] == pytest.approx(6.0, rel=0.1)
    assert np.all(sizes > 0)


@pytest.mark.parametrize("mode, fwhm", [(5.0, 18.0), (10.0, 18.0), (20.0, 6.0), (40.0, 3.0)])
def test_the_schulz_density_has_the_stated_mode_and_fwhm_however_broad(mode, fwhm):
    """Its half-maximum points, on a fine grid of nodes: the given FWHM to 0.5 % (before, the Gamma's standard
    deviation was FWHM/2.355, a Gaussian's: mode 5 and FWHM 18 came out 12.9 wide)."""
    sizes, weights = size_nodes("schulz", mode, fwhm, 4001)
    density = weights / weights.max()  # equally spaced nodes: the number fractions follow the density
    above = sizes[density >= 0.5]
    assert sizes[np.argmax(density)] == pytest.approx(mode, rel=2e-3)
    assert above[-1] - above[0] == pytest.approx(fwhm, rel=5e-3)


@pytest.mark.parametrize("distribution", ["lognormal", "gaussian", "schulz"])
def test_broad_distributions_get_nodes_at_most_size_step_apart(distribution):
    narrow, _ = size_nodes(distribution, 20.0, 3.0, 11, 0.04)
    broad, weights = size_nodes(distribution, 5.0, 18.0, 11, 0.04)
    assert len(narrow) == 11  # narrow ones keep the least number
    steps = np.diff(np.log(broad)) if distribution == "lognormal" else np.diff(broad) / broad[-1]
    assert len(broad) > 11 and steps.max() <= 0.04 + 1e-12
    assert weights.sum() == pytest.approx(1.0)
    assert len(size_nodes(distribution, 5.0, 18.0, 11)[0]) == 11  # no step: the given number


def test_schulz_is_skewed_to_large_sizes_and_lognormal_is_the_default_path():
    sizes, weights = size_nodes("schulz", 10.0, 12.0, 101)
    assert np.sum(sizes * weights) > 10.0  # mean above the mode
    for a, b in zip(size_nodes("lognormal", 10.0, 6.0, 11), lognormal_nodes(10.0, 6.0, 11)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="size distribution 'weibull'"):
        size_nodes("weibull", 10.0, 6.0, 11)


def test_radial_paracrystal_known_limits():
    q = np.linspace(1e-4, 20.0, 20001)
    s = radial_paracrystal(q, 10.0, 2.0)
    assert s[-1] == pytest.approx(1.0, abs=1e-3)
    assert radial_paracrystal(np.array([0.0]), 10.0, 2.0)[0] == pytest.approx(0.04)
    assert q[np.argmax(s)] == pytest.approx(2 * np.pi / 10.0, rel=0.05)  # first peak near 2π/d
    assert np.all(s >= 0)


def test_structure_kinds():
    q = np.linspace(0.0, 2.0, 50)
    np.testing.assert_array_equal(Structure("hard_sphere", 0.3).factor(q, 8.0), percus_yevick(q, 8.0, 0.3))
    np.testing.assert_array_equal(Structure("dilute").factor(q, 8.0), np.ones_like(q))
    np.testing.assert_allclose(Structure("paracrystal", spacing_ratio=1.5, disorder=0.2).factor(q, 8.0),
                               radial_paracrystal(q, 12.0, 2.4))


def test_randomised_specs_keep_the_shape_parameters_and_vary_within_the_ranges():
    plain = random_specs(20, 4, 0.2)
    randomisation = Randomisation()
    varied_specs = random_specs(20, 4, 0.2, randomisation)
    assert [s.params for s in plain] == [s.params for s in varied_specs]
    assert all(s.variation is None for s in plain)
    values = np.array([[s.variation[name] for name in VARIATION_NAMES] for s in varied_specs])
    assert np.all(np.abs(values[:, 0] - 1.0) <= 0.05) and np.all(np.abs(values[:, 1]) <= 0.03)
    assert set(values[:, 2]) == {0.0, 1.0, 2.0} and set(values[:, 6]) == {0.0, 1.0, 2.0}
    assert np.all((values[:, 3] >= 0.02) & (values[:, 3] <= 0.35))


def test_varied_optics_move_the_pattern_on_the_models_grid():
    config = load_config()
    grid = QGrid.for_experiment(config.experiment, config.grid)
    optics = Optics.from_experiment(config.experiment)
    same = {"wavelength_scale": 1.0, "incidence_offset_deg": 0.0, "structure": 0.0,
            "volume_fraction": optics.volume_fraction, "spacing_ratio": 1.5, "disorder": 0.2, "distribution": 0.0}
    o, structure, distribution = varied(optics, same)
    shape = get_shape("spheroid")
    reference = simulate_pattern(shape, {}, grid, optics, config.simulation)
    np.testing.assert_allclose(simulate_pattern(shape, {}, grid, o, config.simulation, structure, distribution),
                               reference, rtol=1e-6)
    longer, _, _ = varied(optics, dict(same, wavelength_scale=1.05, incidence_offset_deg=0.03))
    assert longer.k == pytest.approx(optics.k / 1.05)
    assert 1.0 - longer.n_substrate.real == pytest.approx((1.0 - optics.n_substrate.real) * 1.05**2)
    moved = simulate_pattern(shape, {}, grid, longer, config.simulation)
    assert np.abs(np.log10(moved + 1e-12) - np.log10(reference + 1e-12)).mean() > 0.01


def test_write_dataset_records_each_patterns_variation(tmp_path):
    config = load_config()
    randomisation = Randomisation()
    specs = random_specs(2, 5, 0.5, randomisation)
    path = tmp_path / "set.h5"
    write_dataset(path, specs, config, seed=5, protocol="random", workers=1, randomisation=randomisation)
    with h5py.File(path) as f:
        assert f["variation"].shape == (16, len(VARIATION_NAMES))
        np.testing.assert_allclose(f["variation"][:, 3], [s.variation["volume_fraction"] for s in specs])
        assert '"wavelength_band": 0.05' in f.attrs["randomisation"]
        patterns = np.stack(list(simulate_specs(specs, config, workers=1)))
        np.testing.assert_allclose(f["intensity"][()], patterns, rtol=1e-6)


def test_a_schulz_width_it_cannot_have_is_one_line():
    with pytest.raises(ValueError, match="Schulz size distribution: FWHM/mode 200 is outside"):
        size_nodes("schulz", 0.1, 20.0, 11)
