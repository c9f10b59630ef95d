"""Class-change events: the hysteresis, events.csv from a real watch process, the on_event command."""

from __future__ import annotations

import dataclasses
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gisaxs_live.config import ConfigError, Events, load_config
from gisaxs_live.events import ChangeDetector, Event
from gisaxs_live.results import Result
from gisaxs_live.sinks import Update
from gisaxs_live.sinks.dashboard import DashboardState, render
from gisaxs_live.sinks.events import EventsSink, OnEventRunner, events_path
from gisaxs_live.sources.stream import series_of
from livehelp import free_endpoint, read_rows, wait_for

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


def test_per_source_a_new_series_starts_afresh_without_an_event():
    def of(source, frame, **p):
        return dataclasses.replace(ok(frame, **p), source=source)

    series = ([of("tcp://x series 1", i, hemispheroid=0.9) for i in range(4)]
              + [of("tcp://x series 2", i, spheroid=0.9) for i in range(4)])
    assert [e.to_family for e in events_of(series)] == ["spheroid"]  # one stream of frames: a change
    detector = ChangeDetector(3, 0.1, series_of=series_of)
    assert [e for e in map(detector.feed, series) if e is not None] == []  # series 2 is another sample
    assert detector.current == "spheroid"
    more = [of("tcp://x series 2", 4 + i, hemispheroid=0.9) for i in range(3)]
    (event,) = [e for e in map(detector.feed, more) if e is not None]  # within a series: still an event
    assert (event.from_family, event.to_family, event.frame) == ("spheroid", "hemispheroid", 6)


def test_a_stream_v2_series_whose_rows_name_each_image_is_one_series_for_events():
    """A review: a Stream V2 row's source names its image id, so the stream's detector, afresh at each new source,
    started afresh at every frame and never gave an event on a Stream V2 stream."""
    from gisaxs_live.sources.stream import MessageHandler
    from gisaxs_live.sources.stream2 import Where

    handler = MessageHandler("tcp://127.0.0.1:31001")

    def of(series, image, **p):
        return dataclasses.replace(ok(image, **p), source=handler.source2(Where(series, image, "threshold_1")))

    detector = ChangeDetector(3, 0.1, series_of=series_of)
    rows = ([of(7, i, hemispheroid=0.9) for i in range(4)] + [of(7, 4 + i, spheroid=0.9) for i in range(3)]
            + [of(8, i, hemispheroid=0.9) for i in range(4)])
    events = [e for e in map(detector.feed, rows) if e is not None]
    assert [(e.from_family, e.to_family, e.frame) for e in events] == [("hemispheroid", "spheroid", 6)]
    assert series_of(handler.source2(Where(7, 12, "threshold_1"))) == (
        "tcp://127.0.0.1:31001 series 7 channel threshold_1")
    assert series_of(handler.source(7)) == handler.source(7)


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
    pid_file = tmp_path / "child.pid"
    runner = OnEventRunner(["sh", "-c", f'sleep 60 & echo $! > "{pid_file}"; sleep 60'], timeout_s=0.5)
    runner.submit(EVENT)  # returns while the command hangs
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 10, "the command to start")
    assert runner._thread.is_alive() and "timeout" not in caplog.text
    runner.close()  # the timeout kills the command and its background child
    assert not runner._thread.is_alive()
    assert "on_event: sh ran past its 0.5 s timeout and was stopped" in caplog.text
    wait_for(lambda: not running(int(pid_file.read_text())), 10, "the child to be killed")


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


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


def test_the_events_file_follows_rotation_moved_or_truncated(tmp_path, caplog):
    """logrotate on ``*.csv``: moved away, the next event starts a new events file; truncated in place
    (copytruncate), it gets its header again. The events went into the moved file, or into none."""
    log_path = tmp_path / "run.csv"
    events = tmp_path / "run.events.csv"
    sink = EventsSink(log_path, Events())
    sink.update(Update(tuple([ok(1, hemispheroid=0.9)] + [ok(i, spheroid=0.7) for i in range(2, 6)])))
    events.rename(tmp_path / "run.events.csv.1")
    sink.update(Update(tuple(ok(i, hemispheroid=0.8) for i in range(6, 10))))
    assert [r["frame"] for r in read_rows(tmp_path / "run.events.csv.1")] == ["4"]
    assert [(r["frame"], r["to"]) for r in read_rows(events)] == [("8", "hemispheroid")]
    events.write_bytes(b"")  # copytruncate
    sink.update(Update(tuple(ok(i, spheroid=0.8) for i in range(10, 14))))
    assert [(r["frame"], r["to"]) for r in read_rows(events)] == [("12", "spheroid")]
    events.rename(tmp_path / "run.events.csv.2")
    events.write_text("a,b\n")  # another file in its place: the event is lost, said so, nothing else
    sink.update(Update(tuple(ok(i, hemispheroid=0.8) for i in range(14, 18))))
    events.unlink()
    sink.update(Update(tuple(ok(i, spheroid=0.8) for i in range(18, 22))))
    sink.close()
    assert [(r["frame"], r["to"]) for r in read_rows(events)] == [("20", "spheroid")]
    assert "its columns are not those of an events file" in caplog.text


