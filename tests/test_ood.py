"""The out-of-distribution flag ("none of these"): the Mahalanobis score on known Gaussians, and the bundled
model's flag on frames unlike every class, through the live path."""

from __future__ import annotations


import numpy as np
import pytest

from gisaxs_live.classify.ood import OodModel, fit
from gisaxs_live.config import load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, demo_config
from gisaxs_live.frame import Frame
from gisaxs_live.classify.pipeline import Classifier


def test_the_score_is_one_at_the_held_out_quantile_and_grows_away_from_every_class():
    rng = np.random.default_rng(0)
    means = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    labels = rng.integers(0, 2, 4000)
    features = means[labels] + rng.normal(size=(4000, 3))
    held_labels = rng.integers(0, 2, 4000)
    held = means[held_labels] + rng.normal(size=(4000, 3))
    model = fit(features, labels, 2, held, quantile=0.95, shrinkage=0.0)
    assert np.mean(model.score(held) > 1.0) == pytest.approx(0.05, abs=0.002)
    # between the two classes, where no pattern of either lies: flagged; at a class mean: far below
    between = np.array([[5.0, 0.0, 0.0], [5.0, 1.0, -1.0]])
    assert np.all(model.score(between) > 1.0)
    assert np.all(model.score(means) < 0.0)
    # the class term alone is the squared Mahalanobis distance (25 at 5 σ from the nearest mean); the relative
    # distance removes what the background Gaussian explains (little here: the point lies at its centre)
    background = float((between[0] - model.background_mean) @ model.background_precision
                       @ (between[0] - model.background_mean))
    assert model.distances(between[:1])[0] + background == pytest.approx(25.0, rel=0.05)
    assert background < 1.0


def test_statistics_round_trip_through_the_model_directory(tmp_path):
    model = OodModel(np.eye(2, 4), np.eye(4), np.zeros(4), 0.5 * np.eye(4), 3.0, 0.99)
    model.save(tmp_path)
    back = OodModel.load(tmp_path)
    assert back is not None and back.threshold == 3.0
    np.testing.assert_allclose(back.score(np.ones((1, 4))), model.score(np.ones((1, 4))), rtol=1e-6)
    assert OodModel.load(tmp_path / "elsewhere") is None
    (tmp_path / "ood.npz").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="unreadable out-of-distribution statistics"):
        OodModel.load(tmp_path)


@pytest.fixture(scope="module")
def live():
    config = demo_config(load_config())
    classifier = Classifier(config)
    assert classifier.predictor.ood is not None, "the bundled model ships its ood.npz"
    return config, classifier, GrowthSeries(config, 20, seed=3)


def saxs_ring(config, series) -> np.ndarray:
    """A powder-like ring 250 px around the direct beam over a weak background, Poisson counts, the series' gaps."""
    gaps = series.frame(0) < 0
    col, row = config.geometry.direct_beam_px
    rows, cols = np.indices(gaps.shape)
    radius = np.hypot(cols - col, rows - row)
    expected = 5e3 * np.exp(-0.5 * ((radius - 250.0) / 12.0) ** 2) + 2e4 / (1.0 + radius / 20.0) ** 2
    counts = np.random.default_rng(1).poisson(expected)
    return np.where(gaps, -1, counts).astype(np.int32)


def _frame(data: np.ndarray, name: str) -> Frame:
    return Frame(data=data, mask=None, source=name, frame_id=0, t=0.0)


def test_known_frames_are_not_flagged_and_frames_unlike_every_class_are(live):
    config, classifier, series = live
    known = [_frame(series.frame(i), f"demo{i}") for i in (8, 12, 18)]  # frame 0 (5 nm caps): ood_score 0.96
    upside_down = series.frame(19)[::-1].copy()  # the geometry's row convention wrong
    strange = [_frame(saxs_ring(config, series), "ring"), _frame(upside_down, "upside-down")]
    results = classifier.classify(known + strange)
    assert [r.status for r in results[:3]] == ["ok"] * 3, [r.ood_score for r in results]
    assert all(r.ood_score < 1.0 for r in results[:3])
    for r in results[3:]:
        assert r.status == "unknown" and r.ood_score > 1.0, (r.source, r.ood_score)
        assert "unlike every class" in r.message and r.family() is None
        assert r.ranked()  # the CNN's ranking is kept for diagnosis


def test_a_model_without_statistics_never_says_unknown(live, tmp_path):
    config, classifier, series = live
    import shutil

    from gisaxs_live.classify.modeldir import bundled_model_dir

    plain = tmp_path / "plain"
    shutil.copytree(bundled_model_dir(), plain)
    (plain / "ood.npz").unlink()
    other = Classifier(config, plain)
    (result,) = other.classify([_frame(saxs_ring(config, series), "ring")])
    assert result.status == "ok" and result.ood_score is None


def test_loading_the_statistics_puts_numpy_blas_on_one_thread():
    """OpenBLAS's helper threads spin after each batch's score product (classify/blas.py): loading the statistics
    of a model directory leaves every BLAS of the process on one thread. Run in a child, so that the setting
    does not reach the other tests."""
    import os
    import subprocess
    import sys

    code = ("import numpy\nfrom threadpoolctl import threadpool_info\n"
            "from gisaxs_live.classify.modeldir import bundled_model_dir\nfrom gisaxs_live.classify.ood import OodModel\n"
            "OodModel.load(bundled_model_dir())\n"
            "print(sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1]"
