"""A damaged model directory is refused at load with one line naming the file and what is wrong, never a traceback
and never a model that runs with a part silently missing (a trial: without ood.npz no frame was ever ``unknown``)."""

import json
import os

import pytest

from gisaxs_live.classify.modeldir import META, ModelInfo


@pytest.fixture
def copy(model_dir, tmp_path):
    """A copy of the bundled model directory (its weights linked, not copied), and its model.json as a dict."""
    target = tmp_path / "model"
    target.mkdir()
    for item in model_dir.iterdir():
        if item.is_file() and item.name != "training_set.h5":
            os.symlink(item, target / item.name)
    (target / META).unlink()
    return target, json.loads((model_dir / META).read_text())


def write(target, meta) -> None:
    (target / META).write_text(json.dumps(meta))


@pytest.mark.parametrize("change, message", [
    (lambda m: None, "not a JSON object"),
    (lambda m: {**m, "class_names": ["a", "a"]}, "class_names must be a list of at least two distinct"),
    (lambda m: {**m, "qgrid": {}}, "has no 'qy_min'"),
    (lambda m: {**m, "qgrid": None}, "a value that is not a number"),
    (lambda m: {**m, "qgrid": {**m["qgrid"], "qy_max": float("nan")}}, "finite, increasing q ranges"),
    (lambda m: {**m, "scale_decades": 0}, "scale_decades 0 is outside"),
    (lambda m: {**m, "experiment": {}}, "has no 'wavelength_nm'"),
    (lambda m: {**m, "families": "prism6|cylinder"}, "families must be a list of lists"),
    # a trial: model-info, classify, refine and evaluate gave tracebacks ('NoneType' object has no attribute 'items')
    (lambda m: {**m, "metrics": None}, "its metrics must be a JSON object"),
    (lambda m: {**m, "size": [1, 2], "training": None}, "its training, size must be JSON objects"),
])
def test_a_model_json_with_values_no_model_can_have_is_refused_in_one_line(copy, change, message):
    target, meta = copy
    write(target, change(meta))
    with pytest.raises(ValueError, match=message) as caught:
        ModelInfo.read(target)
    assert str(caught.value).startswith(str(target / META)) and "\n" not in str(caught.value)


@pytest.mark.parametrize("damage, message", [
    ("ood.npz", "ood.npz: missing, though its model.json records out-of-distribution statistics"),
    ("size.weights.h5", "size.weights.h5: missing, though its model.json records a size net"),
    ("truncated ood.npz", "ood.npz: unreadable out-of-distribution statistics"),
])
def test_a_part_of_the_model_missing_or_cut_is_refused_not_left_out(copy, damage, message):
    from gisaxs_live.classify.predictor import Predictor

    target, meta = copy
    write(target, meta)
    name = damage.split()[-1]
    data = (target / name).read_bytes()
    (target / name).unlink()
    if damage.startswith("truncated"):
        (target / name).write_bytes(data[:1000])
    with pytest.raises(ValueError, match=message):
        Predictor(target)


def test_weights_for_another_number_of_classes_say_so(copy):
    from gisaxs_live.classify.predictor import Predictor

    target, meta = copy
    write(target, {**meta, "class_names": [*meta["class_names"], "cone"]})
    with pytest.raises(ValueError, match="do not fit the deep network for 9 classes on a 90 × 70 grid"):
        Predictor(target, with_ood=False)


def test_statistics_fitted_to_other_weights_are_refused(copy, tmp_path):
    """A review: another model's ood.npz copied beside these weights was taken as theirs, and a frame went from ok
    (ood_score 0.82) to unknown (29). ood.npz records the SHA-256 of the weights it was fitted to; one without the
    record (an older model's) is still read."""
    import numpy as np

    from gisaxs_live.classify.ood import OodModel, weights_digest

    target, meta = copy
    write(target, meta)
    assert OodModel.load(target) is not None  # as shipped: its own weights
    with np.load(target / "ood.npz") as z:
        arrays = {k: z[k] for k in z.files}
    (target / "ood.npz").unlink()  # a link to the bundled model's: written below as a file of this copy's
    np.savez(target / "ood.npz", **{**arrays, "weights_sha256": np.array("0" * 64)})
    with pytest.raises(ValueError, match="ood.npz: fitted to other weights than model.weights.h5 beside it"):
        OodModel.load(target)
    np.savez(target / "ood.npz", **{k: v for k, v in arrays.items() if k != "weights_sha256"})
    assert OodModel.load(target) is not None
    OodModel.load(target).save(target)  # a refit records the weights beside it
    with np.load(target / "ood.npz") as z:
        assert str(z["weights_sha256"]) == weights_digest(target)


def test_model_info_of_a_model_json_lacking_an_entry_says_so_in_one_line(copy, capsys):
    """A trial: an answer calibration without its entries gave model-info's KeyError traceback."""
    from gisaxs_live.cli import main

    target, meta = copy
    write(target, {**meta, "answer": {"level": "x"}})
    assert main(["model-info", "--model", str(target)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"gisaxs-live model-info: error: {target / META}: lacks the entry ")
    assert line.endswith(", unlike those gisaxs-live writes; train or calibrate the model again")


def test_reprocess_with_a_broken_model_stops_before_any_row(copy, tmp_path, capsys):
    """A trial: reprocess with truncated weights gave every file an error row after four tries each (a rerun then
    skipped them), where classify stops with one line; it now loads the model before the cluster starts."""
    from gisaxs_live.cli import main

    target, meta = copy
    write(target, meta)
    weights = (target / "model.weights.h5").read_bytes()
    (target / "model.weights.h5").unlink()
    (target / "model.weights.h5").write_bytes(weights[:100_000])
    frame = tmp_path / "empty.cbf"
    frame.write_bytes(b"")
    log = tmp_path / "rows.csv"
    assert main(["reprocess", "--workers", "1", "--model", str(target), "--csv", str(log), str(frame)]) == 2
    (line,) = [x for x in capsys.readouterr().err.strip().splitlines() if not x.startswith("WARNING")]
    assert "model.weights.h5: cannot load model weights" in line and not log.exists()


def test_weights_that_are_a_directory_and_statistics_that_are_text_are_said_in_words(copy):
    """A trial: weights that were a directory gave HDF5's errno text cut mid-sentence, and an ood.npz of text numpy's
    "contains pickled (object) data ... allow_pickle=", a wrong cause that suggests an unsafe cure."""
    from gisaxs_live.classify.predictor import Predictor

    target, meta = copy
    write(target, meta)
    (target / "ood.npz").unlink()
    (target / "ood.npz").write_text("hello\n")
    with pytest.raises(ValueError, match=r"ood\.npz: unreadable out-of-distribution statistics \(not an \.npz archive"):
        Predictor(target)
    (target / "model.weights.h5").unlink()
    (target / "model.weights.h5").mkdir()
    with pytest.raises(ValueError, match=r"model\.weights\.h5: not a file \(a directory, a device or a FIFO\)"):
        Predictor(target)
