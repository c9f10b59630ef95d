"""Refinement (issue 11 s.2): the forward model equals the simulator, and the fit recovers known parameters
within 2 % from simulated frames (10⁴ counts in the brightest bin, Poisson noise, the demo Pilatus 1M's
pixels per bin)."""

from __future__ import annotations

import numpy as np
import pytest

from gisaxs_live.config import load_config
from gisaxs_live.preprocess.prepare import FramePreprocessor
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.publisher.demo_series import PILATUS_1M, demo_config
from gisaxs_live.refine.fit import refine
from gisaxs_live.refine.model import ForwardModel
from gisaxs_live.refine.start import grid_start
from gisaxs_live.refine.synthetic import synthetic_frame
from gisaxs_live.simulator.pattern import Optics, simulate_pattern
from gisaxs_live.simulator.shapes import get_shape
from gisaxs_live.simulator.structure import Structure


@pytest.fixture(scope="module")
def setup():
    config = demo_config(load_config())
    grid = QGrid.for_experiment(config.experiment, config.grid)
    pixels = FramePreprocessor(config, grid, 5.0).lookup(PILATUS_1M).counts.reshape(grid.shape)
    return config, grid, Optics.from_experiment(config.experiment), pixels


def test_forward_model_is_the_simulator(setup):
    config, grid, optics, _ = setup
    shape = get_shape("truncated_spheroid")
    params = {"D_y": 22.0, "aspect": 0.7, "fwhm": 6.0, "h_ratio": 0.3}
    forward = ForwardModel(shape, grid, optics, config.simulation)
    mine = forward(np.array([*params.values(), 0.15]))
    theirs = simulate_pattern(shape, params, grid, optics, config.simulation, Structure("hard_sphere", 0.15))
    np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6 * theirs.max())


@pytest.mark.parametrize("name, truth", [
    ("spheroid", {"D_y": 18.0, "aspect": 0.6, "fwhm": 5.0, "volume_fraction": 0.25}),
    ("truncated_spheroid", {"D_y": 22.0, "aspect": 0.7, "fwhm": 6.0, "h_ratio": 0.3, "volume_fraction": 0.15}),
    ("ellipsoid", {"D_y": 15.0, "aspect": 0.5, "fwhm": 4.0, "xy_ratio": 2.0, "volume_fraction": 0.2}),
])
def test_recovers_known_parameters_within_2_percent(setup, name, truth):
    config, grid, optics, pixels = setup
    forward = ForwardModel(get_shape(name), grid, optics, config.simulation)
    data = synthetic_frame(forward, truth, pixels, np.random.default_rng(1))
    start, scale = grid_start(forward, data, config.experiment.volume_fraction)
    fit = refine(forward, data, start, scale)
    assert fit.converged, fit.message
    for key, value in truth.items():
        assert fit.params[key] == pytest.approx(value, rel=0.02), key
        assert 0 < fit.errors[key] < 0.05 * value, key
    assert 0.2 < fit.chi2_red < 1.5


def test_refine_command_on_a_detector_file(tmp_path, capsys):
    """`gisaxs-live refine` on a demo CBF (written by fabio): a fitted row per frame in the CSV, with finite
    positive D_y and its error, a reduced χ², and a non-blank picture; an unknown --class is a usage error."""
    import csv

    from matplotlib.image import imread

    from gisaxs_live.cli import main
    from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes

    config_path = tmp_path / "demo.yaml"
    config_path.write_text("geometry:\n  distance_mm: 2000.0\n  pixel_size_mm: 0.172\n  direct_beam_px: [490, 900]\n"
                           "mask:\n  beamstop: {shape: circle, radius_px: 14}\n")
    frame = tmp_path / "demo_00000.cbf"
    frame.write_bytes(cbf_bytes(GrowthSeries(demo_config(load_config()), 3).frame(0)))
    out = tmp_path / "fits.csv"
    assert main(["refine", "--config", str(config_path), "--class", "spheroid", "--csv", str(out),
                 "--png", str(tmp_path / "png"), str(frame)]) == 0
    (row,) = list(csv.DictReader(out.open()))
    assert row["class"] == "spheroid" and row["frame"] == "0"
    assert 1.0 < float(row["D_y"]) < 200.0 and 0.0 < float(row["D_y_err"]) < float(row["D_y"])
    assert float(row["chi2_red"]) > 0
    png = imread(tmp_path / "png" / "demo_00000_0.refine.png")
    assert png[..., :3].std() > 0.05
    assert main(["refine", "--config", str(config_path), "--class", "sphere", str(frame)]) == 2
    assert "not a class" in capsys.readouterr().err
