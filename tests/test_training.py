"""Training: a small real run beats chance by far, the fixed schedule, fine-tuning a model directory, and
streaming a sharded set in chunks."""

import json

import numpy as np
import pytest

from gisaxs_live.classify.answer import EVERY_FAMILY
from gisaxs_live.classify.ood import OUTLIER_LAYER
from gisaxs_live.classify.modeldir import ModelInfo, bundled_model_dir
from gisaxs_live.classify.predictor import CONV_LAYER, FEATURE_LAYER, Predictor
from gisaxs_live.cli import main
from gisaxs_live.config import load_config
from gisaxs_live.preprocess.scale import to_levels
from gisaxs_live.scale.simulate import write_shard
from gisaxs_live.simulator.dataset import random_specs, simulate_specs
from gisaxs_live.simulator.foreign import KINDS
from gisaxs_live.simulator.shards import IntensityView, PatternSet, Shard, shard_name, write_manifest
from gisaxs_live.simulator.shapes import CLASS_NAMES
from gisaxs_live.training.augment import Realism
from gisaxs_live.training.ood_calibration import HELD_OUT_DRAWS, QUANTILE
from gisaxs_live.training.train import TrainSettings, _batches, _keras_schedule, learning_rate_at, train_classifier


def test_small_training_run_reaches_well_above_chance():
    config = load_config()
    specs = random_specs(per_class=60, seed=3, test_fraction=0.25)
    intensity = np.stack(list(simulate_specs(specs, config, workers=1)))
    labels = np.array([s.label for s in specs])
    test = np.array([s.test for s in specs])
    gentle = Realism(peak_counts=(1e4, 1e6), p_clean=0.5)
    settings = TrainSettings(epochs=15, batch_size=32, seed=1, precision="float32")
    model, reports = train_classifier(intensity[~test], labels[~test], to_levels(intensity[test], 5.0), labels[test],
                                      len(CLASS_NAMES), 5.0, settings, gentle)
    assert [r.epoch for r in reports] == list(range(1, 16))
    chance = 1.0 / len(CLASS_NAMES)
    assert reports[-1].val_accuracy > 3 * chance  # 37.5 %; a broken pipeline stays near 12.5 %
    probabilities = model.predict(to_levels(intensity[test], 5.0)[..., None] / 255.0, verbose=0)
    # the returned model carries the last epoch's weights
    assert np.mean(np.argmax(probabilities, axis=1) == labels[test]) == pytest.approx(reports[-1].val_accuracy,
                                                                                      abs=1e-6)


def test_schedule_warms_up_then_follows_a_cosine_to_its_floor():
    settings = TrainSettings(epochs=10, learning_rate=2e-3, warmup_epochs=1.0, final_fraction=0.01)
    steps = 50
    rates = np.array([learning_rate_at(step, steps, settings) for step in range(10 * steps)])
    assert rates[0] == pytest.approx(2e-3 / steps)
    assert rates[steps - 1] == pytest.approx(2e-3)  # the peak at the end of the warm-up
    assert np.all(np.diff(rates[:steps]) > 0) and np.all(np.diff(rates[steps:]) <= 0)
    assert rates[-1] == pytest.approx(2e-5, rel=0.01)
    midway = steps + (10 * steps - steps) // 2
    assert rates[midway] == pytest.approx(2e-3 * (0.01 + 0.99 * 0.5), rel=0.01)
    graph = _keras_schedule(steps, settings)
    for step in (0, 10, steps, midway, 10 * steps - 1):
        assert float(graph(step)) == pytest.approx(learning_rate_at(step, steps, settings), rel=1e-5)


def test_a_train_step_gets_every_image_once_in_order_in_batches_of_the_batch_size():
    """The steps' batches are NumPy slices of the images in memory (no tf.data iterator whose shutdown stalled an
    epoch), the last one the remainder, each with its own images' targets."""
    images = np.arange(70 * 3 * 2, dtype=np.uint8).reshape(70, 3, 2)
    targets = np.arange(70) % 8
    batches = _batches(images, targets, 32)
    assert [len(b) for b, _ in batches] == [32, 32, 6]
    assert all(isinstance(b, np.ndarray) and b.dtype == np.uint8 for b, _ in batches)
    np.testing.assert_array_equal(np.concatenate([b for b, _ in batches]), images)
    np.testing.assert_array_equal(np.concatenate([t for _, t in batches]), targets)


