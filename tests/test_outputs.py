"""What a command writes must never take the place of what it was given or of a file of another kind, and every line
it writes stays one line that only prints (a file name may hold line ends, escape sequences, bytes not UTF-8).
Real commands on real files (a trial found each of these)."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from gisaxs_live.commands import CSV_OF_REFINE, JSON_FILE, output_file
from gisaxs_live.config import load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config
from gisaxs_live.sinks.csvlog import logged_message
from gisaxs_live.sinks.text import one_line

CLI = [sys.executable, "-m", "gisaxs_live.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, timeout=180)


def test_an_output_written_whole_refuses_an_input_and_a_file_of_another_kind(tmp_path):
    """A trial: ``refine --csv`` replaced a 451-row classify log and, given its own frame, the frame; ``evaluate
    --json`` replaced the data set it evaluated. An empty file, or one of the output's own kind, is replaced."""
    frame = tmp_path / "frame.cbf"
    frame.write_bytes(b"###CBF: VERSION 1.5\n")
    log = tmp_path / "run.csv"
    log.write_text("time_utc,source,frame,status\n2026-12-07T10:00:00.000Z,a.cbf,0,ok\n")
    with pytest.raises(ValueError, match=r"^--csv .*frame\.cbf: one of the command's inputs, which the output would "
                                         r"replace; give another file$"):
        output_file(frame, "--csv", [tmp_path / "." / "frame.cbf"], CSV_OF_REFINE)
    with pytest.raises(ValueError, match=r"run\.csv: the file there is no refine CSV, and the output would "
                                         r"replace it; give another file, or remove that one$"):
        output_file(log, "--csv", [frame], CSV_OF_REFINE)
    with pytest.raises(ValueError, match="no JSON file"):
        output_file(frame, "--json", [], JSON_FILE)
    earlier = tmp_path / "fits.csv"
    earlier.write_text("source,frame,class,message\n")
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    assert output_file(earlier, "--csv", [frame], CSV_OF_REFINE) == earlier
    assert output_file(empty, "--json", [], JSON_FILE) == empty


def test_refine_leaves_a_classify_log_and_its_input_as_they_were(tmp_path):
    """The same through the command: status 2, one line, the files untouched."""
    frame = tmp_path / "frame.cbf"
    frame.write_bytes(cbf_bytes(GrowthSeries(demo_config(load_config()), 2).frame(1)))
    log = tmp_path / "run.csv"
    log.write_text("time_utc,source,frame,status\n2026-12-07T10:00:00.000Z,a.cbf,0,ok\n")
    config = tmp_path / "demo.yaml"
    config.write_text("geometry:\n  distance_mm: 2000\n  direct_beam_px: [490, 900]\n  pixel_size_mm: 0.172\n")
    before = {p: p.read_bytes() for p in (frame, log)}
    for out in (log, frame):
        done = run("refine", "--config", str(config), "--class", "hemispheroid", str(frame), "--csv", str(out))
        assert done.returncode == 2 and len(done.stderr.decode().strip().splitlines()) == 1, done.stderr
    assert {p: p.read_bytes() for p in before} == before


def test_lines_and_messages_escape_line_ends_controls_and_bytes_not_utf8():
    """A trial: an escape sequence in a file name reached the CSV log's message column raw (``tail -f`` of the log ran
    it), and a line end split an error line in two."""
    name = "esc\x1b[2Jx\udcff.cbf"
    assert one_line(f"{name}\nnext: empty file") == "esc\\x1b[2Jx\\xff.cbf\\nnext: empty file"
    assert logged_message(f"{name}: empty\nfile\t!") == "esc\\x1b[2Jx\\xff.cbf: empty file !"
    assert one_line("a\tb × 1.5 nm") == "a\tb × 1.5 nm"
    # a review: the 8-bit CSI (U+009B), NEL, Unicode's line separator and a direction override passed through
    assert one_line("a\x9b2Jb\x85c\u2028d\u202ee") == "a\\x9b2Jb\\x85c\\u2028d\\u202ee"


def test_refine_of_a_file_name_not_utf8_writes_its_rows_escaped(tmp_path):
    """A trial: a name with the byte ff made ``refine --csv`` end with Python's codec error (status 2), the CSV of
    the frames fitted before it lost."""
    bad = tmp_path / "bad\udcff.cbf"
    bad.write_bytes(b"")
    out = tmp_path / "out.csv"
    config = tmp_path / "demo.yaml"
    config.write_text("geometry:\n  distance_mm: 2000\n  direct_beam_px: [490, 900]\n  pixel_size_mm: 0.172\n")
    done = run("refine", "--config", str(config), "--class", "hemispheroid", str(bad), "--csv", str(out))
    assert done.returncode == 1, done.stderr
    (row,) = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert row["source"] == f"{tmp_path}/bad\\xff.cbf" and row["message"] == f"{tmp_path}/bad\\xff.cbf: empty file"
    assert done.stdout.decode("utf-8").splitlines()[0] == f"{tmp_path}/bad\\xff.cbf: empty file"


def test_an_error_line_naming_a_file_with_a_line_end_stays_one_line(tmp_path):
    """A trial: ``check-geometry`` of a file whose name holds a line end gave its error on two lines."""
    frame = tmp_path / "nl\nx.cbf"
    frame.write_bytes(b"")
    config = tmp_path / "demo.yaml"
    config.write_text("geometry:\n  distance_mm: 2000\n  direct_beam_px: [490, 900]\n  pixel_size_mm: 0.172\n")
    done = run("check-geometry", "--config", str(config), str(frame), "--out", str(tmp_path / "c.png"))
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and lines == [f"gisaxs-live check-geometry: error: {tmp_path}/nl\\nx.cbf: empty file"]


def test_simulate_refuses_one_file_for_both_of_its_outputs(tmp_path, capsys):
    """A review: ``simulate --out x --preview x`` wrote the set, then the preview over it."""
    from gisaxs_live.cli import main

    same = tmp_path / "x.h5"
    assert main(["simulate", "--protocol", "random", "--per-class", "1", "--out", str(same), "--preview",
                 str(tmp_path / "." / "x.h5")]) == 2
    assert capsys.readouterr().err.strip() == (f"gisaxs-live simulate: error: --out and --preview name the same file "
                                               f"{same}: the preview would replace the set")
    assert not same.exists()
