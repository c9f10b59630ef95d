"""``watch --refine`` (issue 11 s.2): the newest ok frame fitted in the background, beside the rows. The sink and
its fitting process on demo CBFs written by fabio, the daemon on a real watched directory with a fit held up
(the rows still all come), and the real ``watch --refine`` process with the bundled model."""

from __future__ import annotations

import logging
import math
import re
import threading
from pathlib import Path

import pytest

from gisaxs_live.classify.size import SizeEstimate
from gisaxs_live.config import ConfigError, load_config
from gisaxs_live.publisher.demo_series import KEYS, GrowthSeries, cbf_bytes, demo_config, write_staged
from gisaxs_live.refine.frame import ALL_PARAMETERS
from gisaxs_live.refine.process import FitProcess
from gisaxs_live.results import Result, utc_now
from gisaxs_live.simulator.shapes import CLASS_NAMES
from gisaxs_live.sinks import Update
from gisaxs_live.sinks.refine import REFINE_COLUMNS, RefineSink, refine_path
from livehelp import fast, read_rows, running, wait_for

N_FRAMES = 12


@pytest.fixture(scope="module")
def config():
    return demo_config(load_config())


@pytest.fixture(scope="module")
def payloads(config) -> list[bytes]:
    """The demo growth series as CBF bytes (fabio)."""
    series = GrowthSeries(config, N_FRAMES)
    return [cbf_bytes(series.frame(i)) for i in range(N_FRAMES)]


@pytest.fixture
def fitter(config) -> FitProcess:
    """A fitting process on the bundled model's grid (the sink closes it)."""
    fitter = FitProcess(config, None)
    yield fitter
    fitter.close()


def key_of(i: int) -> tuple[str, dict[str, float]]:
    """The demo's key pattern nearest to frame ``i`` of the series."""
    return KEYS[round(i * (len(KEYS) - 1) / (N_FRAMES - 1))]


def ok_result(source: str, i: int) -> Result:
    """An ok row for frame ``i`` of the series: its key's class on top, its key's size as the size net's."""
    name, params = key_of(i)
    probs = tuple(0.86 if c == name else 0.02 for c in CLASS_NAMES)
    size = SizeEstimate(D_y_nm=params["D_y"], aspect=params["aspect"], fwhm_nm=params["fwhm"])
    return Result(source, 0, "ok", probs, time_utc=utc_now(), class_names=CLASS_NAMES, size=size)


def classify_series(frames):
    """Stands in for the CNN on the demo files growth_NNNNN.cbf."""
    return [ok_result(f.source, int(re.search(r"(\d+)\.cbf$", f.source).group(1))) for f in frames]


def settled(sink: RefineSink) -> bool:
    """Every ok frame handed over is refined, failed or skipped (none waiting, none being fitted)."""
    return sink.refined + sink.failed + sink.skipped == sink.seen


def check_fits(path: Path, least: int) -> list[dict[str, str]]:
    """The refine log's rows: the columns, at least ``least`` rows, finite parameters and errors for the class."""
    rows = read_rows(path)
    assert path.read_text().splitlines()[0] == ",".join(REFINE_COLUMNS)
    assert len(rows) >= least
    for row in rows:
        fitted = [k for k in ALL_PARAMETERS if row[k]]
        assert {"D_y", "aspect", "fwhm", "volume_fraction"} <= set(fitted)
        assert all(math.isfinite(float(row[k])) and math.isfinite(float(row[f"{k}_err"])) for k in fitted)
        assert 2.0 < float(row["D_y"]) < 60.0 and row["time_utc"].endswith("Z")
    return rows


def test_the_sink_fits_the_newest_ok_frame_and_names_why_a_frame_is_not_fitted(tmp_path, payloads, fitter, caplog):
    for i in (0, 11):
        (tmp_path / f"growth_{i:05d}.cbf").write_bytes(payloads[i])
    sink = RefineSink(tmp_path / "run.csv", fitter)
    caplog.set_level(logging.INFO, logger="gisaxs_live.sinks.refine")
    sink.update(Update((ok_result(str(tmp_path / "growth_00000.cbf"), 0),
                        Result("x.cbf", 0, "no_signal", message="dark"))))
    wait_for(lambda: settled(sink), 60, "the first fit")
    sink.update(Update((ok_result(str(tmp_path / "gone.cbf"), 3),)))
    wait_for(lambda: settled(sink), 60, "the missing file")
    # a burst in one update: only the newest is fitted, the others are skipped at once
    sink.update(Update(tuple(ok_result(str(tmp_path / f"growth_{i:05d}.cbf"), i) for i in (11, 11, 11, 11))))
    assert sink.skipped == 3
    wait_for(lambda: settled(sink), 60, "the burst's fit")
    sink.close()
    assert (sink.seen, sink.refined, sink.failed, sink.skipped) == (6, 2, 1, 3)
    rows = check_fits(refine_path(tmp_path / "run.csv"), 2)
    assert [(Path(r["source"]).name, r["class"]) for r in rows] == [("growth_00000.cbf", "hemispheroid"),
                                                                    ("growth_00011.cbf", "spheroid")]
    assert float(rows[1]["D_y"]) == pytest.approx(30.0, rel=0.05)  # the last key: spheroid D_y 30 nm
    (gone,) = [r.getMessage() for r in caplog.records if "not refined" in r.getMessage()]
    assert "gone.cbf frame 0: not refined" in gone and "no such file" in gone and "\n" not in gone
    assert "Error" not in gone  # words, not an exception's class name
    assert any("2 of 6 ok frames refined" in r.getMessage() and "3 skipped" in r.getMessage()
               for r in caplog.records)


