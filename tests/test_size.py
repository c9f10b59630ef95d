"""The size columns (issue 11, 1): the interparticle distance's definition, the size net's targets and loss,
a small real training run against a constant guess, the columns in the CSV and back, and a log written
before them."""

import csv
import json
import math
import shutil

import numpy as np
import pytest

from gisaxs_live.classify.modeldir import bundled_model_dir
from gisaxs_live.classify.size import SIZE_COLUMNS, SizeEstimate, interparticle_distance
from gisaxs_live.classify.size_net import TARGETS, SizeNetInfo, estimates, gaussian_nll
from gisaxs_live.config import load_config
from gisaxs_live.results import Result, csv_columns
from gisaxs_live.simulator.dataset import Randomisation, random_specs, write_dataset
from gisaxs_live.simulator.shards import PatternSet
from gisaxs_live.simulator.structure import STRUCTURE_KINDS
from gisaxs_live.sinks.csvlog import CsvLog, LogError, format_rows
from gisaxs_live.training.augment import Realism, held_out_images
from gisaxs_live.training.size_targets import size_targets
from gisaxs_live.training.size_training import train_size_net
from gisaxs_live.training.train import TrainSettings


def test_estimate_fields_are_the_size_columns():
    from dataclasses import fields

    assert tuple(f.name for f in fields(SizeEstimate)) == SIZE_COLUMNS


@pytest.mark.parametrize("d_y", [5.0, 12.5, 40.0])
def test_hard_sphere_distance_is_the_mean_spacing_of_the_number_density(d_y):
    # at η = π/6 one sphere of diameter D fills a cube of edge D: the spacing is D itself
    assert interparticle_distance(d_y, "hard_sphere", math.pi / 6.0, math.nan) == pytest.approx(d_y)
    # n = 6η/(πD³) and spacing n^(-1/3): eight times the volume fraction halves it
    assert (interparticle_distance(d_y, "hard_sphere", 0.02, math.nan)
            == pytest.approx(2.0 * interparticle_distance(d_y, "hard_sphere", 0.16, math.nan)))


def test_paracrystal_distance_is_its_spacing_and_dilute_has_none():
    assert interparticle_distance(10.0, "paracrystal", math.nan, 1.7) == pytest.approx(17.0)
    assert math.isnan(interparticle_distance(10.0, "dilute", 0.2, 1.7))
    assert math.isnan(interparticle_distance(10.0, "hard_sphere", 0.0, math.nan))


def test_gaussian_nll_is_the_analytic_value_and_skips_undefined_targets():
    n = len(TARGETS)
    outputs = np.zeros((2, 2 * n), np.float32)
    outputs[:, n:] = np.log(4.0)  # σ = 2
    targets = np.array([[1.0, 0.0, 2.0, np.nan], [0.0, 0.0, 0.0, 0.0]], np.float32)
    expected = np.mean([0.5 * (y * y / 4.0 + np.log(4.0)) for y in (1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0)])
    assert float(gaussian_nll(targets, outputs)) == pytest.approx(expected, rel=1e-5)


def test_standardisation_round_trips_and_sigma_is_in_target_units():
    true = np.array([[np.log(10.0), 0.5, np.log(3.0), np.log(15.0)], [np.log(30.0), 0.9, np.log(9.0), np.nan]])
    info = SizeNetInfo.fit(true)
    z = info.standardise(true)
    log_variance = np.full_like(z, np.log(0.25))  # σ = 0.5 standard deviations
    mean, sigma = info.physical(np.concatenate([np.nan_to_num(z), log_variance], axis=1))
    np.testing.assert_allclose(mean[0], true[0], rtol=1e-6)
    np.testing.assert_allclose(sigma[0], 0.5 * np.asarray(info.std), rtol=1e-6)
    found = estimates(info, np.concatenate([np.nan_to_num(z), log_variance], axis=1))[0]
    assert found.D_y_nm == pytest.approx(10.0, rel=1e-5) and found.distance_nm == pytest.approx(15.0, rel=1e-5)
    assert found.D_y_err_nm == pytest.approx(10.0 * 0.5 * info.std[0], rel=1e-5)  # σ_ln × value


