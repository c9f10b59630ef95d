"""``gisaxs-live classify`` on real files written by fabio: one CSV row per frame, good files classified
(the demo's growth series: its first frame is hemispheroids, its last spheroids), every bad file an
``error`` row naming it, and the files after a bad one still classified."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest
from fabio.edfimage import EdfImage
from fabio.eigerimage import EigerImage

from gisaxs_live.classify.modeldir import META, bundled_model_dir
from gisaxs_live.cli import main
from gisaxs_live.config import load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config
from gisaxs_live.results import csv_columns
from gisaxs_live.simulator.shapes import CLASS_NAMES

pytestmark = pytest.mark.skipif(not (bundled_model_dir() / META).exists(), reason="no bundled model")

N_SERIES = 5


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Good CBFs (first and last frame of the growth series), a two-frame EDF, and broken files between."""
    root = tmp_path_factory.mktemp("classify")
    series = GrowthSeries(demo_config(load_config()), N_SERIES)
    first, last = series.frame(0), series.frame(N_SERIES - 1)
    (root / "first.cbf").write_bytes(cbf_bytes(first))
    payload = cbf_bytes(last)
    (root / "last.cbf").write_bytes(payload)
    (root / "truncated.cbf").write_bytes(payload[: len(payload) // 2])
    (root / "empty.cbf").write_bytes(b"")
    (root / "notes.cbf").write_text("beam lost at 14:02, refilled\n")
    edf = EdfImage(data=first)
    edf.append_frame(data=last)
    edf.write(str(root / "pair.edf"))
    order = ["first.cbf", "truncated.cbf", "empty.cbf", "notes.cbf", "last.cbf", "pair.edf"]
    return [root / name for name in order], {"first": series.stage(0), "last": series.stage(N_SERIES - 1)}


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_one_row_per_frame_good_classified_bad_named(files, tmp_path, capsys):
    paths, stages = files
    out = tmp_path / "log.csv"
    assert main(["classify", "--csv", str(out), *map(str, paths)]) == 1  # some rows are errors
    text = out.read_text()
    assert text.splitlines()[0] == ",".join(csv_columns(CLASS_NAMES))
    rows = _rows(text)
    assert [(r["source"].rsplit("/", 1)[-1], r["frame"]) for r in rows] == [
        ("first.cbf", "0"), ("truncated.cbf", "0"), ("empty.cbf", "0"), ("notes.cbf", "0"), ("last.cbf", "0"),
        ("pair.edf", "0"), ("pair.edf", "1")]
    by = {(r["source"].rsplit("/", 1)[-1], r["frame"]): r for r in rows}
    for key in [("truncated.cbf", "0"), ("empty.cbf", "0"), ("notes.cbf", "0")]:
        row = by[key]
        assert row["status"] == "error" and key[0] in row["message"] and row["top1"] == ""
    assert "empty" in by[("empty.cbf", "0")]["message"]
    for key, stage in [(("first.cbf", "0"), "first"), (("last.cbf", "0"), "last"), (("pair.edf", "0"), "first"),
                       (("pair.edf", "1"), "last")]:
        row = by[key]
        # classified: the series' first frame (8-nm hemispheroids) lies at the bundled model's out-of-distribution
        # threshold (ood_score 1.17), so it may be ``unknown``; its ranking is written either way
        assert row["status"] in ("ok", "unknown"), row["message"]
        assert stages[stage] in (row["top1"], row["top2"]), (key, stages[stage], row["top1"], row["top2"])
        probabilities = [float(row[f"p_{name}"]) for name in CLASS_NAMES]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-3)
        assert float(row["p1"]) == pytest.approx(max(probabilities), abs=1e-4)
    # the same file in both containers gives the same answer
    assert by[("first.cbf", "0")]["top1"] == by[("pair.edf", "0")]["top1"]
    err = capsys.readouterr().err
    summary = re.search(r"classified 7 frames: (\d) ok, (\d) unknown, 0 no signal, 3 errors", err)
    assert summary and int(summary[1]) + int(summary[2]) == 4, err


def test_csv_on_standard_output_and_a_warning_for_another_experiment(files, tmp_path):
    """As a process: standard output holds only the CSV; the mismatch warning is on stderr, once."""
    paths, _ = files
    config = tmp_path / "other.yaml"
    config.write_text("experiment:\n  wavelength_nm: 0.1\n  incidence_angle_deg: 0.5\n"
                      "geometry: {distance_mm: 2000, direct_beam_px: [490, 900]}\n")
    run = subprocess.run([sys.executable, "-m", "gisaxs_live.cli", "classify", "--config", str(config),
                          str(paths[0]), str(paths[2])], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr  # the second file is an error row
    # the frame regridded for the wrong experiment may well be flagged unlike every class (test_ood.py)
    assert [r["status"] for r in _rows(run.stdout)] in (["ok", "error"], ["unknown", "error"])
    assert run.stderr.count("trained for another experiment") == 1
    assert "WARNING: model" in run.stderr and "wavelength 0.1 nm vs 0.15 nm" in run.stderr


def test_a_bad_config_stops_before_any_row(files, tmp_path, capsys):
    paths, _ = files
    config = tmp_path / "bad.yaml"
    config.write_text("experiment:\n  wavelenght_nm: 0.1\n")
    assert main(["classify", "--config", str(config), str(paths[0])]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "wavelenght_nm" in captured.err and len(captured.err.strip().splitlines()) == 1


def test_a_directory_or_a_glob_stands_for_its_files_in_the_order_given(files, tmp_path, capsys):
    """``classify DIR`` classifies every file below DIR (sorted), a quoted pattern the files it matches; an
    argument named twice gives its rows once; an empty directory or a pattern matching nothing stops before any row."""
    paths, _ = files
    root = paths[0].parent
    out = tmp_path / "log.csv"
    assert main(["classify", "--csv", str(out), str(root / "*.edf"), str(root), str(paths[0])]) == 1
    rows = _rows(out.read_text())
    assert [(r["source"].rsplit("/", 1)[-1], r["frame"]) for r in rows] == [
        ("pair.edf", "0"), ("pair.edf", "1"), ("empty.cbf", "0"), ("first.cbf", "0"), ("last.cbf", "0"),
        ("notes.cbf", "0"), ("truncated.cbf", "0")]
    capsys.readouterr()
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    for argument, cause in [(empty, "a directory with no files in it"), (root / "*.tif", "the pattern matches no file")]:
        assert main(["classify", "--csv", str(tmp_path / "none.csv"), str(argument)]) == 2
        err = capsys.readouterr().err
        assert err == f"gisaxs-live classify: error: {argument}: {cause}\n"
        assert not (tmp_path / "none.csv").exists()


def test_a_glob_that_matches_directories_stands_for_the_files_below_them(files, tmp_path, capsys):
    """A trial: a quoted pattern's matching directories were dropped without a word ('run*' classified 0 frames with
    status 0; 'run/*' left out run/sub/ and its frames)."""
    import shutil

    paths, _ = files
    run = tmp_path / "run_1"
    (run / "sub").mkdir(parents=True)
    shutil.copy(paths[0].parent / "first.cbf", run / "first.cbf")
    shutil.copy(paths[0].parent / "last.cbf", run / "sub" / "last.cbf")
    for pattern in (tmp_path / "run_*", run / "*"):
        out = tmp_path / f"{pattern.name.replace('*', 'star')}.csv"
        assert main(["classify", "--csv", str(out), str(pattern)]) == 0
        assert sorted(r["source"].rsplit("/", 1)[-1] for r in _rows(out.read_text())) == ["first.cbf", "last.cbf"]
    (tmp_path / "run_empty").mkdir()
    capsys.readouterr()
    assert main(["classify", "--csv", str(tmp_path / "none.csv"), str(tmp_path / "run_e*")]) == 2
    assert capsys.readouterr().err.endswith("run_e*: the pattern matches no file\n")


def test_the_logs_beside_the_frames_are_not_read_as_frames(files, tmp_path, capsys):
    """A new user's trial: ``classify DIR`` on a watched directory read the service's log and events log there as
    frames (error rows "not a detector image", exit 1), and a second ``classify --csv DIR/run.csv DIR`` its own log."""
    import shutil

    paths, _ = files
    run = tmp_path / "run"
    run.mkdir()
    for name in ("first.cbf", "last.cbf"):
        shutil.copy(paths[0].parent / name, run / name)
    (run / "gisaxs-live.events.csv").write_text("time_utc,source,frame,from,to,p_from,p_to\n")
    for attempt in range(2):
        assert main(["classify", "--csv", str(run / "run.csv"), str(run)]) == 0
        err = capsys.readouterr().err
        assert err.startswith(f"{1 + attempt} CSV file" if attempt else "1 CSV file below the directories given left "
                              f"out (logs, not frames): {run / 'gisaxs-live.events.csv'}")
    assert [r["source"].rsplit("/", 1)[-1] for r in _rows((run / "run.csv").read_text())] == ["first.cbf", "last.cbf",
                                                                                             "first.cbf", "last.cbf"]
    assert main(["classify", "--csv", str(tmp_path / "twice.csv"), str(run), str(run)]) == 0  # each log once
    assert capsys.readouterr().err.startswith("2 CSV files below the directories given left out")
    logs_only = tmp_path / "logs"
    logs_only.mkdir()
    (logs_only / "old.csv").write_text("a,b\n")
    assert main(["classify", "--csv", str(tmp_path / "x.csv"), str(logs_only)]) == 2
    assert "a directory holding only CSV files (logs, not frames)" in capsys.readouterr().err


def test_nothing_below_a_directory_given_goes_without_a_row(files, tmp_path, tmp_path_factory):
    """A review: below a directory, a subdirectory that could not be listed, a link to a directory, a FIFO and a
    dangling link were passed over without a word (exit 0). Links to directories are followed (a loop ends), and
    each of the others gets an error row saying what it is. As root the command runs without the capability to
    read any directory (setpriv), so that permissions hold."""
    import os
    import shutil
    import subprocess
    import sys

    command = [sys.executable, "-m", "gisaxs_live.cli", "classify"]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: every directory can be listed")
        command = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                   "--bounding-set=-dac_override,-dac_read_search", *command]
    paths, _ = files
    run, elsewhere = tmp_path / "run", tmp_path_factory.mktemp("elsewhere")
    (run / "open").mkdir(parents=True)
    (run / "locked").mkdir()
    shutil.copy(paths[0], run / "open" / "a.cbf")
    shutil.copy(paths[0], run / "locked" / "b.cbf")
    shutil.copy(paths[-2], elsewhere / "c.cbf")
    (run / "scan2").symlink_to(elsewhere)
    (run / "open" / "loop").symlink_to(run)
    (run / "open" / "up").symlink_to(tmp_path)  # above the directory given: not walked (a link to / would walk all)
    (tmp_path / ".hidden").mkdir()
    shutil.copy(paths[0], tmp_path / ".hidden" / "h.cbf")
    (run / "to_hidden").symlink_to(tmp_path / ".hidden")  # hidden, as the directory itself would be
    (run / "gone.cbf").symlink_to(run / "nowhere.cbf")
    os.mkfifo(run / "pipe.cbf")
    (run / "locked").chmod(0)
    try:
        done = subprocess.run([*command, str(run)], capture_output=True, text=True, timeout=300)
    finally:
        (run / "locked").chmod(0o755)
    assert done.returncode == 1, done.stderr
    rows = {row["source"]: row for row in _rows(done.stdout)}
    assert sorted(rows) == sorted(str(p) for p in [run / "open" / "a.cbf", elsewhere / "c.cbf", run / "gone.cbf",
                                                  run / "pipe.cbf", run / "locked"])
    assert all(rows[str(p)]["top1"] for p in [run / "open" / "a.cbf", elsewhere / "c.cbf"])  # classified
    assert rows[str(run / "locked")]["message"] == (f"{run / 'locked'}: a directory that cannot be listed "
                                                    "(Permission denied): the frames in it are not classified")
    assert rows[str(run / "pipe.cbf")]["message"] == f"{run / 'pipe.cbf'}: not a regular file"
    assert rows[str(run / "gone.cbf")]["message"].startswith(f"{run / 'gone.cbf'}: dangling symbolic link")


@pytest.mark.parametrize("name", ["scan_master.h5", "scan_0001.nxs"])
def test_an_eiger_series_is_classified_once_from_its_data_files_or_through_its_master(files, tmp_path, capsys, name):
    """A directory (or a glob) holding an Eiger master file and its data files: each image once, from its data file
    (as ``watch`` reads it), the master left out; with a data file not among the inputs, through the master, the
    data files among them left out; each time a line says so. A NeXus master of another name is one too (its images
    were logged under both names)."""
    paths, _ = files
    image = np.asarray(EdfImage().read(str(paths[-1])).data, dtype=np.uint32)
    series = tmp_path / "eiger"
    series.mkdir()
    master = series / name
    with h5py.File(master, "w") as f:
        for i in (1, 2):
            EigerImage(data=image[np.newaxis]).write(str(series / f"scan_data_00000{i}.h5"))
            f[f"entry/data/data_00000{i}"] = h5py.ExternalLink(f"scan_data_00000{i}.h5", "/entry/data/data")

    def classified(*inputs) -> list[tuple[str, str]]:
        out = tmp_path / f"{len(list(tmp_path.glob('*.csv')))}.csv"
        main(["classify", "--csv", str(out), *map(str, inputs)])
        return [(r["source"].rsplit("/", 1)[-1], r["frame"]) for r in _rows(out.read_text())]

    assert classified(series) == [("scan_data_000001.h5", "0"), ("scan_data_000002.h5", "0")]
    assert "1 Eiger master file left out: the images are read from the data files it links" in capsys.readouterr().err
    assert classified(master, series / "scan_data_000002.h5") == [(name, "0"), (name, "1")]
    assert "1 Eiger data file left out: read through the master file that links it" in capsys.readouterr().err
    assert classified(master) == [(name, "0"), (name, "1")]
    master.unlink()  # a master named but not there reads nothing: its data files are classified
    assert sorted(source for source, _ in classified(master, series)) == sorted(
        [name, "scan_data_000001.h5", "scan_data_000002.h5"])
