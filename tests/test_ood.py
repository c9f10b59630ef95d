"""The out-of-distribution flag ("none of these"): the Mahalanobis score on known Gaussians, and the bundled
model's flag on frames unlike every class, through the live path."""

from __future__ import annotations


import numpy as np
import pytest

from gisaxs_live.classify.ood import (OUTLIER_LAYER, OUTLIER_QUANTILE, LayerGaussians, LayerSpec, OodModel,
                                     OutlierLayer, fit)
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
    (layer,) = model.layers
    background = float((between[0] - layer.background_mean) @ layer.background_precision
                       @ (between[0] - layer.background_mean))
    assert layer.distances(between[:1])[0] * layer.scale + background == pytest.approx(25.0, rel=0.05)
    assert background < 1.0


def _two_layer_set(rng, n):
    """Two classes; layer a (columns 0-2) separates them, layer b (columns 3-4) is the same for both, in two
    blobs per class (a class made of patterns of two kinds)."""
    labels = rng.integers(0, 2, n)
    blob = rng.integers(0, 2, n)
    a = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 0.0]])[labels] + rng.normal(size=(n, 3))
    b = np.array([[-6.0, 0.0], [6.0, 0.0]])[blob] + rng.normal(size=(n, 2))
    return np.concatenate([a, b], axis=1), labels


def test_a_second_layer_flags_what_the_first_misses_at_the_same_held_out_rate():
    rng = np.random.default_rng(1)
    features, labels = _two_layer_set(rng, 6000)
    held, _ = _two_layer_set(rng, 6000)
    layers = (LayerSpec("a", 0, 3), LayerSpec("b", 3, 5, components=2))
    model = fit(features, labels, 2, held, quantile=0.98, shrinkage=0.0, layers=layers)
    assert [layer.name for layer in model.layers] == ["a", "b"]
    assert [len(layer.means) for layer in model.layers] == [2, 4]  # two k-means components per class in b
    for layer in model.layers:  # each layer is 1 at its own held-out quantile
        assert np.quantile(layer.distances(held), 0.98) == pytest.approx(1.0, rel=1e-9)
    # the frame's distance is the larger layer's: the overall rate stays the quantile's
    assert np.mean(model.score(held) > 1.0) == pytest.approx(0.02, abs=0.004)
    fresh, _ = _two_layer_set(rng, 6000)
    assert np.mean(model.score(fresh) > 1.0) == pytest.approx(0.02, abs=0.006)
    # like class 0 in layer a, but between the blobs in layer b (where no pattern lies): only b sees it
    odd = np.array([[0.0, 0.0, 0.0, 0.0, 0.0], [8.0, 0.5, 0.0, 0.0, 1.0]])
    assert np.all(model.layers[0].distances(odd) < 1.0)
    assert np.all(model.score(odd) > 1.0)
    # one Gaussian per class in b would put its mean there, between the blobs, and call these frames typical
    assert np.all(np.abs(odd[:, 3:] - features[labels == 0, 3:].mean(axis=0)) < 1.2)
    with pytest.raises(ValueError, match="the statistics read 5 columns"):
        model.score(odd[:, :4])


def test_statistics_round_trip_through_the_model_directory(tmp_path):
    dense = LayerGaussians("dense", 0, 4, np.eye(2, 4), np.eye(4), np.zeros(4), 0.5 * np.eye(4), 2.0)
    conv = LayerGaussians("conv2_std", 4, 6, np.ones((3, 2)), 2.0 * np.eye(2), np.zeros(2), np.eye(2), 0.5)
    model = OodModel((dense, conv), 3.0, 0.99)
    model.save(tmp_path)
    back = OodModel.load(tmp_path)
    assert back is not None and back.threshold == 3.0
    assert [layer.name for layer in back.layers] == ["dense", "conv2_std"]
    assert back.layers[1].start == 4 and back.layers[1].scale == 0.5
    features = np.random.default_rng(2).normal(size=(5, 6))
    np.testing.assert_allclose(back.score(features), model.score(features), rtol=1e-6)
    assert OodModel.load(tmp_path / "elsewhere") is None
    (tmp_path / "ood.npz").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="unreadable out-of-distribution statistics"):
        OodModel.load(tmp_path)


