"""The dashboard's pure render on a StringIO console, its state, the non-critical sink, and `tail --once`."""

import io
import logging

import numpy as np
import pytest
from rich.console import Console

from gisaxs_live.cli import main
from gisaxs_live.results import CLASS_NAMES, Result
from gisaxs_live.sinks import Update, emit
from gisaxs_live.sinks.csvlog import CsvLog
from gisaxs_live.sinks.dashboard import Dashboard, DashboardState, bar, preview_text, render

NOW = 1767323051.0  # 2026-01-02T03:04:11Z


def result(i, top, status="ok", message="", image=None, second="hemispheroid"):
    probs = np.full(len(CLASS_NAMES), 0.01)
    if status == "ok":
        probs[CLASS_NAMES.index(top)], probs[CLASS_NAMES.index(second)] = 0.85, 0.09
    return Result(f"/data/run/sample_{i:05d}.cbf", 0, status, tuple(probs) if status == "ok" else (),
                  latency_ms=10.0 + i, message=message, time_utc=f"2026-01-02T03:04:{i:02d}.500Z", image=image)


def text_of(renderable, width=150):
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


def growth_state():
    state = DashboardState(recent_rows=5, mix_frames=6)
    image = np.tile(np.linspace(0, 255, 70, dtype=np.uint8), (90, 1))
    series = ([result(i, "hemispheroid", second="spheroid") for i in range(6)]
              + [result(i, "truncated_spheroid", image=image) for i in range(6, 10)]
              + [result(10, "", status="error", message="sample_00010.cbf: truncated file")])
    state.add(Update(tuple(series), queue_depth=3, queue_limit=10000, source="/data/run (inotify)", model="ready"))
    return state


def test_render_shows_everything_the_beamline_needs():
    out = text_of(render(growth_state(), NOW))
    assert "/data/run (inotify)" in out and "model ready" in out
    assert "queue 3/10000" in out and "11 frames, 1 errors, 0 no signal" in out
    assert "1.0 frames/s" in out  # rows 1..10 lie within the last 10 s before NOW
    assert "latency p50" in out
    # current frame: the error, named
    assert "sample_00010.cbf" in out and "truncated file" in out
    # recent table: last five rows, newest at the bottom
    assert "sample_00005.cbf" not in out.split("recent frames")[1]
    assert out.index("sample_00009.cbf") < out.rindex("sample_00010.cbf")
    # class mix over the last 6 frames (5 ok) and the change of the dominant class
    mix = out.split("class mix, last 6")[1]
    assert "truncated_spheroid" in mix and "hemispheroid" in mix
    assert "dominant truncated_spheroid since 03:04:09" in mix and "(sample_00009.cbf), before: hemispheroid" in mix


def test_current_frame_shows_top_two_with_bars():
    state = DashboardState()
    state.add(Update((result(1, "spheroid"),)))
    out = text_of(render(state, NOW))
    assert "spheroid" in out and "0.850" in out and "hemispheroid" in out and "0.090" in out
    assert "█" * 17 in out  # 0.85 of 20 cells


def test_preview_is_half_blocks_with_q_z_upward():
    image = np.zeros((90, 70), np.uint8)
    image[-10:] = 255  # highest q_z rows bright
    text = preview_text(image, 24)
    lines = text.plain.split("\n")
    assert len(lines) == 15 and all(len(line) == 23 for line in lines)  # 90×70 → 30×23 → 15 lines
    assert set(text.plain) <= {"▀", "\n"}
    top_style = text.get_style_at_offset(Console(), 0)
    bottom_style = text.get_style_at_offset(Console(), len(text.plain) - 1)
    assert top_style.color.triplet != bottom_style.color.triplet  # bright on top, dark below
    out = text_of(render(growth_state(), NOW))
    assert "model input, log I" in out and "▀" in out


def test_empty_state_renders():
    out = text_of(render(DashboardState(), NOW))
    assert "waiting for the first frame" in out and "0.0 frames/s" in out


def test_bar():
    assert bar(0.0, 4) == "    " and bar(1.0, 4) == "████" and bar(0.5, 4) == "██  "
    assert bar(0.5, 1) == "▌" and bar(1 / 8, 2) == "▎ "


class Exploding:
    critical = False

    def update(self, update):
        raise RuntimeError("terminal went away")

    def close(self):
        pass


class Recording:
    critical = True

    def __init__(self):
        self.seen = []

    def update(self, update):
        self.seen.append(update)

    def close(self):
        pass


def test_a_failing_non_critical_sink_is_logged_and_skipped(caplog):
    after = Recording()
    with caplog.at_level(logging.ERROR):
        emit([Exploding(), after], Update((result(1, "spheroid"),)))
    assert len(after.seen) == 1
    assert "Exploding failed; update skipped" in caplog.text


def test_a_failing_critical_sink_stops_the_emit():
    critical = Exploding()
    critical.critical = True
    with pytest.raises(RuntimeError, match="terminal went away"):
        emit([critical, Recording()], Update())


def test_dashboard_sink_survives_a_render_failure(caplog):
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    dash = Dashboard(DashboardState(), console, refresh_per_second=20)
    try:
        dash.update(Update((result(1, "spheroid"),), source="/data (inotify)"))
        dash.state.recent.append("not a result")  # corrupt the state: rendering fails
        with caplog.at_level(logging.ERROR):
            shown = text_of(dash._renderable())
        assert "dashboard rendering failed" in shown and "dashboard rendering failed" in caplog.text
    finally:
        dash.state.recent.pop()
        dash.close()


def test_tail_once_prints_the_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "140")
    log = tmp_path / "log.csv"
    CsvLog(log).write([result(i, "spheroid") for i in range(3)] + [result(3, "", "error", "bad file")])
    assert main(["tail", "--once", str(log)]) == 0
    out = capsys.readouterr().out
    assert "recent frames" in out and "sample_00002.cbf" in out and "bad file" in out and "spheroid" in out
    assert "4 frames, 1 errors" in out


def test_tail_once_on_a_missing_log_is_an_error(tmp_path, capsys):
    assert main(["tail", "--once", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_narrow_terminal_keeps_time_and_status():
    out = text_of(render(growth_state(), NOW), width=80)
    assert "03:04:10" in out and "error" in out.split("recent frames")[1]