# --- real watch and stream processes, the demo frames, the bundled model ----------------------------------

CLI = [sys.executable, "-m", "gisaxs_live.cli"]
#: the demo series of 12 frames, hemispheroid -> truncated_spheroid -> spheroid, as the bundled model sees it
CHANGES = [("hemispheroid", "truncated_spheroid"), ("truncated_spheroid", "spheroid")]


@pytest.fixture(scope="module")
def demo_cbfs(tmp_path_factory) -> list[Path]:
    from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config

    path = tmp_path_factory.mktemp("demo")
    # frames 1-12 of 13: the series' first frame (8-nm hemispheroids) sits at the bundled model's
    # out-of-distribution threshold (ood_score 1.17)
    series = GrowthSeries(demo_config(load_config()), 13)
    files = [path / f"growth_{i:05d}.cbf" for i in range(12)]
    for i, file in enumerate(files):
        file.write_bytes(cbf_bytes(series.frame(i + 1)))
    return files


def config_with_on_event(tmp_path: Path, marks: Path, extra: str = "") -> Path:
    """The bundled default config with an on_event command appending "FROM TO" to ``marks``."""
    from gisaxs_live.config import default_config_text

    config = tmp_path / "config.yaml"
    config.write_text(default_config_text().replace(
        "on_event: null", f"on_event: [sh, -c, 'echo \"$GISAXS_EVENT_FROM $GISAXS_EVENT_TO\" >> {marks}']") + extra)
    return config


class Process:
    """A gisaxs-live command as a subprocess; its log lines (stderr) are collected."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(CLI + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True).start()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, "".join(self.lines)


def check_events(log: Path, lines: list[str], marks: Path) -> None:
    """events.csv beside ``log`` holds the demo's two changes, at the frames the hysteresis finds in the log's
    rows; each is a WARNING line and ran on_event once."""
    rows = read_rows(log)
    assert len(rows) == 12 and all(r["status"] == "ok" for r in rows)
    expected = events_of([Result.from_row(r) for r in rows])
    events = read_rows(log.with_name(f"{log.stem}.events.csv"))
    assert [(e["from"], e["to"]) for e in events] == CHANGES
    assert [(e["source"], e["frame"], e["to"], e["p_to"]) for e in events] == [
        (x.source, str(x.frame), x.to_family, f"{x.p_to:.4f}") for x in expected]
    assert sum("WARNING class change" in line for line in lines) == 2
    assert marks.read_text().splitlines() == [f"{a} {b}" for a, b in CHANGES]


def test_watch_writes_events_csv_beside_the_log_and_runs_on_event(tmp_path, demo_cbfs):
    from gisaxs_live.publisher.demo_series import write_staged

    frames, out = tmp_path / "frames", tmp_path / "out"
    frames.mkdir()
    out.mkdir()
    marks, log = out / "marks.txt", out / "run.csv"
    watch = Process(["watch", str(frames), "--csv", str(log), "--config", str(config_with_on_event(tmp_path, marks)),
                     "--no-dashboard"])
    try:
        wait_for(lambda: any("model ready" in line for line in watch.lines) or watch.proc.poll() is not None, 90,
                 "the model")
        assert watch.proc.poll() is None, "".join(watch.lines)
        for file in demo_cbfs:
            write_staged(frames / file.name, file.read_bytes())
        wait_for(lambda: log.exists() and len(read_rows(log)) >= 12, 90, "12 rows")
    finally:
        watch.stop()
    check_events(log, watch.lines, marks)


def test_stream_writes_events_csv_beside_the_log(tmp_path, demo_cbfs):
    endpoint = free_endpoint()
    marks, log = tmp_path / "marks.txt", tmp_path / "stream.csv"
    stream = Process(["stream", endpoint, "--csv", str(log), "--no-dashboard",
                      "--config", str(config_with_on_event(tmp_path, marks))])
    try:
        subprocess.run(CLI + ["publish", "--endpoint", endpoint, "--rate", "0", *map(str, demo_cbfs)], check=True,
                       timeout=120, capture_output=True)
        wait_for(lambda: log.exists() and len(read_rows(log)) >= 12, 90, "12 rows")
    finally:
        stream.stop()
    check_events(log, stream.lines, marks)
