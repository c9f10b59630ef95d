"""How the structure factor meets the size distribution (``Structure.approximation``): the decoupling
approximation (one S(q∥) at the mode of D_y) and the local monodisperse one (each size in a domain of its own,
S scaled to that size), analytic limits and, where BornAgain is installed, against BornAgain's one deposit per
size node (the arrangement of the BornAgain cross-simulator set, benchmarks/crosssim/make_set.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gisaxs_live.config import Simulation, load_config
from gisaxs_live.simulator import conventions
from gisaxs_live.simulator.dataset import Randomisation, varied
from gisaxs_live.simulator.distributions import size_nodes
from gisaxs_live.simulator.pattern import Optics, ensemble_intensity
from gisaxs_live.simulator.shapes import get_shape
from gisaxs_live.simulator.structure import Structure, compressibility_limit

WAVELENGTH = 0.15
K = 2.0 * math.pi / WAVELENGTH
ALPHA_I = math.radians(0.2)
SI = (7.18e-6, 1.56e-7)
TE = (1.546e-5, 1.92e-6)
OPTICS = Optics(K, ALPHA_I, complex(1 - SI[0], SI[1]), complex(1 - TE[0], TE[1]), 0.2)
WIDE = {"D_y": 20.0, "aspect": 0.6, "fwhm": 14.0}  # a wide log-normal: σ of ln D about 0.6
PARACRYSTAL = {"kind": "paracrystal", "spacing_ratio": 1.8, "disorder": 0.15}


def _intensity(shape: str, params: dict, structure: Structure, qy: np.ndarray, alpha_f: np.ndarray,
               simulation: Simulation = Simulation()) -> np.ndarray:
    return ensemble_intensity(get_shape(shape), params, np.zeros(1), qy, alpha_f, OPTICS, simulation, structure)


def _grid() -> tuple[np.ndarray, np.ndarray]:
    """q_y (1, 60) from 0 to 1.5 nm⁻¹ and α_f (30, 1) from 0.05° to 1.5°."""
    return np.linspace(0.0, 1.5, 60)[np.newaxis, :], np.radians(np.linspace(0.05, 1.5, 30))[:, np.newaxis]


@pytest.mark.parametrize("shape, extra", [("cylinder", {}), ("prism3", {"azimuth": 0.0, "azimuth_spread": 120.0})])
@pytest.mark.parametrize("kind", [{"kind": "hard_sphere", "volume_fraction": 0.3}, PARACRYSTAL])
def test_one_size_is_the_same_in_both_approximations(shape, extra, kind):
    qy, alpha_f = _grid()
    params = dict(WIDE, fwhm=0.0, **extra)
    decoupled = _intensity(shape, params, Structure(**kind), qy, alpha_f)
    local = _intensity(shape, params, Structure(**kind, approximation="local_monodisperse"), qy, alpha_f)
    np.testing.assert_allclose(local, decoupled, rtol=1e-10)


def test_without_interference_both_approximations_are_the_incoherent_sum():
    qy, alpha_f = _grid()
    decoupled = _intensity("cylinder", WIDE, Structure("dilute"), qy, alpha_f)
    local = _intensity("cylinder", WIDE, Structure("dilute", approximation="local_monodisperse"), qy, alpha_f)
    np.testing.assert_allclose(local, decoupled, rtol=1e-10)


@pytest.mark.parametrize("kind, s0", [(PARACRYSTAL, 0.15**2),
                                      ({"kind": "hard_sphere", "volume_fraction": 0.3}, compressibility_limit(0.3))])
def test_local_monodisperse_keeps_the_q0_minimum_that_polydispersity_fills_in_the_decoupling_approximation(kind, s0):
    """At q∥ = 0 every domain's S is S(0), so I/I_dilute = S(0) at any polydispersity; in the decoupling
    approximation the size variance ⟨|F|²⟩ − |⟨F⟩|² fills the minimum (here 2.4× (hard spheres) to 7× (the
    paracrystal) shallower)."""
    qy, alpha_f = np.zeros((1, 1)), np.radians(np.linspace(0.05, 1.5, 30))[:, np.newaxis]
    dilute = _intensity("cylinder", WIDE, Structure("dilute"), qy, alpha_f)
    local = _intensity("cylinder", WIDE, Structure(**kind, approximation="local_monodisperse"), qy, alpha_f)
    decoupled = _intensity("cylinder", WIDE, Structure(**kind), qy, alpha_f)
    np.testing.assert_allclose(local / dilute, s0, rtol=1e-9)
    assert np.all(decoupled / dilute > 2.0 * s0)


def test_an_unknown_approximation_is_an_error():
    with pytest.raises(ValueError, match="structure approximation 'ssca'"):
        Structure("paracrystal", approximation="ssca")


def test_randomisation_draws_both_approximations_and_old_variations_stay_decoupled():
    rng = np.random.default_rng(3)
    draws = [Randomisation().draw(rng) for _ in range(400)]
    local = np.mean([d["approximation"] == 1.0 for d in draws])
    assert 0.4 < local < 0.6
    assert max(d["spacing_ratio"] for d in draws) > 2.3  # BornAgain set's paracrystals reach 2.5 D
    optics = Optics.from_experiment(load_config().experiment)
    _, structure, _ = varied(optics, draws[int(np.argmax([d["approximation"] for d in draws]))])
    assert structure.approximation == "local_monodisperse"
    old = {k: v for k, v in draws[0].items() if k != "approximation"}  # a set written before the option
    assert varied(optics, old)[1].approximation == "decoupling"
    assert varied(optics, dict(draws[0], approximation=float("nan")))[1].approximation == "decoupling"


def test_local_monodisperse_matches_bornagain_per_size_deposits():
    """BornAgain: one ``RadialParacrystal`` deposit per size node (distance ratio·D_i), area fractions that
    make the number fractions ours, without the averaged-material layer; ours in the local monodisperse
    approximation agrees to 1 % (median, one fitted scale) at low q∥, where the decoupling one is off by 30 %."""
    ba = pytest.importorskip("bornagain")
    n_angles, lo, hi = 40, math.radians(0.05), math.radians(2.5)
    edges = np.linspace(lo, hi, n_angles + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    sizes, fractions = size_nodes("lognormal", WIDE["D_y"], WIDE["fwhm"], 5)
    ratio, disorder = PARACRYSTAL["spacing_ratio"], PARACRYSTAL["disorder"]
    particle_material = ba.RefractiveMaterial("Te", (0.5, 0.5, 0.5), *TE)
    ambient = ba.Layer(ba.Vacuum())
    areas = fractions * (ratio * sizes) ** 2  # a deposit's particles per area ∝ 1/d_i²
    particles = []
    for size, area in zip(sizes, areas / areas.sum()):
        particle = conventions.build(conventions.to_bornagain("cylinder", dict(WIDE, D_y=float(size))),
                                     particle_material, ba)
        particles.append(particle)  # BornAgain keeps references until it has simulated
        distance = ratio * size
        paracrystal = ba.RadialParacrystal(particle, distance, 1e3 * distance)
        paracrystal.setProbabilityDistribution(ba.Profile1DGauss(disorder * distance))
        ambient.addDeposit2D(float(area), paracrystal)
    sample = ba.Sample()
    sample.addLayer(ambient)
    sample.addLayer(ba.Layer(ba.RefractiveMaterial("Si", (0.5, 0.5, 0.5), *SI)))
    detector = ba.SphericalDetector(n_angles, lo, hi, n_angles, lo, hi)
    simulation = ba.ScatteringSimulation(ba.Beam(1.0, WAVELENGTH, ALPHA_I), sample, detector)
    simulation.options().setNumberOfThreads(1)
    simulation.options().setUseAvgMaterials(False)
    reference = np.asarray(simulation.simulate().intensities(), dtype=float)

    two_theta, alpha_f = centres[np.newaxis, :], centres[:, np.newaxis]
    qx = K * (np.cos(alpha_f) * np.cos(two_theta) - math.cos(ALPHA_I))
    qy = K * np.cos(alpha_f) * np.sin(two_theta)

    def median_difference(approximation: str) -> float:
        ours = ensemble_intensity(get_shape("cylinder"), WIDE, qx, qy, alpha_f, OPTICS,
                                  Simulation(size_samples=5, size_step=0.0),
                                  Structure(**PARACRYSTAL, approximation=approximation))
        bright = reference > 1e-4 * reference.max()
        scale = np.exp(np.mean(np.log(reference[bright] / ours[bright])))
        low_q = bright & (two_theta < math.radians(0.4))
        return float(np.median(np.abs(scale * ours[low_q] - reference[low_q]) / reference[low_q]))

    assert median_difference("local_monodisperse") < 0.01
    assert median_difference("decoupling") > 0.3
