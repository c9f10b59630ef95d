"""``gisaxs-live report``: the trend picture of a CSV log written by a real ``classify`` run, read back."""

from __future__ import annotations

import base64
import csv
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from gisaxs_live.cli import main
from gisaxs_live.config import load_config
from gisaxs_live.pictures.report import build_trend, read_events, report_figure
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config
from gisaxs_live.results import Result
from gisaxs_live.sinks.csvlog import LogFollower

N = 5
EVENT_BLUE = np.array([0x00, 0x00, 0x8b]) / 255


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> Path:
    """A CSV log from ``gisaxs-live classify`` on demo frames and one unreadable file."""
    root = tmp_path_factory.mktemp("report")
    # frames 1-N of N + 1: the series' first frame (8-nm hemispheroids) sits at the bundled model's
    # out-of-distribution threshold (ood_score 1.17)
    series = GrowthSeries(demo_config(load_config()), N + 1)
    files = []
    for i in range(N):
        files.append(root / f"frame_{i:03d}.cbf")
        files[-1].write_bytes(cbf_bytes(series.frame(i + 1)))
    (root / "broken.cbf").write_bytes(b"not a detector file")
    csv_path = root / "run.csv"
    assert main(["classify", *map(str, files), str(root / "broken.cbf"), "--csv", str(csv_path)]) == 1
    return csv_path


def _results(path: Path) -> list:
    follower = LogFollower(path, tail_bytes=1 << 40)
    try:
        return follower.poll()
    finally:
        follower.close()


