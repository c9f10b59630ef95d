"""The answer set: split conformal prediction over the families holds the true family at the calibrated level on
patterns like the calibration set, grows where the model is unsure, is written to the CSV and read back, and
the bundled model's rows carry it."""

from __future__ import annotations

import numpy as np
import pytest

from gisaxs_live.classify.answer import (EVERY_FAMILY, SEPARATOR, answer_set, coverage, mass_above_truth,
                                         threshold)
from gisaxs_live.results import Result, csv_columns
from gisaxs_live.simulator import SIMULATOR_VERSION


def _calibrated_model(rng: np.random.Generator, n: int, n_families: int = 5, sharpness: float = 1.0):
    """Probabilities of a calibrated model (the truth drawn from them), Dirichlet-distributed."""
    p = rng.dirichlet(np.full(n_families, sharpness), n)
    truth = np.array([rng.choice(n_families, p=row) for row in p])
    return p, truth


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95])
def test_fresh_patterns_hold_the_truth_at_the_calibrated_level(level):
    rng = np.random.default_rng(1)
    p, truth = _calibrated_model(rng, 4000)
    cut = threshold(mass_above_truth(p[:2000], truth[:2000]), level)
    held, size, single = coverage(p[2000:], truth[2000:], cut)
    assert held == pytest.approx(level, abs=0.02)  # exchangeable patterns: the coverage is the level
    assert 1.0 < size < 5.0 and single < 1.0


def test_an_unsure_model_names_more_families_than_a_sure_one():
    rng = np.random.default_rng(2)
    sizes = []
    for sharpness in (0.1, 3.0):  # peaked probabilities, then nearly flat ones
        p, truth = _calibrated_model(rng, 3000, sharpness=sharpness)
        sizes.append(coverage(p, truth, threshold(mass_above_truth(p, truth), 0.9))[1])
    assert sizes[0] < 1.6 < 3.0 < sizes[1]


def test_the_score_is_the_probability_ranked_above_the_truth():
    p = np.array([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.6, 0.3, 0.1]])
    np.testing.assert_allclose(mass_above_truth(p, np.array([0, 1, 2])), [0.0, 0.6, 0.9])


def test_families_are_taken_while_the_probability_taken_is_below_the_threshold():
    ranked = [("capsule", 0.6), ("spheroid", 0.3), ("ellipsoid", 0.1)]
    assert answer_set(ranked, 0.5) == ("capsule",)
    assert answer_set(ranked, 0.6) == ("capsule",)
    assert answer_set(ranked, np.nextafter(0.6, 1.0)) == ("capsule", "spheroid")
    assert answer_set(ranked, 0.95) == ("capsule", "spheroid", "ellipsoid")
    assert answer_set(ranked, None) == ("capsule",)  # an uncalibrated model: the top family alone
    assert answer_set([], 0.5) == ()


def test_too_few_calibration_patterns_give_every_family():
    scores = np.zeros(10)
    assert threshold(scores, 0.95) == EVERY_FAMILY  # 95 % needs at least 19 patterns
    assert threshold(np.zeros(19), 0.95) == pytest.approx(0.0, abs=1e-300)
    assert answer_set([("a", 0.98), ("b", 0.015), ("c", 0.005)], EVERY_FAMILY) == ("a", "b", "c")
    with pytest.raises(ValueError, match="must lie in"):
        threshold(scores, 1.0)


def test_the_answer_is_written_after_the_family_and_parses_back():
    probs = (0.05, 0.35, 0.4, 0.05, 0.05, 0.04, 0.03, 0.03)
    r = Result("a.cbf", 0, "ok", probs, answer=("ellipsoid", "spheroid"))
    columns = csv_columns()
    fields = dict(zip(columns, r.row()))
    assert columns.index("answer") == columns.index("p_family") + 1
    assert fields["answer"] == f"ellipsoid{SEPARATOR}spheroid" and fields["family"] == "ellipsoid"
    back = Result.from_row(fields)
    assert back.answer == ("ellipsoid", "spheroid") and back.family() == r.family()
    assert Result.from_row({k: v for k, v in fields.items() if k != "answer"}).answer == ()  # an older log


def test_the_bundled_models_rows_name_an_answer_that_starts_with_their_family():
    """The demo growth series through the live path with the bundled (calibrated) model."""
    from gisaxs_live.classify.pipeline import Classifier
    from gisaxs_live.config import load_config
    from gisaxs_live.frame import Frame
    from gisaxs_live.publisher.demo_series import GrowthSeries, demo_config

    config = demo_config(load_config())
    classifier = Classifier(config)
    assert classifier.predictor.info.answer_cut is not None, "the bundled model ships its answer calibration"
    series = GrowthSeries(config, 12, seed=5)
    results = classifier.classify([Frame(series.frame(i), f"f{i}.cbf", 0, 0.0) for i in range(12)])
    for r in results:
        if r.status == "ok":
            family, p_family = r.family()
            assert r.answer[0] == family and len(set(r.answer)) == len(r.answer)
            # a family alone only where it is probable enough on its own
            assert (len(r.answer) == 1) == (p_family >= classifier.predictor.info.answer_cut)
        else:
            assert r.answer == ()
    assert sum(r.status == "ok" for r in results) >= 10


