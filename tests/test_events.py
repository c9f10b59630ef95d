"""Class-change events: the hysteresis, events.csv from a real watch process, the on_event command."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time

import pytest

from gisaxs_live.config import ConfigError, Events, load_config
from gisaxs_live.events import ChangeDetector, Event
from gisaxs_live.results import Result
from gisaxs_live.sinks import Update
from gisaxs_live.sinks.dashboard import DashboardState, render
from gisaxs_live.sinks.events import EventsSink, OnEventRunner, events_path
from livehelp import read_rows, wait_for

CLASSES = ("hemispheroid", "spheroid", "prism6", "cylinder")
FAMILIES = (("prism6", "cylinder"),)


def ok(frame: int, **p: float) -> Result:
    """An ok result with the given class probabilities (the rest share what is left)."""
    rest = [c for c in CLASSES if c not in p]
    left = (1.0 - sum(p.values())) / len(rest) if rest else 0.0
    probs = tuple(p.get(c, left) for c in CLASSES)
    return Result("run.cbf", frame, "ok", probs, time_utc=f"2026-12-04T10:00:{frame:02d}.000Z",
                  class_names=CLASSES, families=FAMILIES)


def bad(frame: int, status: str) -> Result:
    return Result("run.cbf", frame, status, message="x", class_names=CLASSES, families=FAMILIES)


def events_of(results, hold=3, margin=0.1) -> list[Event]:
    detector = ChangeDetector(hold, margin)
    return [e for e in map(detector.feed, results) if e is not None]


def test_flicker_does_not_fire():
    series = [ok(1, hemispheroid=0.9)]
    for i in range(2, 20):  # two frames of spheroid, then back, again and again
        series.append(ok(i, spheroid=0.8) if i % 3 else ok(i, hemispheroid=0.8))
    assert events_of(series) == []


def test_a_held_change_fires_once_at_the_confirming_frame():
    series = [ok(1, hemispheroid=0.9), ok(2, hemispheroid=0.85)] + [ok(i, spheroid=0.7) for i in range(3, 12)]
    (event,) = events_of(series)
    assert (event.from_family, event.to_family, event.frame, event.source) == ("hemispheroid", "spheroid", 5,
                                                                               "run.cbf")
    assert event.time_utc == "2026-12-04T10:00:05.000Z"
    assert event.p_to == pytest.approx(0.7) and event.p_from == pytest.approx(0.1)


def test_the_margin_is_respected_and_families_are_summed():
    close = [ok(1, hemispheroid=0.9)] + [ok(i, spheroid=0.45, hemispheroid=0.4) for i in range(2, 10)]
    assert events_of(close, margin=0.1) == []  # spheroid leads by 0.05 only
    assert [e.frame for e in events_of(close, margin=0.05)] == [4]
    # prism6 + cylinder = 0.6 is one family, ahead of hemispheroid (0.3) although each class alone is not
    split = [ok(1, hemispheroid=0.9)] + [ok(i, prism6=0.3, cylinder=0.3, hemispheroid=0.3) for i in range(2, 6)]
    (event,) = events_of(split)
    assert event.to_family == "prism6|cylinder" and event.p_to == pytest.approx(0.6)


def test_a_frame_without_the_margin_breaks_a_pending_change():
    series = [ok(1, hemispheroid=0.9), ok(2, spheroid=0.8), ok(3, spheroid=0.8),
              ok(4, spheroid=0.45, hemispheroid=0.4),  # leads, not by the margin: starts again
              ok(5, spheroid=0.8), ok(6, spheroid=0.8), ok(7, spheroid=0.8)]
    assert [e.frame for e in events_of(series)] == [7]


def test_error_no_signal_and_unknown_rows_neither_confirm_nor_break():
    series = [ok(1, hemispheroid=0.9), ok(2, spheroid=0.8), bad(3, "error"), bad(4, "no_signal"),
              Result("run.cbf", 5, "unknown", ok(5, hemispheroid=0.9).probabilities, class_names=CLASSES),
              ok(6, spheroid=0.8), bad(7, "error"), bad(8, "error"), bad(9, "error")]
    assert [e.frame for e in events_of(series)] == []  # two ok frames for spheroid only
    (event,) = events_of(series + [ok(10, spheroid=0.8)])
    assert event.frame == 10 and event.from_family == "hemispheroid"


def test_config_keys_are_checked():
    from gisaxs_live.config import build_section, Config

    config = build_section(Config, {"output": {"events": {"hold_frames": 5, "on_event": ["sh", "-c", "true"]}}},
                           "config")
    assert config.output.events == Events(hold_frames=5, on_event=("sh", "-c", "true"))
    assert load_config().output.events == Events()
    with pytest.raises(ConfigError, match=r"config.output.events.hold_frame: unknown key \(did you mean 'hold_frames'"):
        build_section(Config, {"output": {"events": {"hold_frame": 5}}}, "config")
    with pytest.raises(ConfigError, match=r"margin: 1.5 is outside"):
        build_section(Config, {"output": {"events": {"margin": 1.5}}}, "config")


def test_the_dashboard_highlights_the_last_event():
    from rich.console import Console

    state = DashboardState()
    state.add(Update((ok(1, hemispheroid=0.9),)))
    state.last_event = events_of([ok(1, hemispheroid=0.9)] + [ok(i, spheroid=0.7) for i in range(2, 5)])[0]
    console = Console(width=160, record=True)
    console.print(render(state, time.time()))
    assert "class change hemispheroid -> spheroid at run.cbf #4 (p 0.10 -> 0.70" in console.export_text()


# --- the on_event command, a real process ---------------------------------------------------------------

EVENT = Event("2026-12-04T10:00:05.000Z", "/data/run 1/frame_5.cbf", 5, "hemispheroid", "prism6|cylinder",
              0.1, 0.7)


def test_on_event_runs_with_the_event_in_its_environment(tmp_path):
    out = tmp_path / "env.txt"
    runner = OnEventRunner(["sh", "-c", f'env | grep ^GISAXS_EVENT_ | sort > "{out}"'], timeout_s=10)
    runner.submit(EVENT)
    runner.close()
    assert out.read_text().splitlines() == [
        "GISAXS_EVENT_FRAME=5", "GISAXS_EVENT_FROM=hemispheroid", "GISAXS_EVENT_P_FROM=0.1000",
        "GISAXS_EVENT_P_TO=0.7000", "GISAXS_EVENT_SOURCE=/data/run 1/frame_5.cbf",
        "GISAXS_EVENT_TIME=2026-12-04T10:00:05.000Z", "GISAXS_EVENT_TO=prism6|cylinder"]


def test_on_event_timeout_does_not_block_and_is_logged(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    runner = OnEventRunner(["sh", "-c", "sleep 60 & sleep 60"], timeout_s=0.5)
    started = time.monotonic()
    runner.submit(EVENT)  # returns at once although the command hangs
    submitted = time.monotonic() - started
    runner.close()  # waits for the timeout, then the command and its child are gone
    assert submitted < 0.5 and not runner._thread.is_alive()
    assert "on_event: sh ran past its 0.5 s timeout and was stopped" in caplog.text


def test_on_event_failures_are_logged_never_raised(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    runner = OnEventRunner(["sh", "-c", "echo shutter not reachable >&2; exit 3"], timeout_s=10)
    runner.submit(EVENT)
    runner.close()
    missing = OnEventRunner([str(tmp_path / "no-such-command")], timeout_s=10)
    missing.submit(EVENT)
    missing.close()
    assert "on_event: sh failed with exit status 3: shutter not reachable" in caplog.text
    assert f"on_event: cannot run {tmp_path / 'no-such-command'} (No such file or directory)" in caplog.text


def test_events_sink_writes_rows_and_refuses_a_foreign_file(tmp_path, caplog):
    log_path = tmp_path / "run.csv"
    sink = EventsSink(log_path, Events())
    shown = []
    sink.listeners.append(shown.append)
    with caplog.at_level(logging.WARNING):
        sink.update(Update(tuple([ok(1, hemispheroid=0.9)] + [ok(i, spheroid=0.7) for i in range(2, 6)])))
    sink.close()
    assert events_path(log_path) == tmp_path / "run.events.csv"
    (row,) = read_rows(tmp_path / "run.events.csv")
    assert row == {"time_utc": "2026-12-04T10:00:04.000Z", "source": "run.cbf", "frame": "4",
                   "from": "hemispheroid", "to": "spheroid", "p_from": "0.1000", "p_to": "0.7000"}
    assert [e.frame for e in shown] == [4] and "class change hemispheroid -> spheroid" in caplog.text
    (tmp_path / "other.events.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.events.csv: its columns are not those of an events file"):
        EventsSink(tmp_path / "other.csv", Events())


# --- a real watch process on a real directory, the demo frames, the bundled model ------------------------

def test_watch_writes_events_csv_beside_the_log_and_runs_on_event(tmp_path):
    from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config, write_staged

    frames, out = tmp_path / "frames", tmp_path / "out"
    frames.mkdir()
    out.mkdir()
    marks = out / "marks.txt"
    config = tmp_path / "config.yaml"
    config.write_text(load_config_text().replace(
        "on_event: null", f"on_event: [sh, -c, 'echo \"$GISAXS_EVENT_FROM $GISAXS_EVENT_TO\" >> {marks}']"))
    log = out / "run.csv"
    proc = subprocess.Popen([sys.executable, "-m", "gisaxs_live.cli", "watch", str(frames), "--csv", str(log),
                             "--config", str(config), "--no-dashboard"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    try:
        wait_for(lambda: any("model ready" in line for line in lines) or proc.poll() is not None, 90, "the model")
        assert proc.poll() is None, "".join(lines)
        series = GrowthSeries(demo_config(load_config()), 12)  # hemispheroid -> truncated -> spheroid
        for i in range(12):
            write_staged(frames / f"growth_{i:05d}.cbf", cbf_bytes(series.frame(i)))
        wait_for(lambda: log.exists() and len(read_rows(log)) >= 12, 90, "12 rows")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, "".join(lines)
    rows = read_rows(log)
    expected = events_of([Result.from_row(r) for r in rows])  # what the hysteresis makes of the logged rows
    events = read_rows(out / "run.events.csv")
    assert [(e["from"], e["to"]) for e in events] == [("hemispheroid", "truncated_spheroid"),
                                                      ("truncated_spheroid", "spheroid")]
    assert [(e["source"], e["frame"], e["to"]) for e in events] == [(x.source, str(x.frame), x.to_family)
                                                                    for x in expected]
    assert sum("WARNING class change" in line for line in lines) == 2
    assert marks.read_text().splitlines() == ["hemispheroid truncated_spheroid", "truncated_spheroid spheroid"]


def load_config_text() -> str:
    from gisaxs_live.config import default_config_text

    return default_config_text()
