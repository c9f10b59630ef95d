"""Measured frames through the live preprocessing: they must come out 'ok', with the GISAXS region where
the physics puts it. The frames stay in ../shared/data/real (never copied here); without that folder
these tests skip.

Measured with config/real/*.yaml: every frame 'ok'; the brightest bin at q_z row 4, q_y column 0-1;
the brightest row of the image (Yoneda band) at row 4 where the Si critical angle puts it at 5.3;
masked fraction of the pixels inside the grid 19.5 % (DESY: gaps, flight-tube shadow, beam stops,
specular rod) and 1.0 % (GALAXI: one gap column, the specular peak).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gisaxs_live.config import load_config
from gisaxs_live.preprocess.prepare import FramePreprocessor
from gisaxs_live.preprocess.regrid import build_lookup
from gisaxs_live.qgrid import QGrid
from gisaxs_live.sources.files import read_frames

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"real frames not present: {REAL} is absent")

DATASETS = {
    # name: (config, frame files, masked-fraction bounds)
    "desy_insitu_2024": ("desy_insitu_2024.yaml", "insitu_desy_2024/*.cbf", (0.10, 0.30)),
    "galaxi": ("galaxi.yaml", "galaxi/galaxi_data.tif.gz", (0.0, 0.05)),
}


@pytest.fixture(scope="module", params=sorted(DATASETS))
def dataset(request) -> dict:
    config_name, pattern, bounds = DATASETS[request.param]
    config = load_config(ROOT / "config" / "real" / config_name)
    grid = QGrid.for_experiment(config.experiment, config.grid)
    pre = FramePreprocessor(config, grid, config.scale.decades)
    paths = sorted(REAL.glob(pattern))
    assert paths, f"no frames match {pattern} in {REAL}"
    frames = [frame for path in paths for frame in read_frames(path)]
    return {"config": config, "grid": grid, "pre": pre, "frames": frames, "bounds": bounds,
            "prepared": [pre.prepare(frame) for frame in frames]}


def test_every_frame_is_ok(dataset):
    for frame, prepared in zip(dataset["frames"], dataset["prepared"]):
        assert prepared.status == "ok", prepared.message
        assert prepared.image.shape == dataset["grid"].shape and prepared.image.dtype == np.uint8


def test_the_bright_region_is_at_low_q(dataset):
    for prepared in dataset["prepared"]:
        row, col = np.unravel_index(np.nanargmax(prepared.intensity), prepared.intensity.shape)
        assert row < 10 and col < 5, (row, col)
        image = prepared.image.astype(float)
        assert image[:20, :15].mean() > image[45:, 35:].mean() + 40


def test_the_yoneda_band_is_where_the_critical_angle_puts_it(dataset):
    config, grid = dataset["config"], dataset["grid"]
    experiment = config.experiment
    n = experiment.substrate.refractive_index(experiment.wavelength_nm)
    alpha_c = math.sqrt(2.0 * (1.0 - n.real))
    qz = experiment.k_nm * (math.sin(experiment.alpha_i_rad) + math.sin(alpha_c))
    expected_row = (qz - grid.qz_min) / (grid.qz_max - grid.qz_min) * grid.n_qz
    for prepared in dataset["prepared"]:
        brightest_row = int(np.argmax(prepared.image[:, 5:40].astype(float).mean(axis=1)))
        assert abs(brightest_row - expected_row) <= 2.0, (brightest_row, expected_row)


def test_a_sensible_fraction_of_the_grid_pixels_is_masked(dataset):
    config, pre = dataset["config"], dataset["pre"]
    low, high = dataset["bounds"]
    for frame in dataset["frames"]:
        shape = frame.data.shape
        q = pre.geometry.pixel_q(shape, config.experiment.k_nm, config.experiment.alpha_i_rad)
        in_grid = build_lookup(q, np.zeros(shape, dtype=bool), dataset["grid"]).pixels.size
        values = frame.data.ravel()[pre.lookup(shape).pixels]
        valid = (values >= 0) & (values <= (config.mask.max_count or np.inf))
        masked = 1.0 - np.count_nonzero(valid) / in_grid
        assert low <= masked <= high, f"{frame.source}: {masked:.1%} masked"
