"""The per-frame mirror check (``preprocess/mirror.py``): a pattern is mirror-symmetric about q_y = 0, so the two
detector halves folded into one bin agree unless the geometry's direct-beam column is wrong."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from gisaxs_live.config import ConfigError, load_config
from gisaxs_live.frame import Frame
from gisaxs_live.preprocess.mirror import MAX_NOISE, asymmetry
from gisaxs_live.preprocess.prepare import FramePreprocessor
from gisaxs_live.preprocess.qgrid import QGrid
from gisaxs_live.preprocess.regrid import bin_sums
from gisaxs_live.publisher.demo_series import GrowthSeries, demo_config

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def config():
    return demo_config(load_config())


@pytest.fixture(scope="module")
def preprocessor(config) -> FramePreprocessor:
    return FramePreprocessor(config, QGrid.for_experiment(config.experiment, config.grid), config.scale.decades)


def moved(config, columns: float):
    """``config`` with the direct beam ``columns`` pixels further along the rows."""
    column, row = config.geometry.direct_beam_px
    return dataclasses.replace(config, geometry=dataclasses.replace(config.geometry, direct_beam_px=(column + columns, row)))


def halves_of(preprocessor: FramePreprocessor, counts: np.ndarray) -> float | None:
    """``asymmetry`` of a frame of ``counts`` (every pixel valid)."""
    lookup = preprocessor.lookup(counts.shape)
    return asymmetry(lookup, bin_sums(counts.ravel()[lookup.pixels].copy(), lookup, None))


def q_y_side(preprocessor: FramePreprocessor, shape: tuple[int, int]) -> np.ndarray:
    experiment = preprocessor.config.experiment
    return preprocessor.geometry.pixel_q(shape, experiment.k_nm, experiment.alpha_i_rad).qy >= 0


def test_one_half_brighter_by_a_known_factor_gives_the_relative_difference(preprocessor):
    # noiseless counts, one side 1.3 times the other: r = 0.3 / 1.15 in every bin
    shape = (1043, 981)
    counts = np.where(q_y_side(preprocessor, shape), 1300, 1000).astype(np.int32)
    assert halves_of(preprocessor, counts) == pytest.approx(0.3 / 1.15, abs=0.002)
    assert halves_of(preprocessor, np.full(shape, 1000, np.int32)) == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_counting_noise_alone_is_taken_out(preprocessor, seed):
    # a symmetric truth with Poisson noise: the halves' raw differences are noise, the noise-corrected median
    # stays near 0 at any level; at a level where no bin's sigma is below MAX_NOISE there is no verdict
    rng = np.random.default_rng(seed)
    shape = (1043, 981)
    assert halves_of(preprocessor, rng.poisson(0.3, shape).astype(np.int32)) is None
    assert halves_of(preprocessor, rng.poisson(20, shape).astype(np.int32)) < 0.3 * MAX_NOISE
    assert halves_of(preprocessor, rng.poisson(2000, shape).astype(np.int32)) < 0.01


def test_a_demo_frame_is_symmetric_and_a_wrong_beam_column_is_unknown(config):
    from gisaxs_live.classify.pipeline import Classifier

    series = GrowthSeries(config, 6, seed=2)
    frames = [Frame(series.frame(i), f"f{i}.cbf", 0, 0.0) for i in range(2, 6)]
    right = Classifier(config).classify(frames)
    assert [r.status for r in right] == ["ok"] * 4, [r.message for r in right]
    wrong = Classifier(moved(config, 25)).classify(frames)
    for r in wrong:
        assert r.status == "unknown" and "direct_beam_px" in r.message and r.answer == (), r.message
        assert r.probabilities  # the ranking is still written
    unchecked = moved(config, 25)
    unchecked = dataclasses.replace(unchecked, geometry=dataclasses.replace(unchecked.geometry, max_asymmetry=None))
    assert all("direct_beam_px" not in r.message for r in Classifier(unchecked).classify(frames))


def test_the_limit_is_checked_in_the_config(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("geometry:\n  max_asymmetry: -1\n")
    with pytest.raises(ConfigError, match="geometry.max_asymmetry"):
        load_config(path)
    path.write_text("geometry:\n  max_asymmetry: null\n")
    assert load_config(path).geometry.max_asymmetry is None


@pytest.mark.skipif(not REAL.is_dir(), reason=f"real frames not present: {REAL} is absent")
def test_real_frames_pass_and_a_beam_column_20_px_off_is_caught():
    from gisaxs_live.sources.files import read_frames

    config = load_config(ROOT / "config" / "real" / "desy_insitu_2024.yaml")
    grid = QGrid.for_experiment(config.experiment, config.grid)
    frames = [f for path in sorted(REAL.glob("insitu_desy_2024/*.cbf"))[::3] for f in read_frames(path)]
    for shift, flagged in ((0, False), (-20, True), (20, True)):
        pre = FramePreprocessor(moved(config, shift), grid, config.scale.decades)
        for frame in frames:
            value = pre.prepare(frame).asymmetry
            assert value is not None and (value > config.geometry.max_asymmetry) == flagged, (shift, value)
