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
from gisaxs_live.sinks.csvlog import LogFollower

N = 5
EVENT_BLUE = np.array([0x00, 0x00, 0x8b]) / 255


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> Path:
    """A CSV log from ``gisaxs-live classify`` on demo frames and one unreadable file."""
    root = tmp_path_factory.mktemp("report")
    series = GrowthSeries(demo_config(load_config()), N)
    files = []
    for i in range(N):
        files.append(root / f"frame_{i:03d}.cbf")
        files[-1].write_bytes(cbf_bytes(series.frame(i)))
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
    assert png.shape[:2] == (700, 900)
    assert png[..., :3].std() > 0.05 and _colours(png) > 50
    trend = build_trend(_results(log))
    assert trend.x_label.startswith("frame")  # classify writes a batch with one time
    assert trend.status.count("ok") == N and trend.status[-1] == "error"
    assert "prism6|cylinder" in trend.families and "prism6" not in trend.families
    ok = np.array(trend.status) == "ok"
    summed = np.sum([p for p in trend.families.values()], axis=0)
    np.testing.assert_allclose(summed[ok], 1.0, atol=2e-3)  # each ok row's families sum to 1
    assert np.isnan(summed[~ok]).all()
    assert np.isfinite(trend.ood[ok]).all()
    fig = report_figure(trend)
    assert [ax.get_ylabel() for ax in fig.axes] == ["family probability", "ood_score", "status"]
    assert fig.axes[1].get_lines()[0].get_ydata()[0] == 1.0  # the threshold line


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
    grow = tmp_path / "grow.csv"
    lines = log.read_text().splitlines(keepends=True)
    grow.write_text("".join(lines[:3]))  # header and two rows
    out = tmp_path / "live.html"
    # Ctrl-C must reach it even where this test runs with SIGINT ignored (a background job of a shell)
    proc = subprocess.Popen([sys.executable, "-m", "gisaxs_live.cli", "report", str(grow), "--out", str(out),
                             "--follow", "0.2"], stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
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


def test_empty_log_is_a_one_line_error(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["report", str(empty)]) == 2
    assert "no frame rows" in capsys.readouterr().err and not (tmp_path / "empty.report.png").exists()