def test_the_refine_log_keeps_its_columns(tmp_path, fitter):
    path = refine_path(tmp_path / "run.csv")
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="run.refine.csv: its columns are not those of a refine log"):
        RefineSink(tmp_path / "run.csv", fitter)


class HeldFitter:
    """``fitter`` whose fits wait until ``release`` is set (at most 60 s): a fit slower than any frame rate."""

    def __init__(self, fitter: FitProcess) -> None:
        self.fitter = fitter
        self.release = threading.Event()
        self.kill, self.close = fitter.kill, fitter.close

    def fit(self, *args):
        self.release.wait(60)
        return self.fitter.fit(*args)


def test_a_burst_gets_every_row_while_a_fit_holds_the_worker(tmp_path, payloads, fitter):
    """A real watched directory and CBF files: all rows come while the first fit is held up; afterwards every ok
    frame is refined, failed or skipped, and the skipped ones are most of the burst."""
    frames, log = tmp_path / "frames", tmp_path / "run.csv"
    frames.mkdir()
    held = HeldFitter(fitter)
    sink = RefineSink(log, held)
    with running(frames, log, settings=fast(queue_size=1000), classify=classify_series, sinks=[sink]) as r:
        for i, payload in enumerate(payloads):
            write_staged(frames / f"growth_{i:05d}.cbf", payload)
        r.wait_rows(N_FRAMES, timeout=60)  # the fit is still held: the rows did not wait for it
        assert sink.refined + sink.failed == 0
        held.release.set()
        wait_for(lambda: sink.seen == N_FRAMES and settled(sink), 120, "the fits")
        assert r.stop() == 0
    rows = read_rows(log)
    assert len(rows) == N_FRAMES and all(row["status"] == "ok" for row in rows)
    assert sink.refined + sink.failed + sink.skipped == sink.seen == N_FRAMES
    assert 1 <= sink.refined <= 2 and sink.skipped >= N_FRAMES - 2
    fits = check_fits(refine_path(log), sink.refined)
    assert Path(fits[-1]["source"]).name == f"growth_{N_FRAMES - 1:05d}.cbf"  # the newest waited, the rest skipped


def test_output_refine_is_a_config_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("output:\n  refine: true\n")
    assert load_config(path).output.refine is True
    path.write_text("output:\n  refine: yes please\n")
    with pytest.raises(ConfigError, match=r"output\.refine: expected true or false") as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_watch_refine_process_writes_fits_beside_the_rows(tmp_path, payloads, model_dir):
    """``gisaxs-live watch --refine`` as a process with the bundled model: a row per frame, fits in
    <log stem>.refine.csv, and at the stop the summary counts add up to the ok frames."""
    from test_events import Process

    frames, log = tmp_path / "frames", tmp_path / "run.csv"
    frames.mkdir()
    n = 6
    watch = Process(["watch", str(frames), "--csv", str(log), "--model", str(model_dir), "--no-dashboard",
                     "--refine"])
    try:
        wait_for(lambda: any("model ready" in line for line in watch.lines) or watch.proc.poll() is not None, 120,
                 "the model")
        assert watch.proc.poll() is None, "".join(watch.lines)
        for i in range(n):
            write_staged(frames / f"growth_{i:05d}.cbf", payloads[i * 2])
        wait_for(lambda: log.exists() and len(read_rows(log)) >= n, 90, f"{n} rows")
        wait_for(lambda: len(read_rows(refine_path(log))) >= 1, 120, "a fit")
    finally:
        watch.stop()
    rows = read_rows(log)
    assert len(rows) == n
    check_fits(refine_path(log), 1)
    (summary,) = [line for line in watch.lines if "ok frames refined" in line]
    refined, seen, failed, skipped = map(int, re.search(
        r"(\d+) of (\d+) ok frames refined .*, (\d+) failed, (\d+) skipped", summary).groups())
    assert seen == sum(row["status"] == "ok" for row in rows) and refined + failed + skipped == seen
    assert refined >= 1


