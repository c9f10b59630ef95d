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