def test_loss_weights_count_each_target_that_many_times():
    n = len(TARGETS)
    outputs = np.zeros((2, 2 * n), np.float32)
    targets = np.array([[1.0, 2.0, 0.0, np.nan], [1.0, 0.0, 0.0, 0.0]], np.float32)
    terms = 0.5 * np.nan_to_num(targets) ** 2
    weights = (2.0, 1.0, 1.0, 1.0)
    w = np.isfinite(targets) * np.asarray(weights)
    assert float(gaussian_nll(targets, outputs, weights)) == pytest.approx((terms * w).sum() / w.sum(), rel=1e-5)


def test_the_layout_is_recorded_and_a_record_without_it_is_the_first_layout():
    true = np.array([[np.log(10.0), 0.5, np.log(3.0), np.log(15.0)], [np.log(30.0), 0.9, np.log(9.0), np.nan]])
    info = SizeNetInfo.fit(true, (8, 8, 16), depth=2, position=True)
    assert SizeNetInfo.from_meta(json.loads(json.dumps(info.record()))) == info
    first = {k: v for k, v in info.record().items() if k not in ("depth", "position", "filters")}
    assert SizeNetInfo.from_meta(first).depth == 1 and SizeNetInfo.from_meta(first).position is False
    net = info.build((24, 16))
    bias = net.get_layer("size_position")
    assert [tuple(w.shape) for w in bias.weights] == [(24, 1, 8), (1, 16, 8)]
    assert net(np.zeros((3, 24, 16, 1), np.float32)).shape == (3, 2 * len(TARGETS))
    assert "size_position" not in [layer.name for layer in SizeNetInfo.from_meta(first).build((24, 16)).layers]


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """40 randomised patterns per class, a quarter held out."""
    path = tmp_path_factory.mktemp("size") / "set.h5"
    specs = random_specs(per_class=40, seed=5, test_fraction=0.25, randomisation=Randomisation())
    write_dataset(path, specs, load_config(), seed=5, protocol="random", workers=1, randomisation=Randomisation())
    return PatternSet(path)


def test_targets_follow_the_parameters_and_the_structure(small_set):
    targets = size_targets(small_set.parameters, small_set.variation, small_set.attrs)
    np.testing.assert_allclose(np.exp(targets[:, 0]), small_set.parameters[:, 0])
    kind = small_set.variation[:, 2].astype(int)
    dilute = kind == STRUCTURE_KINDS.index("dilute")
    assert dilute.any() and np.isnan(targets[dilute, 3]).all() and np.isfinite(targets[~dilute, 3]).all()
    para = kind == STRUCTURE_KINDS.index("paracrystal")
    np.testing.assert_allclose(np.exp(targets[para, 3]), small_set.variation[para, 4] * small_set.parameters[para, 0])


@pytest.fixture(scope="module")
def size_model(small_set, tmp_path_factory):
    """A copy of the bundled model with a size net trained on the small set (gentle noise)."""
    model = tmp_path_factory.mktemp("model") / "m"
    shutil.copytree(bundled_model_dir(), model)
    (model / "size.weights.h5").unlink(missing_ok=True)
    realism = Realism(peak_counts=(1e4, 1e6), p_clean=0.5)
    val = np.nonzero(small_set.test)[0]
    settings = TrainSettings(epochs=10, seed=2, precision="float32")
    record = train_size_net(model, small_set, held_out_images(small_set, val, 2, realism), realism, settings)
    return model, record