def test_statistics_from_before_the_layers_score_the_first_columns_as_they_did(tmp_path):
    """An ``ood.npz`` of the dense layer alone (no layer keys): the first columns, distance / threshold."""
    rng = np.random.default_rng(3)
    means, precision = rng.normal(size=(2, 4)), np.diag([1.0, 2.0, 3.0, 4.0])
    np.savez(tmp_path / "ood.npz", means=means, precision=precision, background_mean=np.zeros(4),
             background_precision=0.5 * np.eye(4), threshold=3.0, quantile=0.99)
    model = OodModel.load(tmp_path)
    assert model is not None and len(model.layers) == 1 and model.n_features == 4
    features = rng.normal(size=(6, 4))
    nearest = np.min([np.einsum("nd,de,ne->n", features - m, precision, features - m) for m in means], axis=0)
    expected = (nearest - 0.5 * np.sum(features**2, axis=1)) / 3.0
    np.testing.assert_allclose(model.score(features), expected, rtol=1e-9)
    # the live features carry the convolution's columns after the dense layer's: they are not read
    np.testing.assert_allclose(model.score(np.concatenate([features, rng.normal(size=(6, 2))], axis=1)), expected,
                               rtol=1e-9)


def test_outlier_exposure_flags_foreign_frames_that_lie_inside_the_class_gaussians(tmp_path):
    """Foreign features in a hole of the known classes' distribution, at their Gaussians' means (so the
    Mahalanobis layer calls them typical), are what the outlier-exposure layer learns to flag; its distance is 1
    at its own held-out quantile, the overall false-flag rate stays the quantile's, and the layer round-trips
    through ood.npz."""
    from gisaxs_live.training.outlier_exposure import fit_outlier_layer

    rng = np.random.default_rng(4)

    def known(n):  # two classes along the first axis; along the third, every pattern lies near -2 or +2
        labels = rng.integers(0, 2, n)
        third = rng.choice([-2.0, 2.0], n) + rng.normal(0, 0.5, n)
        return np.column_stack([6.0 * labels + rng.normal(size=n), rng.normal(size=n), third]), labels

    def foreign(n):  # class 0's mean, where none of its patterns lies
        return np.column_stack([rng.normal(0, 0.5, n), rng.normal(0, 0.5, n), rng.normal(0, 0.2, n)])

    features, labels = known(4000)
    held, _ = known(4000)
    gaussian = LayerSpec("a", 0, 3)
    plain = fit(features, labels, 2, held, quantile=0.99, shrinkage=0.0, layers=(gaussian,))
    test = foreign(500)
    assert np.mean(plain.score(test) > 1.0) < 0.05  # inside the classes' Gaussians
    layer = fit_outlier_layer(LayerSpec(OUTLIER_LAYER, 0, 3), features, foreign(2000), seed=0)
    model = fit(features, labels, 2, held, quantile=0.99, shrinkage=0.0, layers=(gaussian,), outliers=layer)
    assert [type(layer) for layer in model.layers] == [LayerGaussians, OutlierLayer]
    # 0 at the held-out median, 1 at its own quantile, above the Gaussian layers' (real frames lie further out)
    assert OUTLIER_QUANTILE > 0.99
    assert np.quantile(model.layers[1].distances(held), [0.5, OUTLIER_QUANTILE]) == pytest.approx([0.0, 1.0], abs=1e-9)
    assert np.mean(model.score(test) > 1.0) > 0.9
    fresh, _ = known(4000)
    assert np.mean(model.score(fresh) > 1.0) == pytest.approx(0.01, abs=0.006)
    model.save(tmp_path)
    back = OodModel.load(tmp_path)
    assert isinstance(back.layers[1], OutlierLayer) and back.layers[1].offset == pytest.approx(model.layers[1].offset)
    np.testing.assert_allclose(back.score(test), model.score(test), rtol=1e-4, atol=1e-4)


def test_the_outlier_networks_start_apart_and_a_seed_gives_the_same_ensemble_again():
    """The ENSEMBLE networks are each trained from a start of their own: they differ from one another, and fitting
    again with the same seed gives the same weights (``train --seed`` reproduces the bundled flag)."""
    from gisaxs_live.training.outlier_exposure import ENSEMBLE, fit_outlier_layer

    rng = np.random.default_rng(2)
    known, foreign = rng.normal(size=(600, 4)), rng.normal(0.5, 0.3, size=(200, 4))
    spec = LayerSpec(OUTLIER_LAYER, 0, 4)
    layer = fit_outlier_layer(spec, known, foreign, seed=1)
    assert layer.w1.shape == (ENSEMBLE, 4, layer.b1.shape[1]) and layer.w2.shape == layer.b1.shape
    assert ENSEMBLE > 1 and not np.allclose(layer.w1[0], layer.w1[1])
    again = fit_outlier_layer(spec, known, foreign, seed=1)
    np.testing.assert_array_equal(again.w1, layer.w1)
    np.testing.assert_array_equal(again.b2, layer.b2)


