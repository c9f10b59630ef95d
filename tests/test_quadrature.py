"""The simulator's quadratures (sizes, orientations, z) are converged at the default resolution, and its numeric
building blocks take scalars as well as arrays."""

import math

import numpy as np
import pytest
from scipy.special import j1

from gisaxs_live.config import Simulation, load_config
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.preprocess.scale import to_levels
from gisaxs_live.simulator import pattern, tables, trig
from gisaxs_live.simulator.pattern import Optics, simulate_pattern
from gisaxs_live.simulator.shapes import SHAPES, get_shape
from gisaxs_live.simulator.structure import Structure, compressibility_limit, percus_yevick

CONFIG = load_config()
GRID = QGrid.for_experiment(CONFIG.experiment, CONFIG.grid)
OPTICS = Optics.from_experiment(CONFIG.experiment)
FINE = Simulation(size_samples=11, size_step=0.012, orientation_samples=72, z_nodes=128)
PY = Structure("hard_sphere", 0.2, 1.5, 0.2)

#: patterns each of the previous defaults (11 size nodes whatever the width, 12 orientations, 24 z nodes) got
#: more than 5 grey levels wrong: broad size distributions, tall particles, a triangular prism's 60° period
HARD = [
    ("prism3", {"D_y": 35.8, "aspect": 0.89, "fwhm": 17.4, "azimuth": 27.9, "azimuth_spread": 88.3}, "schulz",
     Structure("paracrystal", 0.3, 1.455, 0.134)),
    ("prism3", {"D_y": 40.0, "aspect": 0.5, "fwhm": 15.0}, "lognormal", PY),
    ("ellipsoid", {"D_y": 36.7, "aspect": 0.52, "fwhm": 4.3, "xy_ratio": 2.22}, "lognormal", PY),
    ("hemispheroid", {"D_y": 40.0, "aspect": 0.9, "fwhm": 3.0}, "lognormal", PY),
    ("cylinder", {"D_y": 5.0, "aspect": 0.5, "fwhm": 18.0}, "lognormal",
     Structure("hard_sphere", 0.2, 1.5, 0.2, "local_monodisperse")),
    ("spheroid", {"D_y": 20.0, "aspect": 0.6, "fwhm": 18.0}, "gaussian", PY),
]


def levels(name, params, distribution, structure, simulation) -> np.ndarray:
    pattern = simulate_pattern(get_shape(name), params, GRID, OPTICS, simulation, structure, distribution)
    return to_levels(pattern[np.newaxis], CONFIG.scale.decades)[0].astype(int)


@pytest.mark.parametrize("case", HARD, ids=[f"{c[0]}-{c[2]}-{c[1]['D_y']:g}" for c in HARD])
def test_the_default_resolution_is_within_5_grey_levels_of_a_fine_one(case):
    name, params, distribution, structure = case
    fine = levels(name, params, distribution, structure, FINE)
    assert np.abs(levels(name, params, distribution, structure, Simulation()) - fine).max() <= 5


def test_the_previous_resolution_was_not_converged_on_these_patterns(monkeypatch):
    """The same cases at the previous defaults: the test above can fail."""
    monkeypatch.setattr(pattern, "z_node_count", lambda least, largest_qz, extent: least)
    before = Simulation(size_samples=11, size_step=0.0, orientation_samples=12)
    errors = []
    for name, params, distribution, structure in HARD:
        fine = levels(name, params, distribution, structure, FINE)
        errors.append(np.abs(levels(name, params, distribution, structure, before) - fine).max())
    assert min(errors) > 5


def test_trig_and_tables_take_scalars():
    s, c = trig.sincos(0.3)
    assert (float(s), float(c)) == pytest.approx((math.sin(0.3), math.cos(0.3)), abs=1e-15)
    assert float(trig.sinc(0.0)) == 1.0 and float(trig.sinc(np.float64(0.5))) == pytest.approx(math.sin(0.5) / 0.5)
    assert complex(trig.expi(0.2)) == pytest.approx(complex(math.cos(0.2), math.sin(0.2)))
    assert float(tables.scaled_disc_amplitude(np.array(0.3), 2.0)) == pytest.approx(2 * j1(0.6) / 0.6, abs=1e-9)
    u = 0.6
    sphere = 3 * (math.sin(u) - u * math.cos(u)) / u**3
    assert float(tables.scaled_sphere_amplitude(0.3, 2.0)) == pytest.approx(sphere, abs=1e-9)


@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_every_form_factor_takes_scalar_q_and_gives_the_volume_at_zero(shape):
    params = shape.check(shape.random(np.random.default_rng(0)))
    geometry = shape.geometry(params)
    volume = shape.volume(**{k: v for k, v in geometry.items() if k != "z_nodes"})
    assert complex(shape.form_factor(0.0, 0.0, 0.0, **geometry)) == pytest.approx(volume, rel=1e-9)
    array = shape.form_factor(np.array([0.1]), np.array([0.2]), np.array([0.3]), **geometry)[0]
    assert complex(shape.form_factor(0.1, 0.2, 0.3, **geometry)) == pytest.approx(complex(array), rel=1e-12)


def test_percus_yevick_keeps_its_digits_at_small_q():
    """Just above the old cut-off (qD = 10⁻³) the closed form gave −0.0002 instead of S(0) = 0.209 (η = 0.2):
    it is smooth, increasing and at S(0) to O(q²) down to q = 0."""
    a = np.array([0.0, 1e-4, 1.0001e-3, 3e-3, 0.01, 0.05, 0.0999, 0.1001, 0.2])
    s = percus_yevick(a, 1.0, 0.2)
    assert s[0] == pytest.approx(compressibility_limit(0.2), rel=1e-12)
    assert s[2] == pytest.approx(s[0], rel=1e-5) and np.all(np.diff(s) >= 0)
    assert s[7] - s[6] < 1e-6  # continuous across the switch


def test_shapes_with_real_only_amplitudes_refuse_complex_q_instead_of_dropping_its_imaginary_part():
    with pytest.raises(ValueError, match="real q only"):
        get_shape("spheroid").form_factor(0.1, 0.2, 0.3 - 0.2j, D_y=20.0, aspect=0.6)
    assert np.iscomplexobj(get_shape("cylinder").form_factor(0.1, 0.2, 0.3 - 0.2j, D_y=20.0, aspect=0.6))