def test_a_small_training_run_beats_a_constant_guess(small_set, size_model):
    model, record = size_model
    figures = record["metrics"]["held_out_noisy"]["all"]
    train = ~small_set.test
    d_y = small_set.parameters[:, 0]
    guess = np.exp(np.mean(np.log(d_y[train])))  # the best constant in ln D_y
    constant = float(np.median(np.abs(d_y[small_set.test] / guess - 1.0)))
    assert figures["D_y"]["median"] < 0.7 * constant  # a broken net or pipeline stays at the guess (~45 %)
    assert figures["D_y"]["n"] == int(small_set.test.sum())
    assert set(record["metrics"]["held_out_noisy"]["per_class"]) == set(small_set.class_names)
    assert 0.0 < figures["D_y"]["coverage_1sigma"] <= 100.0
    assert json.loads((model / "model.json").read_text())["size"]["targets"] == list(TARGETS)


def test_classify_writes_the_size_columns(size_model, tmp_path):
    from gisaxs_live.classify.pipeline import Classifier
    from gisaxs_live.frame import Frame
    from gisaxs_live.publisher.demo_series import GrowthSeries, demo_config

    model, _ = size_model
    config = demo_config(load_config())
    series = GrowthSeries(config, 3)
    classifier = Classifier(config, model)
    results = classifier.classify([Frame(series.frame(i), f"f{i}.cbf", 0, 0.0) for i in range(3)])
    log = CsvLog(tmp_path / "log.csv", classifier.class_names)
    log.write(results)
    with open(tmp_path / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r.status for r in results] != ["unknown"] * 3
    for result, row in zip(results, rows):
        back = Result.from_row(row).size
        if result.status == "ok":
            assert 1.0 < back.D_y_nm < 100.0 and back.D_y_err_nm > 0 and 0.1 < back.aspect < 3.0
            assert back.D_y_nm == pytest.approx(result.size.D_y_nm, abs=0.006)
        else:  # the net's values mean nothing on a frame unlike every class: only the descriptors
            assert result.status == "unknown" and math.isnan(result.size.D_y_nm)


@pytest.mark.parametrize("missing", [("answer", *SIZE_COLUMNS), ("answer",)],
                         ids=["before the size columns", "before the answer column"])
def test_a_log_of_an_earlier_layout_is_continued_in_its_layout(tmp_path, missing):
    old = [c for c in csv_columns() if c not in missing]
    path = tmp_path / "old.csv"
    path.write_text(format_rows([old]))
    result = Result("a.cbf", 0, "ok", tuple([0.9] + [0.1 / 7] * 7), size=SizeEstimate(D_y_nm=12.0),
                    answer=("capsule",))
    log = CsvLog(path)
    log.write([result])
    log.close()
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == old and rows[0]["top1"] == "capsule"
    back = Result.from_row(rows[0])
    assert back.answer == () and (back.size is None) == ("D_y_nm" in missing)
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b,c\n")
    with pytest.raises(LogError, match="columns differ"):
        CsvLog(foreign)


def test_the_bundled_size_net_follows_the_demo_growth_series():
    """The demo's six key frames (publisher/demo_series.KEYS: D_y 8 to 30 nm), rendered on a Pilatus 1M with
    counting noise, module gaps and a beam stop, read through the live path: the bundled size net's D_y is
    within 15 % of each key's and within 3σ of it."""
    from gisaxs_live.classify.pipeline import Classifier
    from gisaxs_live.frame import Frame
    from gisaxs_live.publisher.demo_series import KEYS, GrowthSeries, demo_config

    config = demo_config(load_config())
    series = GrowthSeries(config, len(KEYS))
    results = Classifier(config).classify([Frame(series.frame(i), f"f{i}.cbf", 0, 0.0) for i in range(len(KEYS))])
    for (_, params), result in zip(KEYS, results):
        if result.status == "unknown" and params is KEYS[0][1]:
            continue  # the first key (8-nm hemispheroids) sits at the out-of-distribution threshold: no sizes
        assert result.status == "ok"
        d_y, sigma = result.size.D_y_nm, result.size.D_y_err_nm
        assert abs(d_y / params["D_y"] - 1.0) < 0.15 and abs(d_y - params["D_y"]) < 3.0 * sigma, (params, d_y, sigma)