def test_the_outlier_layer_is_trained_only_on_its_own_columns():
    with pytest.raises(ValueError, match="is not the outlier-exposure layer"):
        from gisaxs_live.training.outlier_exposure import fit_outlier_layer

        fit_outlier_layer(LayerSpec("dense", 0, 3), np.zeros((4, 3)), np.ones((4, 3)), seed=0)


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

    import json

    plain = tmp_path / "plain"
    shutil.copytree(bundled_model_dir(), plain, ignore=shutil.ignore_patterns("training_set.h5"))
    (plain / "ood.npz").unlink()  # an older model: neither the file nor its record (the file alone is refused)
    meta = json.loads((plain / "model.json").read_text())
    del meta["ood"]
    (plain / "model.json").write_text(json.dumps(meta))
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


def test_the_bundled_flag_catches_frames_of_each_layers_kind(model_dir):
    """Frames of ``simulator.foreign`` (model space, detector-like, a seed the calibration did not draw):
    lamellar gratings, which the dense layer lets through, are flagged through the convolution's channel
    statistics, and hollow core-shell spheres, which both Gaussian layers let through (0-2 % on the benchmark),
    through the outlier-exposure layer."""
    from gisaxs_live.classify.predictor import Predictor
    from gisaxs_live.config import load_config
    from gisaxs_live.simulator.foreign import Setting, foreign_intensities
    from gisaxs_live.training.augment import Realism, realistic_images

    predictor = Predictor(model_dir)
    assert predictor.ood is not None
    if [layer.name for layer in predictor.ood.layers] != ["dense", "conv2_std", OUTLIER_LAYER]:
        pytest.skip("the model's statistics predate the outlier-exposure layer: gisaxs-live calibrate-ood SET --model DIR")
    config = load_config()
    setting = Setting.of_config(config)
    for kind, least, layer in (("grating", 0.8, 1), ("core_shell", 0.8, 2)):  # 100 and 97.5 % on the benchmark
        intensity = foreign_intensities(kind, 20, 11, setting)
        images = realistic_images(intensity, np.random.default_rng(11), predictor.info.decades, Realism(p_clean=0.0))
        features = predictor.forward(images)[1]
        flagged = predictor.ood_scores(features) > 1.0
        assert np.mean(flagged) >= least, (kind, predictor.ood_scores(features))
        by_layer = np.array([layer.distances(features) for layer in predictor.ood.layers]) / predictor.ood.threshold
        assert np.sum(flagged & (by_layer[layer] > 1.0) & (by_layer[0] <= 1.0)) > 0  # frames the dense layer misses


def test_calibration_makes_patterns_detector_like_as_the_model_was_trained(model_dir):
    """``calibrate-ood`` draws the held-out patterns with the model's own training augmentation (its instrument
    effects too), as ``train`` does, not the plain default."""
    import json

    from gisaxs_live.classify.predictor import Predictor
    from gisaxs_live.training.augment import Realism
    from gisaxs_live.training.ood_calibration import model_realism

    recorded = json.loads((model_dir / "model.json").read_text())["augmentation"]
    realism = model_realism(Predictor(model_dir, with_ood=False))
    assert realism != Realism() and realism.smear_bins == recorded["smear_bins"] > 0
    assert realism.peak_counts == tuple(recorded["peak_counts"])


def test_calibrate_ood_refuses_sets_too_small_and_leaves_the_model_as_it_was(model_dir, tmp_path, capsys):
    """A trial's 8 held-out patterns gave a threshold silently written into the model (its 98.5th percentile cannot
    lie among 8), and 8 training patterns "Singular matrix"; each is now one line naming the set and the cure."""
    import shutil

    from gisaxs_live.cli import main

    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    before = {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()}
    small, skewed = tmp_path / "small.h5", tmp_path / "skewed.h5"
    assert main(["simulate", "--protocol", "random", "--per-class", "2", "--seed", "5", "--test-fraction", "0.5",
                 "--out", str(small)]) == 0
    assert main(["simulate", "--protocol", "random", "--per-class", "10", "--seed", "5", "--test-fraction", "0.9",
                 "--out", str(skewed)]) == 0
    capsys.readouterr()
    for dataset, said in ((small, "8 held-out patterns are too few for --quantile 0.985 (at least 66)"),
                          (skewed, "its 8 training patterns are too few to fit the class statistics")):
        assert main(["calibrate-ood", "--model", str(model), "--outliers-per-kind", "0", str(dataset)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gisaxs-live calibrate-ood: error: {dataset}: {said}") and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()} == before
