"""The dashboard's pure render on a StringIO console, its state, the non-critical sink, and `tail --once`."""

import dataclasses
import io
import logging
import time

import numpy as np
import pytest
from rich.console import Console

from gisaxs_live.cli import main
from gisaxs_live.results import CLASS_NAMES, Result, csv_columns
from gisaxs_live.sinks import Update, emit
from gisaxs_live.sinks.csvlog import CsvLog
from gisaxs_live.sinks.dashboard import Dashboard, DashboardState, bar, preview_text, recent_table, render
from gisaxs_live.sinks.text import plural, probability

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
    assert "queue 3/10000" in out and "11 frames, 1 error, 0 no signal, 0 unknown" in out
    assert "1.0 frames/s" in out  # rows 1..10 lie within the last 10 s before NOW
    assert "latency p50 18 ms, p99 20 ms of the last 6 frames" in out  # the frames it holds (15-20 ms), said
    # current frame: the error, named
    assert "sample_00010.cbf" in out and "truncated file" in out
    # recent table: last five rows, newest at the bottom
    assert "sample_00005.cbf" not in out.split("recent frames")[1]
    assert out.index("sample_00009.cbf") < out.rindex("sample_00010.cbf")
    # family mix over the last 6 frames (5 ok) and the change of the dominant family
    mix = out.split("family mix, last 6 frames")[1]
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
    assert "4 frames, 1 error," in out


def test_the_recent_table_gives_an_error_s_cause_without_repeating_its_file_name():
    """The cause starts where the file name (in the source column) ends, so that a 150-column table shows it."""
    r = result(1, "", "error", "/data/run/sample_00001.cbf: truncated CBF: 12,288 of 6,224,682 bytes")
    again = result(2, "", "error", "/data/run/sample_00002.cbf frame 3: shape 10×10 does not match the geometry")
    out = text_of(recent_table([r, again]), width=150)
    assert "truncated CBF: 12,288 of 6,224,682 bytes" in out and "frame 3: shape 10×10" in out
    assert "/data/run/" not in out


def test_file_names_with_square_brackets_are_shown_as_they_are_not_as_markup():
    """``[sample A]_0001.cbf`` was shown as ``_0001.cbf`` (rich read the brackets as a style) in the table, the
    preview's caption and the header."""
    from dataclasses import replace

    r = replace(result(1, "spheroid", image=np.zeros((8, 6), np.uint8)), source="/data/[sample A]_0001.cbf")
    bad = replace(result(2, "", "error", "/data/[bold]x.cbf: empty file"), source="/data/[bold]x.cbf")
    assert "[sample A]_0001.cbf" in text_of(recent_table([r]))
    assert "[bold]x.cbf" in text_of(recent_table([bad]))
    state = DashboardState()
    state.add(Update((r,), queue_depth=0, queue_limit=10, source="/data/[run 7]"))
    shown = text_of(render(state, time.time()), width=200)
    assert "[sample A]_0001.cbf" in shown and "[run 7]" in shown