def test_close_abandons_a_fit_past_its_timeout_and_ends_the_process(tmp_path, payloads, fitter, monkeypatch, caplog):
    import gisaxs_live.sinks.refine as sink_module

    monkeypatch.setattr(sink_module, "CLOSE_TIMEOUT_S", 0.01)
    (tmp_path / "growth_00000.cbf").write_bytes(payloads[0])
    sink = RefineSink(tmp_path / "run.csv", fitter)
    sink.update(Update((ok_result(str(tmp_path / "growth_00000.cbf"), 0),)))
    wait_for(lambda: sink._current is not None, 30, "the fit to start")
    sink.close()
    assert not sink._thread.is_alive() and fitter._process.poll() is not None
    assert (sink.seen, sink.refined, sink.failed, sink.skipped) == (1, 0, 0, 0)
    assert any("growth_00000.cbf frame 0: the fit still running after 0.01 s was abandoned" in r.getMessage()
               for r in caplog.records)


def test_the_fitting_process_does_without_tensorflow():
    import subprocess
    import sys

    code = ("import sys\nfrom gisaxs_live.config import load_config\nfrom gisaxs_live.refine.frame import FrameFitter\n"
            "import gisaxs_live.refine.process, gisaxs_live.sinks.refine, gisaxs_live.classify.blas\n"
            "FrameFitter.for_model(load_config(), None)\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_a_fitting_process_that_cannot_be_started_again_now_is_tried_again_at_the_next_fit(tmp_path, payloads,
                                                                                           fitter, monkeypatch):
    """A review: after the child died, starting a new one that failed (out of memory, too many processes) raised
    out of ``fit``: the refine thread ended, and every later frame was counted as skipped."""
    import errno
    import subprocess

    import gisaxs_live.refine.process as process

    (tmp_path / "growth_00000.cbf").write_bytes(payloads[0])
    source = str(tmp_path / "growth_00000.cbf")
    fitter._process.kill()
    fitter._process.wait()

    def no_process(*_args, **_kwargs):
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    popen = subprocess.Popen
    monkeypatch.setattr(process.subprocess, "Popen", no_process)
    outcome = fitter.fit(source, 0, "spheroid", SizeEstimate())
    assert outcome.row is None and outcome.message.endswith(
        "a new one cannot be started now (Resource temporarily unavailable); the next fit tries again")
    monkeypatch.setattr(process.subprocess, "Popen", popen)
    again = fitter.fit(source, 0, "spheroid", SizeEstimate())  # its pipes closed: a new child now
    assert again.row is None and again.message.endswith("a new one is started")
    assert fitter._process.poll() is None


def test_a_fit_on_a_bound_is_marked_and_an_earlier_releases_log_keeps_its_columns(tmp_path, caplog):
    """A review: the live refine log gave a parameter on a bound of its fit with a 1σ that means nothing, unmarked,
    and a fit that did not converge without its reason. Both are columns now; a log begun by an earlier release,
    without them, is continued with its own columns rather than refused at the start of a run."""
    from gisaxs_live.sinks.refine import REFINE_COLUMNS_BEFORE, RefineLog

    row = {"source": "/data/a,b.cbf", "frame": "0", "class": "spheroid", "D_y": "40", "D_y_err": "0.1",
           "chi2_red": "3.2", "converged": "0", "seconds": "0.5", "at_limits": "D_y eta",
           "message": "not converged: the maximum number of function evaluations is exceeded"}
    path = tmp_path / "new.refine.csv"
    log = RefineLog(path)
    log.write(row)
    log.close()
    (written,) = read_rows(path)
    assert path.read_text().splitlines()[0] == ",".join(REFINE_COLUMNS)
    assert (written["source"], written["at_limits"], written["message"]) == ("/data/a,b.cbf", "D_y eta",
                                                                             row["message"])
    old = tmp_path / "old.refine.csv"
    old.write_text(",".join(REFINE_COLUMNS_BEFORE) + "\n")
    caplog.set_level(logging.INFO, logger="gisaxs_live.sinks.csvlog")
    log = RefineLog(old)
    log.write(row)
    (continued,) = read_rows(old)
    assert old.read_text().splitlines()[0] == ",".join(REFINE_COLUMNS_BEFORE)
    assert (continued["D_y"], continued["converged"]) == ("40", "0") and "at_limits" not in continued
    old.write_text("")  # truncated in place, as copytruncate leaves it: this release's header
    log.write(row)
    log.close()
    assert any("a refine log of an earlier release, continued with its columns" in r.getMessage()
               for r in caplog.records)
    lines = old.read_text().splitlines()
    assert lines[0] == ",".join(REFINE_COLUMNS) and read_rows(old)[0]["at_limits"] == "D_y eta"