def _colours(png: np.ndarray) -> int:
    return len(np.unique((png[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0))


def test_report_png_has_real_content(log, tmp_path):
    out = tmp_path / "report.png"
    assert main(["report", str(log), "--out", str(out)]) == 0
    png = imread(out)
    assert png.shape[:2] == (1060, 900)  # the three panels of every log and the three of the size columns
    assert png[..., :3].std() > 0.05 and _colours(png) > 50
    trend = build_trend(_results(log))
    # the bundled model's size net on every ok row, and the model-free R_g growing with the demo's islands
    assert np.isfinite(trend.sizes["D_y_nm"][:N]).all() and np.isnan(trend.sizes["D_y_nm"][-1])
    guinier = trend.sizes["guinier_radius_nm"][:N]
    guinier = guinier[np.isfinite(guinier)]  # not determined on a frame whose lowest bins are masked
    # growing with the islands: the two largest (D_y 25 and 30 nm) come out 9.8 and 9.65 nm, both below their true
    # R_g (where packed islands' S(q) < 1 depresses the lowest bins, README), so a fall within 5 % is allowed there
    assert len(guinier) >= N - 1 and guinier[-1] > 2 * guinier[0] and np.all(np.diff(guinier) > -0.05 * guinier[:-1])
    assert trend.x_label.startswith("frame")  # classify writes a batch with one time
    assert trend.status.count("ok") == N and trend.status[-1] == "error"
    assert "prism6|cylinder" in trend.families and "prism6" not in trend.families
    ok = np.array(trend.status) == "ok"
    summed = np.sum([p for p in trend.families.values()], axis=0)
    np.testing.assert_allclose(summed[ok], 1.0, atol=2e-3)  # each ok row's families sum to 1
    assert np.isnan(summed[~ok]).all()
    assert np.isfinite(trend.ood[ok]).all()
    fig = report_figure(trend)
    assert [ax.get_ylabel() for ax in fig.axes] == ["family probability", "D_y (nm)", "aspect D_z/D_y",
                                                   "distance, R_g (nm)", "ood_score", "status"]
    assert fig.axes[4].get_lines()[0].get_ydata()[0] == 1.0  # the threshold line


def test_events_are_vertical_lines(log, tmp_path):
    copy = tmp_path / "run.csv"
    copy.write_bytes(log.read_bytes())
    rows = list(csv.DictReader(copy.open()))
    (tmp_path / "run.events.csv").write_text(
        "time_utc,frame,source,from,to\n"
        f"{rows[2]['time_utc']},{rows[2]['frame']},{rows[2]['source']},hemispheroid,truncated_spheroid\n")
    trend = build_trend(_results(copy), read_events(tmp_path / "run.events.csv"))
    assert [(x, e.after) for x, e in trend.events] == [(2.0, "truncated_spheroid")]
    assert main(["report", str(copy), "--out", str(tmp_path / "with.png")]) == 0
    png = imread(tmp_path / "with.png")[..., :3]
    def event_pixels(png: np.ndarray) -> int:
        return int((np.abs(png - EVENT_BLUE).max(axis=-1) < 0.08).sum())

    assert main(["report", str(log), "--out", str(tmp_path / "without.png")]) == 0
    assert event_pixels(imread(tmp_path / "without.png")[..., :3]) == 0
    assert event_pixels(png) > 300  # a line through three panels


def test_events_of_a_stream_find_their_frame_and_unknown_rows_draw_no_family():
    """A stream's rows share one source (``ENDPOINT series N``): an event goes to its frame, not to the series' last
    row (a trial: both events of 40 frames drawn at the last one); an ``unknown`` row's probabilities are no answer."""
    from gisaxs_live.pictures.report import Event

    names = ("capsule", "spheroid")
    results = [Result("tcp://det:9999 series 1", i, "ok" if i != 3 else "unknown", probabilities=(0.9, 0.1),
                      time_utc="2026-12-07T03:00:00.000Z", class_names=names) for i in range(6)]
    trend = build_trend(results, [Event(0.0, "capsule", "spheroid", "tcp://det:9999 series 1", 2)], axis="frame")
    assert [x for x, _ in trend.events] == [2.0]
    assert np.isnan(trend.families["capsule"][3]) and trend.families["capsule"][2] == pytest.approx(0.9)


def test_missing_events_file_is_no_problem(log):
    assert read_events(log.with_name("absent.events.csv")) == []
    assert build_trend(_results(log)).events == ()


def test_html_embeds_the_png(log, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", str(log), "--out", str(out)]) == 0
    page = out.read_text()
    data = base64.b64decode(page.split("data:image/png;base64,")[1].split('"')[0])
    assert data.startswith(b"\x89PNG")
    assert "http-equiv" not in page  # reloads itself only with --follow


def test_old_log_without_family_and_ood_columns(log, tmp_path):
    with log.open() as fh:
        reader = csv.DictReader(fh)
        old_columns = [c for c in reader.fieldnames if c not in ("family", "p_family", "ood_score")]
        rows = list(reader)
    old = tmp_path / "old.csv"
    with old.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, old_columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    assert main(["report", str(old), "--out", str(tmp_path / "old.png")]) == 0
    assert _colours(imread(tmp_path / "old.png")) > 50
    old_trend, new_trend = build_trend(_results(old)), build_trend(_results(log))
    assert np.isnan(old_trend.ood).all()
    assert old_trend.families.keys() == new_trend.families.keys()
    for name, p in new_trend.families.items():
        np.testing.assert_allclose(old_trend.families[name], p, atol=1e-3)


def test_follow_rewrites_while_the_log_grows(log, tmp_path):
    """Started before the log has a row, it says it waits (it said nothing), then draws as rows come."""
    grow = tmp_path / "grow.csv"
    lines = log.read_text().splitlines(keepends=True)
    grow.write_text(lines[0])  # the header alone
    out = tmp_path / "live.html"
    # Ctrl-C must reach it even where this test runs with SIGINT ignored (a background job of a shell)
    proc = subprocess.Popen([sys.executable, "-m", "gisaxs_live.cli", "report", str(grow), "--out", str(out),
                             "--follow", "0.2"], stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline().strip() == f"{grow}: no frame rows yet; the picture comes with the first"
        with grow.open("a") as fh:
            fh.write("".join(lines[1:3]))  # two rows
        assert proc.stdout.readline().strip() == f"{out}: 2 rows"
        assert 'http-equiv="refresh"' in out.read_text()
        with grow.open("a") as fh:
            fh.write("".join(lines[3:]))
        assert proc.stdout.readline().strip() == f"{out}: {len(lines) - 1} rows"
    finally:
        proc.send_signal(2)  # Ctrl-C
        assert proc.wait(timeout=60) == 0


def test_missing_log_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "none.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"gisaxs-live report: error: {tmp_path / 'none.csv'}: no such file"
    assert main(["report", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"gisaxs-live report: error: {tmp_path}: a directory, not a CSV log"


def test_an_output_that_cannot_be_written_is_refused_before_the_work(log, tmp_path, capsys):
    """Checked at the start (commands.output_file), not after the picture is drawn, and named in words."""
    assert main(["report", str(log), "--out", str(tmp_path / "no" / "r.png")]) == 2
    assert f"--out {tmp_path / 'no' / 'r.png'}: its directory {tmp_path / 'no'} does not exist" in capsys.readouterr().err
    (tmp_path / "r.png").mkdir()
    assert main(["report", str(log), "--out", str(tmp_path / "r.png")]) == 2
    assert f"--out {tmp_path / 'r.png'}: a directory, not a file" in capsys.readouterr().err


def test_empty_log_is_a_one_line_error(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["report", str(empty)]) == 2
    assert "no frame rows" in capsys.readouterr().err and not (tmp_path / "empty.report.png").exists()


SIZE_COLUMNS = ["D_y_nm", "D_y_err_nm", "aspect", "aspect_err", "fwhm_nm", "fwhm_err_nm", "distance_nm",
                "distance_err_nm", "corr_distance_nm", "guinier_radius_nm"]
SIZE_ROWS = 6


def _size_log(path: Path) -> Path:
    """A log with the size columns (issue 11), written as text: islands growing from 8 to 18 nm, the net's
    distance absent (dilute) in the first two rows, no correlation peak in the first, and an error row."""
    from gisaxs_live.results import CLASS_NAMES

    header = (["time_utc", "source", "frame", "status", "family", "p_family", "top1", "p1", "top2", "p2"]
              + [f"p_{c}" for c in CLASS_NAMES] + ["ood_score"] + SIZE_COLUMNS + ["latency_ms", "message"])
    lines = [",".join(header)]
    for i in range(SIZE_ROWS):
        probs = ["0.0100"] * len(CLASS_NAMES)
        probs[CLASS_NAMES.index("hemispheroid")] = "0.9300"
        d = 8.0 + 2.0 * i
        sizes = [f"{d:.2f}", "0.80", f"{0.5 + 0.02 * i:.3f}", "0.030", f"{0.3 * d:.2f}", "0.50",
                 "" if i < 2 else f"{1.6 * d:.2f}", "" if i < 2 else "1.50",
                 "" if i == 0 else f"{1.5 * d:.2f}", f"{0.4 * d:.2f}"]
        lines.append(",".join([f"2026-10-26T10:00:{i:02d}.000Z", f"/data/f_{i:03d}.cbf", "0", "ok",
                               "hemispheroid", "0.9300", "hemispheroid", "0.9300", "capsule", "0.0100", *probs,
                               "0.40", *sizes, "12.0", ""]))
    lines.append(",".join(["2026-10-26T10:00:06.000Z", "/data/f_006.cbf", "0", "error", *[""] * 6,
                           *[""] * len(CLASS_NAMES), "", *[""] * len(SIZE_COLUMNS), "3.0", "truncated file"]))
    path.write_text("\n".join(lines) + "\n")
    return path


def _size_trend() -> "Trend":
    from gisaxs_live.pictures.report import Trend

    n = SIZE_ROWS
    d = 8.0 + 2.0 * np.arange(n)
    sizes = {name: np.full(n, np.nan) for name in SIZE_COLUMNS}
    sizes.update(D_y_nm=d, D_y_err_nm=np.full(n, 0.8), aspect=0.5 + 0.02 * np.arange(n), aspect_err=np.full(n, 0.03),
                 corr_distance_nm=1.5 * d, guinier_radius_nm=0.4 * d)
    return Trend(x=np.arange(n, dtype=float), x_label="frame (row of the log)", status=("ok",) * n,
                 families={"hemispheroid": np.full(n, 0.9)}, ood=np.full(n, 0.4), events=(), sizes=sizes)


def _blue_band_pixels(png: np.ndarray) -> int:
    """Pixels of the D_y band: tab:blue at 25 % on white."""
    band = 1 - 0.25 * (1 - np.array([0x1f, 0x77, 0xb4]) / 255)
    return int((np.abs(png[..., :3] - band).max(axis=-1) < 0.02).sum())


def test_size_panels_with_error_bands(tmp_path):
    from gisaxs_live.pictures.report import figure_png

    fig = report_figure(_size_trend())
    assert [ax.get_ylabel() for ax in fig.axes] == ["family probability", "D_y (nm)", "aspect D_z/D_y",
                                                   "distance, R_g (nm)", "ood_score", "status"]
    diameter = fig.axes[1]
    np.testing.assert_allclose(diameter.get_lines()[0].get_ydata(), 8.0 + 2.0 * np.arange(SIZE_ROWS))
    assert len(diameter.collections) == 1  # the ±1σ band
    labels = [line.get_label() for line in fig.axes[3].get_lines()]
    assert labels == ["2π/q₀ (model-free)", "R_g (model-free)"]  # no net distance in this trend
    (tmp_path / "sizes.png").write_bytes(figure_png(fig))
    png = imread(tmp_path / "sizes.png")
    assert png.shape[:2] == (1060, 900) and _colours(png) > 50
    assert _blue_band_pixels(png) > 2000


def test_old_log_has_no_size_panels(log, tmp_path):
    """The classify log less its size columns, as written before they existed."""
    with open(log, newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [i for i, name in enumerate(rows[0]) if name not in SIZE_COLUMNS]
    old = tmp_path / "old.csv"
    with open(old, "w", newline="") as fh:
        csv.writer(fh).writerows([[row[i] for i in keep] for row in rows])
    trend = build_trend(_results(old))
    assert trend.status.count("ok") == N
    assert not trend.has("D_y_nm", "aspect", "distance_nm", "corr_distance_nm", "guinier_radius_nm")
    assert len(report_figure(trend).axes) == 3


def test_log_with_size_columns(tmp_path):
    log = _size_log(tmp_path / "sizes.csv")
    trend = build_trend(_results(log))
    np.testing.assert_allclose(trend.sizes["D_y_nm"][:SIZE_ROWS], 8.0 + 2.0 * np.arange(SIZE_ROWS))
    assert np.isnan(trend.sizes["D_y_nm"][-1])  # the error row
    assert np.isnan(trend.sizes["distance_nm"][:2]).all() and np.isfinite(trend.sizes["distance_nm"][2:-1]).all()
    assert np.isnan(trend.sizes["corr_distance_nm"][0])
    assert main(["report", str(log), "--out", str(tmp_path / "sizes.png")]) == 0
    png = imread(tmp_path / "sizes.png")
    assert png.shape[:2] == (1060, 900) and _blue_band_pixels(png) > 2000


def test_lines_break_at_a_pause_between_sessions_not_within_one(tmp_path):
    """Two sessions of 1 row/s an hour apart: each family line is drawn in two pieces (a NaN between the sessions),
    a steady run in one; the frame axis never breaks."""
    from gisaxs_live.pictures.report import pauses

    x = np.concatenate([np.arange(5.0), 3600.0 + np.arange(5.0)])
    assert pauses(x).tolist() == [4] and pauses(np.arange(10.0)).size == 0
    assert pauses(np.array([0.0, 40.0, 80.0, 120.0])).size == 0  # a slow but steady run: no pause
    from dataclasses import replace

    seconds = np.array([0.0, 1, 2, 3700, 3701, 3702])
    fig = report_figure(replace(_size_trend(), x=seconds, x_label="time since the first row was logged (s)",
                                gaps=pauses(seconds)))
    drawn = fig.axes[0].get_lines()[0].get_ydata()
    assert len(drawn) == SIZE_ROWS + 1 and np.isnan(drawn[3]) and np.isfinite(np.delete(drawn, 3)).all()
    assert len(report_figure(_size_trend()).axes[0].get_lines()[0].get_ydata()) == SIZE_ROWS


def _two_samples_log(log: Path, path: Path) -> Path:
    """The classify log's 5 frame rows twice: as sample A's at 10:00:00-04 and as sample B's at 11:00:00-04 (UTC),
    with one class-change event in each sample."""
    with open(log, newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["status"] != "error"]
    assert len(rows) == N
    out = []
    for hour, sample in ((10, "A"), (11, "B")):
        for i, row in enumerate(rows):
            out.append({**row, "source": f"/data/{sample}/frame_{i:03d}.cbf",
                        "time_utc": f"2026-12-07T{hour}:00:0{i}.000Z"})
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(out)
    path.with_name(f"{path.stem}.events.csv").write_text(
        "time_utc,frame,source,from,to\n"
        "2026-12-07T10:00:02.000Z,0,/data/A/frame_002.cbf,hemispheroid,truncated_spheroid\n"
        "2026-12-07T11:00:03.000Z,0,/data/B/frame_003.cbf,hemispheroid,truncated_spheroid\n")
    return path


def test_one_sample_or_session_of_a_log_is_shown_with_its_events(log, tmp_path, capsys):
    """A log of two samples: ``--source`` keeps one sample's rows and events, ``--since``/``--until`` a time span
    (UTC where no offset is given); what is shown is said as 'N of M rows'."""
    two = _two_samples_log(log, tmp_path / "two.csv")
    assert main(["report", str(two), "--source", "*/B/*", "--out", str(tmp_path / "b.png")]) == 0
    assert f"{N} of {2 * N} rows" in capsys.readouterr().out
    assert main(["report", str(two), "--since", "2026-12-07T11:00:01", "--until", "2026-12-07T12:00:03+01:00",
                 "--out", str(tmp_path / "span.png")]) == 0
    assert f"2 of {2 * N} rows" in capsys.readouterr().out  # 11:00:01 and 11:00:02: --until is 11:00:03 UTC

    def event_lines(name: str) -> int:
        png = imread(tmp_path / name)[..., :3]
        return int((np.abs(png - EVENT_BLUE).max(axis=-1) < 0.08).sum())

    assert main(["report", str(two), "--out", str(tmp_path / "all.png")]) == 0
    assert main(["report", str(two), "--source", "/data/A/*", "--until", "2026-12-07T10:00:02",
                 "--out", str(tmp_path / "a.png")]) == 0
    assert event_lines("all.png") > 1.5 * event_lines("b.png") > 450  # both samples' events, then B's alone
    assert event_lines("a.png") == 0  # A's event is at 10:00:02, after the span


@pytest.mark.parametrize("options, cause", [
    (["--source", "*/C/*"], f"none of its {2 * N} frame rows has source */C/*"),
    (["--since", "yesterday"], "--since yesterday: not an ISO 8601 time"),
    (["--since", "2026-12-07T11:00", "--until", "2026-12-07T10:00"], "is not after --since"),
])
def test_a_selection_that_leaves_nothing_or_does_not_parse_is_a_one_line_error(log, tmp_path, capsys, options,
                                                                               cause):
    two = _two_samples_log(log, tmp_path / "two.csv")
    assert main(["report", str(two), *options, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert cause in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_a_log_of_one_error_row_says_1_row_and_why_its_family_panel_is_empty(tmp_path, capsys):
    """A trial: "1 rows", and a log without an ok row (errors only) drew an empty family panel, saying nothing."""
    from gisaxs_live.sinks.csvlog import CsvLog

    path = tmp_path / "errors.csv"
    log = CsvLog(path)
    log.write([Result("/data/broken.cbf", 0, "error", message="/data/broken.cbf: cannot be read (not a detector "
                      "image)", time_utc="2026-12-07T10:00:00.000Z")])
    log.close()
    out = tmp_path / "errors.html"
    assert main(["report", str(path), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"{out}: 1 row\n"
    assert "<title>errors.csv: 1 frame</title>" in out.read_text()
    families = report_figure(build_trend(_results(path))).axes[0]
    assert [t.get_text() for t in families.texts] == [
        "no family probability: no row is ok (error, no_signal and unknown rows give none)"]
    assert not families.get_lines()


def test_lines_of_the_log_that_are_no_rows_are_counted_not_dropped_silently(log, tmp_path, capsys):
    """A review: rows with an unknown status word, or a line torn by hand, were left out of the picture without a
    word (28 of 37 rows shown, exit 0)."""
    lines = log.read_text().splitlines()
    edited = tmp_path / "edited.csv"
    edited.write_text("\n".join([lines[0], lines[1].replace(",ok,", ",okay,", 1), *lines[2:], "2026-12-07,torn"])
                      + "\n")
    out = tmp_path / "edited.png"
    assert main(["report", str(edited), "--out", str(out)]) == 0
    assert capsys.readouterr().out == (f"{out}: {len(lines) - 2} rows; 2 lines of the log left out (not readable as "
                                       "rows)\n")