def test_a_malformed_calibration_stops_the_start_with_one_line(tmp_path):
    import json
    import shutil

    from gisaxs_live.classify.modeldir import ModelInfo, bundled_model_dir

    model = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), model)
    meta = json.loads((model / "model.json").read_text())
    for record, cause in (({"level": 0.95}, "no threshold number"), ({"threshold": -1.0}, "outside")):
        meta["answer"] = record
        (model / "model.json").write_text(json.dumps(meta))
        with pytest.raises(ValueError, match=cause):
            ModelInfo.read(model).answer_cut


def test_calibrate_commands_record_what_they_fitted_and_the_set_in_the_model(tmp_path, capsys):
    """``calibrate-answer`` and ``calibrate-ood`` on a small simulated set, into a copy of the bundled model."""
    import json
    import shutil

    from gisaxs_live.classify.modeldir import ModelInfo, bundled_model_dir
    from gisaxs_live.cli import main

    model, data = tmp_path / "model", tmp_path / "small.h5"
    shutil.copytree(bundled_model_dir(), model)
    assert main(["simulate", "--protocol", "random", "--per-class", "10", "--seed", "3", "--test-fraction", "0.5",
                 "--workers", "1", "--out", str(data)]) == 0
    assert main(["calibrate-answer", str(data), "--model", str(model), "--level", "0.9"]) == 0
    assert "answer threshold" in capsys.readouterr().out
    meta = json.loads((model / "model.json").read_text())
    record = meta["answer"]
    assert record["level"] == 0.9 and record["n_held_out"] == 40 and record["dataset"]["seed"] == 3
    assert record["held_out"]["coverage"] >= 0.9 and 0.0 < record["threshold"] <= 1.0 + 1e-9
    assert ModelInfo.read(model).answer_cut == record["threshold"]
    # 40 held-out patterns are too few for the default 98.5th percentile (at least 66), enough for the 95th (19)
    assert main(["calibrate-ood", str(data), "--model", str(model), "--outliers-per-kind", "2"]) == 2
    assert "40 held-out patterns are too few for --quantile 0.985 (at least 66)" in capsys.readouterr().err
    assert main(["calibrate-ood", str(data), "--model", str(model), "--outliers-per-kind", "2", "--quantile",
                 "0.95"]) == 0
    meta = json.loads((model / "model.json").read_text())
    assert meta["ood"]["dataset"]["n"] == 80 and meta["answer"] == record  # the other calibration is kept
    assert meta["ood"]["foreign_per_kind"] == 2 and "outlier exposure" in meta["ood"]["method"]
    # which simulator made the foreign frames (now) and the set's patterns (its own record)
    assert meta["ood"]["foreign_simulator_version"] == SIMULATOR_VERSION
    assert meta["ood"]["dataset"]["simulator_version"] == SIMULATOR_VERSION
    capsys.readouterr()
    assert main(["calibrate-ood", str(data), "--model", str(model), "--outliers-per-kind", "0", "--quantile",
                 "0.95"]) == 0
    meta = json.loads((model / "model.json").read_text())
    assert meta["ood"]["foreign_kinds"] == [] and "outlier exposure" not in meta["ood"]["method"]
    assert meta["ood"]["foreign_simulator_version"] is None
    assert main(["calibrate-ood", str(data), "--model", str(model), "--outliers-per-kind", "-1"]) == 2
    assert "--outliers-per-kind -1: must be 0 or more" in capsys.readouterr().err
    assert main(["calibrate-answer", str(data), "--model", str(model), "--level", "1.5"]) == 2
    capsys.readouterr()
    # 40 held-out patterns cannot calibrate 99 %: refused, rather than a threshold that names every family
    assert main(["calibrate-answer", str(data), "--model", str(model), "--level", "0.99"]) == 2
    assert "40 held-out patterns are too few for --level 0.99 (at least 99)" in capsys.readouterr().err
    assert json.loads((model / "model.json").read_text())["answer"] == record


def test_classify_says_how_many_rows_are_ambiguous(tmp_path, capsys):
    """Frames at the demo's hemispheroid → truncated spheroid transition through ``classify``, with a copy of the
    bundled model whose answer sets are calibrated for a higher level (a threshold of 0.9: families are taken
    until 90 % of the probability is in): the bundled model's own threshold is 0 (a single family already holds
    the truth of 96.8 % of its held-out patterns), so its answers name one family."""
    import csv
    import json
    import shutil

    from gisaxs_live.classify.modeldir import bundled_model_dir
    from gisaxs_live.cli import main
    from gisaxs_live.config import load_config
    from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config

    model = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), model)
    meta = json.loads((model / "model.json").read_text())
    meta["answer"]["threshold"] = 0.9
    (model / "model.json").write_text(json.dumps(meta))
    series = GrowthSeries(demo_config(load_config()), 40)
    paths = []
    for i in (5, 15, 16):
        paths.append(tmp_path / f"growth_{i:05d}.cbf")
        paths[-1].write_bytes(cbf_bytes(series.frame(i)))
    assert main(["classify", "--model", str(model), "--csv", str(tmp_path / "log.csv"), *map(str, paths)]) == 0
    rows = list(csv.DictReader((tmp_path / "log.csv").read_text().splitlines()))
    ambiguous = sum(" or " in row["answer"] for row in rows)
    err = capsys.readouterr().err
    assert ambiguous >= 1, [row["answer"] for row in rows]
    assert f"; {ambiguous} of the ok rows name more than one family (column answer)" in err
