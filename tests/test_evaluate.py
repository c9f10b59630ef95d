"""``gisaxs-live evaluate`` end to end: a small simulated set, the bundled model, JSON and PNG written."""

from __future__ import annotations

import json

import pytest

from gisaxs_live.classify.modeldir import META, bundled_model_dir
from gisaxs_live.cli import main
from gisaxs_live.simulator.shapes import CLASS_NAMES


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    path = tmp_path_factory.mktemp("eval") / "set.h5"
    assert main(["simulate", "--protocol", "random", "--per-class", "6", "--seed", "5", "--test-fraction", "0.5",
                 "--workers", "1", "--out", str(path)]) == 0
    return path


needs_model = pytest.mark.skipif(not (bundled_model_dir() / META).exists(), reason="no bundled model")


@needs_model
@pytest.mark.parametrize("options", [[], ["--noise"], ["--noise", "--peak-counts", "1000", "10000"]])
def test_evaluate_writes_the_paper_table_figures(small_set, tmp_path, capsys, options):
    out_json, out_png = tmp_path / "e.json", tmp_path / "e.png"
    assert main(["evaluate", *options, "--json", str(out_json), "--png", str(out_png), str(small_set)]) == 0
    result = json.loads(out_json.read_text())
    assert result["n_test"] == 3 * len(CLASS_NAMES)
    made = result["evaluated"]  # how: a clean and a noisy JSON of one set were alike
    assert made["dataset"] == str(small_set) and made["noise"] == ("--noise" in options)
    assert made["seed"] == (1 if "--noise" in options else None)
    assert made["peak_counts"] == ([1000.0, 10000.0] if "--peak-counts" in options else None)
    assert set(result["per_class"]) == set(CLASS_NAMES)
    assert 0 <= result["top1"] <= result["top2"] <= 100
    columns = list(zip(*result["confusion"]))
    assert all(sum(column) == pytest.approx(1.0) for column in columns)  # columns = actual class
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = capsys.readouterr().out
    assert ("peak 1000 to 10000 counts" in table) == ("--peak-counts" in options)


@pytest.mark.parametrize("options", [["--peak-counts", "1000", "10000"], ["--noise", "--peak-counts", "0", "10"],
                                     ["--noise", "--peak-counts", "100", "10"]])
def test_evaluate_refuses_bad_peak_counts(small_set, capsys, options):
    assert main(["evaluate", *options, str(small_set)]) == 2
    err = capsys.readouterr().err
    assert "--peak-counts" in err and len(err.strip().splitlines()) == 1


def test_a_set_that_is_none_is_named_with_its_cause(tmp_path, capsys):
    """Missing, not HDF5, an HDF5 file of something else, a directory without shards: one line each, in words."""
    import h5py

    frame, other, empty = tmp_path / "frame.cbf", tmp_path / "other.h5", tmp_path / "empty"
    frame.write_bytes(b"###CBF: VERSION 1.5\n")
    with h5py.File(other, "w") as f:
        f.create_group("entry")
    empty.mkdir()
    for path, cause in ((tmp_path / "none.h5", "no such file"),
                        (frame, "not a gisaxs-live dataset (not an HDF5 file, or a damaged one)"),
                        (other, "not a gisaxs-live dataset (no images in it)"),
                        (empty, "no manifest.json in it: not a set of shards")):
        assert main(["evaluate", str(path)]) == 2
        assert capsys.readouterr().err.strip() == f"gisaxs-live evaluate: error: {path}: {cause}" + (
            " (simulate --shards DIR writes one)" if path == empty else "")


@pytest.mark.parametrize("damage, cause", [
    (lambda f: f.__setitem__("labels", f.pop("labels")[()] + 8), "its labels must be class indices 0–7"),
    (lambda f: f.__setitem__("labels", f.pop("labels")[()] * -1 - 1), "its labels must be class indices 0–7"),
    (lambda f: f.__setitem__("labels", f.pop("labels")[()].astype(float)), "its labels must be class indices 0–7"),
    (lambda f: f.__setitem__("labels", f.pop("labels")[:10]), "48 images but labels 10"),
    # a trial: an IndexError traceback, numpy's "lam value too large" and "lam < 0", and a confusion matrix of NaNs
    (lambda f: f.__setitem__("parameters", f.pop("parameters")[:, :2]), "its parameters are 48×2, not one column"),
    (lambda f: f["intensity"].__setitem__(0, float("nan")), "its intensities hold values that are not finite"),
    (lambda f: f["intensity"].__setitem__(1, -1.0), "its intensities hold values that are not finite"),
    (lambda f: f.__setitem__("images", f.pop("images")[()].astype("float32")), "its images are float32, not the uint8"),
])
def test_a_set_whose_arrays_disagree_is_refused_in_one_line(small_set, tmp_path, capsys, damage, cause):
    """Labels beyond the classes, negative or float, or fewer than the images: IndexError tracebacks before, and
    negative labels were taken silently (calibrate-answer wrote a threshold from them)."""
    import shutil

    import h5py

    path = tmp_path / "damaged.h5"
    shutil.copy(small_set, path)
    with h5py.File(path, "r+") as f:
        damage(f)
    assert main(["evaluate", str(path), "--noise"]) == 2  # --noise reads the intensities too
    assert f"{path}: {cause}" in capsys.readouterr().err.strip()


def test_train_reads_a_set_through_the_same_check(small_set, tmp_path, capsys):
    """``train --dataset`` reads sets through PatternSet (streamed): labels that are no class index are refused
    there too, before any training."""
    import shutil

    import h5py

    path = tmp_path / "negative.h5"
    shutil.copy(small_set, path)
    with h5py.File(path, "r+") as f:
        f["labels"][...] = -1
    assert main(["train", "--dataset", str(path), "--epochs", "1", "--no-size", "--outliers-per-kind", "0",
                 "--out", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"{path}: its labels must be class indices 0–7")