def test_fine_tuning_on_a_tiny_set_keeps_the_classes_and_writes_a_loadable_model(tmp_path):
    out = tmp_path / "tuned"
    status = main(["train", "--from", str(bundled_model_dir()), "--per-class", "5", "--epochs", "1",
                   "--outliers-per-kind", "2", "--workers", "1", "--out", str(out)])
    assert status == 0
    assert not (out / ".training").exists()  # finished: other processes may load it
    meta = json.loads((out / "model.json").read_text())
    assert meta["class_names"] == list(ModelInfo.read(None).class_names)
    assert meta["ood"]["n_held_out"] == 8
    # both calibrations name the set they came from: here the whole training set
    assert meta["ood"]["dataset"] == meta["answer"]["dataset"]
    assert meta["ood"]["dataset"]["sha256"] == meta["training_set"]["sha256"]
    assert meta["fine_tuned_from"]["path"] == str(bundled_model_dir())
    assert meta["training"]["epochs"] == 1 and len(meta["training"]["history"]) == 1
    assert meta["randomisation"]["wavelength_band"] > 0 and meta["augmentation"]["smear_bins"] > 0
    assert (out / "ood.npz").exists() and meta["ood"]["quantile"] == QUANTILE  # the flag comes with every model
    assert meta["ood"]["held_out_draws"] == HELD_OUT_DRAWS > 1
    # 8 held-out patterns are too few for a 95 % answer set: every answer names every family
    assert meta["answer"]["level"] == 0.95 and meta["answer"]["threshold"] == EVERY_FAMILY
    assert meta["answer"]["held_out"]["coverage"] == 1.0 and meta["answer"]["held_out"]["mean_size"] == 7.0
    predictor = Predictor(out)
    assert predictor.ood is not None
    # the flag reads the dense layer's activations and a convolution's channel spreads, and an outlier-exposure
    # network reads them with the other convolutions' channel statistics: all the features
    assert [layer.name for layer in predictor.ood.layers] == ["dense", f"{CONV_LAYER}_std", OUTLIER_LAYER]
    assert predictor.ood.layers[1].stop == (predictor.model.get_layer(FEATURE_LAYER).units
                                            + predictor.model.get_layer(CONV_LAYER).filters)
    assert predictor.ood.n_features == predictor.feature_layers[-1].stop > predictor.ood.layers[1].stop
    assert f"{CONV_LAYER}_std" in meta["ood"]["method"] and meta["ood"]["foreign_per_kind"] == 2
    assert meta["ood"]["foreign_kinds"] == list(KINDS)
    images = np.zeros((2, 90, 70), np.uint8)
    images[:, :30, :20] = 200
    probabilities = predictor.predict(images)
    assert probabilities.shape == (2, len(CLASS_NAMES))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_fine_tuning_to_another_grid_shape_stops_with_one_line(tmp_path, capsys):
    config = tmp_path / "wide.yaml"
    config.write_text("grid:\n  n_qy: 60\n")
    status = main(["train", "--from", str(bundled_model_dir()), "--config", str(config), "--per-class", "5",
                   "--epochs", "1", "--out", str(tmp_path / "tuned")])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "q-grid is 90 x 70 bins" in err[0] and "90 x 60" in err[0]
    assert not (tmp_path / "tuned" / "model.json").exists()


def test_a_sharded_set_streams_in_chunks_each_pattern_once_per_epoch(tmp_path):
    config = load_config()
    specs = random_specs(per_class=4, seed=5, test_fraction=0.25)  # 32 patterns, 24 for training
    shards = [Shard(tmp_path / shard_name(i), start, len(specs[start:start + 10]))
              for i, start in enumerate(range(0, len(specs), 10))]
    for shard in shards:  # the Dask task's function, run here
        write_shard(str(shard.path), specs[shard.start:shard.start + shard.count], config, 5, "random", None)
    write_manifest(tmp_path, shards, seed=5, protocol="random", chunk=10, sha256="")
    patterns = PatternSet(tmp_path, record=True)
    train, val = np.nonzero(~patterns.test)[0], np.nonzero(patterns.test)[0]
    val_images = to_levels(patterns.intensity(val), 5.0)
    patterns.reads.clear()
    settings = TrainSettings(epochs=2, batch_size=8, seed=0, precision="float32")
    _, reports = train_classifier(IntensityView(patterns, train), patterns.labels[train], val_images,
                                  patterns.labels[val], len(CLASS_NAMES), 5.0, settings, chunk=7)
    assert [r.epoch for r in reports] == [1, 2]
    assert len(patterns.reads) == 2 * 4  # chunks of 7, 7, 7 and 3 per epoch
    for epoch in (patterns.reads[:4], patterns.reads[4:]):
        assert max(len(r) for r in epoch) == 7
        np.testing.assert_array_equal(np.sort(np.concatenate(epoch)), train)  # every pattern once
    one_pattern = patterns.intensity(train[:1]).nbytes
    # the reader never held more than one shard's slab, less than the training set's intensities
    assert patterns.peak_bytes <= 10 * one_pattern < len(train) * one_pattern