def test_tail_once_on_a_missing_log_is_an_error(tmp_path, capsys):
    assert main(["tail", "--once", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_tail_on_something_that_is_no_log_says_what_it_is(tmp_path, capsys):
    """A directory, or a binary file (here with a carriage return and NUL, which the CSV reader rejects): one line
    naming it, status 2, not a traceback or an empty table."""
    binary = tmp_path / "frame.cbf"
    binary.write_bytes(b"###CBF: VERSION 1.5\r\n" + bytes(range(256)) * 8)
    assert main(["tail", "--once", str(tmp_path)]) == 2
    assert f"{tmp_path}: a directory, not a CSV log" in capsys.readouterr().err
    assert main(["tail", "--once", str(binary)]) == 2
    assert f"{binary}: not a gisaxs-live CSV log" in capsys.readouterr().err


@pytest.mark.parametrize("once", [["--once"], []])
def test_tail_on_a_device_or_a_fifo_says_it_is_no_file(tmp_path, capsys, once):
    """A trial: ``tail /dev/zero`` read until memory ran out (2.4 GB in 8 s, then a MemoryError traceback), ``tail`` of
    a FIFO waited silently, and ``--once`` called them "no such file"."""
    import os

    fifo = tmp_path / "log.csv"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        assert main(["tail", *once, path]) == 2
        assert f"{path}: not a regular file (a device, a FIFO or a socket), not a CSV log" in capsys.readouterr().err


def test_tail_on_another_csv_file_is_an_error_not_a_silent_wait(tmp_path, capsys):
    """A new user's trial: ``tail`` on the events log drew an empty dashboard and on any other CSV file waited for
    rows that never come. Following or once: one line saying what the file is, status 2."""
    from gisaxs_live.sinks.events import EVENT_COLUMNS

    events = tmp_path / "run.events.csv"
    events.write_text(",".join(EVENT_COLUMNS) + "\n2026-01-01T00:00:00+00:00,a.cbf,0,spheroid,prism3,0.9,0.8\n")
    other = tmp_path / "scan.csv"
    other.write_text("motor,counts\n1,2\n")
    for path, cause in [(events, "an events log (NAME.events.csv); its frames' log is NAME.csv"),
                        (other, "its first line is not a header starting with time_utc")]:
        for once in ([], ["--once"]):
            assert main(["tail", *once, "--interval", "0.05", str(path)]) == 2
            assert capsys.readouterr().err == f"gisaxs-live tail: error: {path}: not a gisaxs-live CSV log ({cause})\n"
    headless = tmp_path / "rotated.csv"  # a log whose header a copy-and-truncate took: rows, read as they come
    headless.write_text(events.read_text().splitlines()[1] + "\n")
    assert main(["tail", "--once", str(headless)]) == 2  # no header to read its rows by, but not called foreign
    assert "(no header line)" in capsys.readouterr().err


def test_tail_into_a_pipe_prints_one_line_per_row_and_follows(tmp_path):
    """Into a file or a pipe the live table draws nothing (it printed nothing at all); rows come as lines, new ones
    as they are written, as ``tail -f`` gives them."""
    import subprocess
    import sys
    import threading
    import time

    log = tmp_path / "log.csv"
    writer = CsvLog(log)
    writer.write([result(1, "spheroid"), result(2, "", "error", "sample_00002.cbf: truncated CBF")])
    proc = subprocess.Popen([sys.executable, "-m", "gisaxs_live.cli", "tail", "--interval", "0.1", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()

    def wait_lines(n: int) -> None:
        deadline = time.monotonic() + 30
        while len(lines) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(lines) >= n, f"{len(lines)} lines: {lines}"

    try:
        wait_lines(2)
        writer.write([result(3, "truncated_spheroid")])
        wait_lines(3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        writer.close()
    assert "sample_00001.cbf ok spheroid 0.850 (spheroid 0.850, hemispheroid 0.090)" in lines[0]
    assert "sample_00002.cbf error: sample_00002.cbf: truncated CBF" in lines[1]
    assert "sample_00003.cbf ok truncated_spheroid 0.850" in lines[2]


def test_narrow_terminal_keeps_time_and_status():
    out = text_of(render(growth_state(), NOW), width=80)
    assert "03:04:10" in out and "error" in out.split("recent frames")[1]



# --- what a new user tripped over (issue 14) ---------------------------------------------------------------

LONG = "sample_00010.cbf: cannot be read as a detector image: " + "the header names an unknown format " * 12


def test_a_long_message_leaves_the_other_columns_whole():
    rows = [result(1, "spheroid"), result(2, "", "error", LONG), result(3, "truncated_spheroid")]
    out = text_of(recent_table(rows), width=140)
    lines = [line for line in out.splitlines() if "sample_0000" in line]
    assert len(lines) == 3 and all(len(line) <= 140 for line in lines)
    ok1, error, ok3 = lines
    assert "03:04:01" in ok1 and "sample_00001.cbf" in ok1 and "spheroid 0.850" in ok1 and "hemispheroid 0.090" in ok1
    assert "03:04:03" in ok3 and "sample_00003.cbf" in ok3 and "truncated_spheroid 0.850" in ok3
    assert "03:04:02" in error and "sample_00002.cbf" in error and " error " in error
    assert "sample_00010.cbf: cannot" in error and error.rstrip().endswith("…")  # cut, not wrapped
    # the CSV row keeps the whole message
    assert Result.from_row(dict(zip(csv_columns(), rows[1].row()))).message == " ".join(LONG.split())


def test_long_frame_names_lose_their_start_not_the_number_that_tells_them_apart():
    """A trial at 100 columns: every DESY row read 'jg_gisaxs_4nm_old_3ml_insitu_ds03_00001_000…'."""
    stem = "jg_gisaxs_4nm_old_3ml_insitu_ds03_00001_"
    rows = [dataclasses.replace(result(i, "hemispheroid"), source=f"/data/{stem}{5 * i:05d}.cbf") for i in (1, 2)]
    out = text_of(recent_table(rows), width=100)
    lines = [line for line in out.splitlines() if "insitu" in line]
    assert len(lines) == 2 and "00005.cbf" in lines[0] and "00010.cbf" in lines[1] and "…" in lines[0]


def test_a_long_message_wraps_in_the_current_frame_panel():
    state = DashboardState()
    state.add(Update((result(2, "", "error", LONG),)))
    out = text_of(render(state, NOW), width=150)
    panel = out.split("recent frames")[0]
    assert "cannot be read as a detector" in panel
    lines = panel.splitlines()[4:]  # below the header (3 lines) and the trend line
    assert max(len(line.rstrip()) for line in lines) < 150 - 20  # the family mix fits beside it
    assert "family mix" in lines[0]


def test_the_same_row_rounds_the_same_live_and_from_the_log():
    probs = np.full(len(CLASS_NAMES), 0.0)
    probs[CLASS_NAMES.index("spheroid")], probs[CLASS_NAMES.index("ellipsoid")] = 0.98449, 0.01551
    live = Result("/data/s_00001.cbf", 0, "ok", tuple(probs), latency_ms=12.0, time_utc="2026-01-02T03:04:05.000Z")
    logged = Result.from_row(dict(zip(csv_columns(), live.row())))
    assert live.row()[live.row().index("spheroid") + 1] == "0.9845"
    assert text_of(recent_table([live])) == text_of(recent_table([logged]))
    assert "spheroid 0.985" in text_of(recent_table([live]))
    assert probability(0.98449) == probability(0.9845) == "0.985" and probability(0.0) == "0.000"


def test_counts_are_plural_only_when_not_one():
    assert [plural(n, "frame") for n in (0, 1, 2)] == ["0 frames", "1 frame", "2 frames"]
    assert plural(1, "error") == "1 error" and plural(3, "series", "series") == "3 series"
    state = DashboardState(mix_frames=1)
    state.add(Update((result(1, "", "error", "bad"),)))
    out = text_of(render(state, NOW))
    assert "1 frame, 1 error, 0 no signal" in out and "family mix, last 1 frame" in out


def family_result(i, status="ok", message=""):
    probs = np.full(len(CLASS_NAMES), 0.01)
    probs[CLASS_NAMES.index("prism6")], probs[CLASS_NAMES.index("cylinder")] = 0.55, 0.39
    return Result(f"/data/run/sample_{i:05d}.cbf", 0, status, tuple(probs), latency_ms=5.0, message=message,
                  time_utc=f"2026-01-02T03:04:{i:02d}.500Z", ood_score=2.5 if status == "unknown" else 0.3)


def test_family_in_the_current_frame_the_table_and_the_mix():
    state = DashboardState(recent_rows=5, mix_frames=5)
    state.add(Update((result(1, "spheroid"), family_result(2), family_result(3))))
    out = text_of(render(state, NOW))
    current = out.split("current frame")[1].split("recent frames")[0]
    assert "prism6|cylinder" in current and "0.940" in current  # the family's summed probability
    assert "prism6" in current and "0.550" in current and "cylinder" in current and "0.390" in current
    table = out.split("recent frames")[1]
    assert "answer" in table and table.count("prism6|cylinder 0.940") == 2 and "spheroid 0.850" in table
    assert "spheroid 0.850   spheroid 0.850" not in table  # a class that is its own family is not repeated
    mix = out.split("family mix, last 5 frames")[1]
    assert "prism6|cylinder" in mix and "  2" in mix and "  1" in mix
    assert "dominant prism6|cylinder" in mix


def test_an_ambiguous_answer_is_named_in_the_current_frame_and_the_table():
    from dataclasses import replace

    state = DashboardState(recent_rows=5)
    ambiguous = replace(family_result(1), answer=("prism6|cylinder", "prism3"))
    state.add(Update((ambiguous, replace(family_result(2), answer=("prism6|cylinder",)))))
    out = text_of(render(state, NOW))
    table = out.split("recent frames")[1]
    assert table.count("prism6|cylinder or prism3") == 1 and table.count("prism6|cylinder 0.940") == 1
    state.add(Update((replace(family_result(3), answer=("prism6|cylinder", "prism3")),)))
    current = text_of(render(state, NOW)).split("current frame")[1].split("recent frames")[0]
    assert "ambiguous" in current and "prism6|cylinder or prism3" in current


def test_unknown_rows_stand_apart_like_no_signal():
    state = DashboardState()
    state.add(Update((family_result(1), family_result(2, "unknown", "unlike every class the model was trained on"))))
    assert state.unknown == 1 and sum(state.mix().values()) == 1  # unknown does not count in the mix
    out = text_of(render(state, NOW), width=60)  # the panels stack
    current = out.split("current frame")[1].split("family mix")[0]
    assert "unknown" in current and "unlike every class" in current and "prism6|cylinder" not in current
    out = text_of(render(state, NOW))
    assert "1 unknown" in out
    row = next(line for line in out.split("recent frames")[1].splitlines() if "sample_00002" in line)
    assert " unknown " in row and "prism6|cylinder" not in row and "prism6 0.550" in row  # ranking kept, no family
    console = Console(file=io.StringIO(), width=150, force_terminal=True, color_system="truecolor")
    console.print(recent_table([family_result(2, "unknown", "x")]))
    styled = console.file.getvalue()
    assert "unknown" in styled and "\x1b[1;35munknown" in styled  # bold magenta, as no_signal has yellow


def test_tail_reads_a_log_written_before_the_family_columns(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "150")
    old_header = ["time_utc", "source", "frame", "status", "top1", "p1", "top2", "p2",
                  *[f"p_{c}" for c in CLASS_NAMES], "latency_ms", "message"]
    probs = ["0.0100"] * len(CLASS_NAMES)
    probs[CLASS_NAMES.index("cylinder")], probs[CLASS_NAMES.index("prism6")] = "0.6000", "0.3300"
    rows = [["2026-01-02T03:04:01.000Z", "/d/a.cbf", "0", "ok", "cylinder", "0.6000", "prism6", "0.3300", *probs,
             "9.0", ""],
            ["2026-01-02T03:04:02.000Z", "/d/b.cbf", "0", "error", "", "", "", "", *[""] * len(CLASS_NAMES), "1.0",
             "b.cbf: empty file"]]
    log = tmp_path / "old.csv"
    log.write_text("\n".join(",".join(r) for r in [old_header, *rows]) + "\n")
    assert main(["tail", "--once", str(log)]) == 0
    out = capsys.readouterr().out
    assert "prism6|cylinder 0.930" in out and "cylinder 0.600" in out and "b.cbf: empty file" in out
    assert "2 frames, 1 error," in out


def test_log_records_print_above_the_live_display():
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None)
    root = logging.getLogger()
    before = list(root.handlers)
    dash = Dashboard(DashboardState(), console, refresh_per_second=20)
    try:
        assert dash.log_handler in root.handlers and dash.log_handler.console is dash.live.console is console
        dash.update(Update((result(1, "spheroid"),), source="/data (inotify)"))
        dash.live.refresh()
        logging.getLogger("gisaxs_live.test").warning("detector directory remounted")
        dash.live.refresh()
    finally:
        dash.close()
    assert root.handlers == before
    out = console.file.getvalue()
    assert out.count("detector directory remounted") == 1
    shown_before, _ = out.split("detector directory remounted")
    # the display drawn so far is erased (cursor up, erase line) before the record, then drawn again below it
    last_display = shown_before.rsplit("gisaxs-live · /data (inotify)", 1)[1]
    assert "\x1b[2K" in last_display and "\x1b[1A" in last_display
    assert "gisaxs-live · /data (inotify)" in out.split("detector directory remounted")[1]


def sized(r: Result, d_y: float) -> Result:
    """``r`` with a size estimate of in-plane diameter ``d_y`` (nm)."""
    import dataclasses

    from gisaxs_live.classify.size import SizeEstimate

    return dataclasses.replace(r, size=SizeEstimate(D_y_nm=d_y))


def test_sparkline_blocks():
    from gisaxs_live.sinks.dashboard import sparkline

    assert sparkline([1.0, 2.0, np.nan, 8.0]) == "▁▂ █"
    assert sparkline([5.0, 5.0]) == "▄▄"
    assert sparkline([np.nan, np.nan]) == "  "


def test_trend_line_of_size_and_top1():
    state = DashboardState(trend_frames=8)
    rows = ([sized(result(i, "hemispheroid", second="spheroid"), 8.0 + i) for i in range(5)]
            + [result(5, "", status="error", message="truncated")]
            + [sized(result(i, "truncated_spheroid"), 8.0 + i) for i in range(6, 10)])
    state.add(Update(tuple(rows)))
    line = [ln for ln in text_of(render(state, NOW)).splitlines() if ln.startswith("trend")]
    assert len(line) == 1
    line = line[0]
    assert line.startswith("trend, last 8 frames: D_y ")
    spark = line.split("D_y ")[1].split(" ")[0]
    assert spark == "▁▂▃" and "10.0–17.0 nm, now 17.0" in line  # rows 2..9; the error row blank
    assert line.split("D_y ")[1].startswith("▁▂▃ ▅▆▇█")
    top1 = line.split("top-1 ")[1]
    assert top1.startswith("▇▇▇·▇▇▇▇")  # p_family 0.85 + 0.09 (or 0.86) of each ok frame, · for the error
    assert top1.index("■ hemispheroid") < top1.index("■ truncated_spheroid")


def test_trend_line_without_sizes_shows_top1_only():
    state = DashboardState()
    state.add(Update(tuple(result(i, "spheroid") for i in range(3))))
    line = next(ln for ln in text_of(render(state, NOW)).splitlines() if ln.startswith("trend"))
    assert "D_y" not in line and line.startswith("trend, last 3 frames: top-1 ▇▇▇ ■ spheroid")


def test_current_frame_shows_its_size_columns():
    from gisaxs_live.classify.size import SizeEstimate
    from gisaxs_live.sinks.dashboard import size_lines

    full = SizeEstimate(D_y_nm=12.34, D_y_err_nm=1.2, aspect=0.61, aspect_err=0.05, fwhm_nm=4.0, fwhm_err_nm=1.0,
                        distance_nm=18.0, distance_err_nm=2.5, corr_distance_nm=17.1, guinier_radius_nm=4.2)
    assert [t.plain for t in size_lines(full)] == ["D_y 12.3±1.2 nm · aspect 0.61±0.05 · d 18±2.5 nm",
                                                   "2π/q₀ 17.1 nm · R_g 4.2 nm"]
    # an unknown frame: the descriptors only; a frame without any: nothing
    assert [t.plain for t in size_lines(SizeEstimate(guinier_radius_nm=3.0))] == ["R_g 3 nm"]
    assert size_lines(SizeEstimate()) == [] and size_lines(None) == []


def test_the_line_of_an_ok_frame_carries_its_size_for_the_journal():
    """One line per frame is what journald and a pipe get: without the size net's D_y a reader saw no growth."""
    from gisaxs_live.classify.size import SizeEstimate
    from gisaxs_live.sinks.logline import result_line

    sized = dataclasses.replace(result(1, "spheroid"), size=SizeEstimate(D_y_nm=12.34, D_y_err_nm=0.41, aspect=0.52,
                                                                         aspect_err=0.05))
    assert "D_y 12.3 ± 0.4 nm, aspect 0.52 ± 0.05" in result_line(sized)
    assert "D_y" not in result_line(result(2, "spheroid"))


def test_tail_into_a_pipe_begins_with_the_last_rows_as_tail_f_does(tmp_path):
    """A trial: ``tail`` into a file or a pipe began with the rows of the log's last MiB (3,615 old rows of a
    10,000-row log), however many; it now begins with the last --rows rows, then prints each new one."""
    import subprocess
    import sys

    path = tmp_path / "log.csv"
    log = CsvLog(path)
    log.write([Result(f"old_{i}.cbf", 0, "error", message="x", time_utc="2026-01-02T03:04:05.000Z")
               for i in range(30)])
    follower = subprocess.Popen([sys.executable, "-m", "gisaxs_live.cli", "tail", "--rows", "5", "--interval", "0.1",
                                 str(path)], stdout=subprocess.PIPE, text=True)
    try:
        first = [follower.stdout.readline() for _ in range(5)]
        log.write([Result("new.cbf", 0, "error", message="x", time_utc="2026-01-02T03:04:06.000Z")])
        after = follower.stdout.readline()
    finally:
        follower.terminate()
        follower.wait(30)
        log.close()
    assert [line.split()[0] for line in first] == [f"old_{i}.cbf" for i in range(25, 30)], first
    assert "new.cbf" in after
