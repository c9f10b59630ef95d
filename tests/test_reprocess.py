"""``gisaxs-live reprocess`` on a real Dask LocalCluster (2 worker processes) over a small archive of CBF
files written by fabio (the demo's growth series), a two-frame EDF and two broken files: the same rows as
serial ``classify``, an error row per broken file, and resumable runs."""

from __future__ import annotations

import csv

import pytest
from fabio.edfimage import EdfImage

from gisaxs_live.classify.modeldir import META, bundled_model_dir
from gisaxs_live.cli import main
from gisaxs_live.config import load_config
from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config
from gisaxs_live.scale.inputs import expand_inputs

pytest.importorskip("distributed")
pytestmark = pytest.mark.skipif(not (bundled_model_dir() / META).exists(), reason="no bundled model")

N_CBF = 20
VARYING = ("time_utc", "latency_ms")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """``run/`` with 20 CBF frames, a two-frame EDF and two broken files; and the serial ``classify`` rows."""
    root = tmp_path_factory.mktemp("archive")
    run = root / "run"
    run.mkdir()
    # the series without its first frame (8-nm hemispheroids at the bundled model's out-of-distribution threshold):
    # every good frame comes out ``ok``
    series = GrowthSeries(demo_config(load_config()), N_CBF + 1)
    for i in range(N_CBF):
        (run / f"frame_{i:04d}.cbf").write_bytes(cbf_bytes(series.frame(i + 1)))
    payload = (run / "frame_0000.cbf").read_bytes()
    (run / "frame_0005x.cbf").write_bytes(payload[: len(payload) // 3])  # truncated
    (run / "notes.cbf").write_text("beam lost at 14:02, refilled\n")
    edf = EdfImage(data=series.frame(1))
    edf.append_frame(data=series.frame(N_CBF))
    edf.write(str(run / "pair.edf"))
    serial = root / "serial.csv"
    assert main(["classify", "--csv", str(serial), *map(str, expand_inputs([run]))]) == 1
    return run, _rows(serial)


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as c:
        yield c


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _comparable(rows):
    return [{k: v for k, v in r.items() if k not in VARYING} for r in rows]


def test_same_rows_as_serial_classify_and_error_rows(archive, tmp_path, capsys):
    run, serial = archive
    out = tmp_path / "out.csv"
    assert main(["reprocess", "--workers", "2", "--files-per-task", "4", "--csv", str(out), str(run)]) == 1
    rows = _rows(out)
    assert len(rows) == N_CBF + 2 + 2
    assert _comparable(rows) == _comparable(serial)
    assert [(r["source"], int(r["frame"])) for r in rows] == sorted((r["source"], int(r["frame"])) for r in rows)
    errors = {r["source"].rsplit("/", 1)[-1]: r["message"] for r in rows if r["status"] == "error"}
    assert set(errors) == {"frame_0005x.cbf", "notes.cbf"}
    assert "truncated CBF" in errors["frame_0005x.cbf"] and "not a detector image" in errors["notes.cbf"]
    assert all(r["status"] == "ok" for r in rows if r["status"] != "error")
    err = capsys.readouterr().err
    assert "Dask dashboard:" in err
    assert "reprocessed 24 frames: 22 ok, 0 unknown, 0 no signal, 2 errors" in err
    assert sorted(line for line in err.splitlines() if line.startswith("ERROR: ")) == sorted(
        f"ERROR: {r['message']}" for r in rows if r["status"] == "error")  # each cause on the terminal too


def test_rerun_adds_nothing_and_a_partial_log_is_completed(archive, cluster, tmp_path, capsys, monkeypatch):
    """... however the archive is named: a trial's reruns as ``arch2``, ``/abs/arch2`` and ``.`` (from inside it) wrote
    its rows three times; through a link to it, files are named as ``watch`` names them (the real directory)."""
    run, serial = archive
    out = tmp_path / "out.csv"
    # a log cut after a whole file's rows, as a killed run leaves it: frames 0-6 and the truncated file
    text = (run.parent / "serial.csv").read_text().splitlines(keepends=True)
    kept = 1 + 8
    assert serial[kept - 1]["source"] != serial[kept]["source"]
    out.write_text("".join(text[:kept + 1]))
    pattern = str(run / "*")
    assert main(["reprocess", "--scheduler", cluster.scheduler_address, "--csv", str(out), pattern]) == 1
    rows = _rows(out)
    assert _comparable(rows) == _comparable(serial)
    assert "9 files already classified, skipped" in capsys.readouterr().err
    before = out.read_bytes()
    assert main(["reprocess", "--scheduler", cluster.scheduler_address, "--csv", str(out), pattern]) == 0
    assert out.read_bytes() == before
    assert "nothing to classify" in capsys.readouterr().err
    monkeypatch.chdir(run)
    (tmp_path / "current").symlink_to(run)  # the beamline's link to the run, as the service watches it
    for spelling in (".", f"../{run.name}/./", str(tmp_path / "current"), str(tmp_path / "current" / "*.cbf")):
        assert main(["reprocess", "--scheduler", cluster.scheduler_address, "--csv", str(out), spelling]) == 0
        assert out.read_bytes() == before


def test_a_worker_killed_mid_run_its_tasks_finish_elsewhere(archive, cluster, tmp_path):
    """SIGKILL the busiest worker process once the first task's rows are written: every row still comes,
    once, in order."""
    import os
    import signal

    from distributed import Client

    from gisaxs_live.classify.modeldir import ModelInfo
    from gisaxs_live.scale.reprocess import run_tasks
    from gisaxs_live.sinks.csvlog import CsvLog

    run, serial = archive
    out = tmp_path / "out.csv"
    killed = []

    with Client(cluster) as client:
        def kill_busiest(n_files, results) -> None:
            if killed:
                return
            processing = client.processing()
            busiest = max(processing, key=lambda address: len(processing[address]))
            pids = client.run(os.getpid)
            os.kill(pids[busiest], signal.SIGKILL)
            killed.append((pids[busiest], len(processing[busiest])))

        log = CsvLog(out, ModelInfo.read(None).class_names)
        counts = run_tasks(client, expand_inputs([run]), load_config(None, detector=True), None, log, 1, kill_busiest)
        log.close()
        assert killed[0][0] not in client.run(os.getpid).values()  # that process is gone
    assert killed[0][1] >= 1  # it had tasks in hand
    assert sum(counts.values()) == len(serial)
    assert _comparable(_rows(out)) == _comparable(serial)


def _worker_settings() -> tuple[str | None, int]:
    import os

    from gisaxs_live.scale.tasks import worker_threads

    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), worker_threads()


def test_a_task_that_fails_every_try_gives_an_error_row_per_file(cluster):
    """A task's own failure (here a division by zero on the worker) becomes error rows for its files; the
    check for a lost scheduler on the way must not itself fail (it raised NameError before)."""
    import operator
    from pathlib import Path

    from distributed import Client

    from gisaxs_live.scale.reprocess import _outcome

    with Client(cluster) as client:
        rows = _outcome(client.submit(operator.truediv, 1, 0, pure=False), [Path("a.cbf"), Path("b.cbf")],
                        ("capsule", "spheroid"))
    assert [(r.source, r.status) for r in rows] == [("a.cbf", "error"), ("b.cbf", "error")]
    assert "a.cbf: not classified: its task failed" in rows[0].message and "division by zero" in rows[0].message


def fails_with_company(files, config, model_dir):
    """``classify_files`` on a worker, but a task of several files fails (as if one of them killed its worker)."""
    from gisaxs_live.scale.tasks import classify_files

    if len(files) > 1:
        raise MemoryError("the worker ran out of memory")
    return classify_files(files, config, model_dir)


def test_a_task_of_several_files_that_fails_every_try_is_split_file_by_file(archive, cluster, tmp_path, monkeypatch):
    """A review: a task that failed every try (a file that kills its worker) gave every file of it an error row,
    the good ones included. Split, each file is a task of its own: the good ones get their rows."""
    from distributed import Client

    import gisaxs_live.scale.reprocess as reprocess
    from gisaxs_live.sinks.csvlog import CsvLog

    run, serial = archive
    files = sorted(run.glob("frame_*.cbf"))[:4]
    monkeypatch.setattr(reprocess, "classify_files", fails_with_company)
    out = tmp_path / "out.csv"
    log = CsvLog(out)
    with Client(cluster) as client:
        counts = reprocess.run_tasks(client, files, load_config(), None, log, per_task=2)
    log.close()
    assert counts == {"ok": 4}
    expected = [r for r in serial if r["source"] in {str(f) for f in files}]
    assert _comparable(_rows(out)) == _comparable(expected)


@pytest.mark.parametrize("workers", [1, 2])
def test_local_workers_keep_glibcs_memory_thresholds_and_share_the_cores(monkeypatch, workers):
    # Dask's nannies set MALLOC_TRIM_THRESHOLD_ for their workers, which costs 15-25 % CPU on frame-sized arrays,
    # and OMP_NUM_THREADS=1, which would leave a lone worker one core of the machine's
    import os

    from distributed import Client

    from gisaxs_live.scale.cluster import start_cluster

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    with start_cluster(workers) as cluster, Client(cluster) as client:
        settings = list(client.run(_worker_settings).values())
    assert len(settings) == workers
    assert all(trim is None for trim, _ in settings)
    assert all(threads == max(1, (os.cpu_count() or 1) // workers) for _, threads in settings)


def test_a_log_that_cannot_be_written_or_a_scheduler_not_there_is_one_line(archive, tmp_path, capsys, monkeypatch):
    """Before any task runs: a --csv that cannot be a log, and a --scheduler nobody listens on (Dask's connect
    timeout shortened to 2 s here), each a usage error naming it, not a traceback."""
    run, _ = archive
    not_a_log = run / "frame_0001.cbf"
    before = not_a_log.read_bytes()
    assert main(["reprocess", "--csv", str(not_a_log), str(run)]) == 2
    assert f"{not_a_log}: its columns differ from this model's" in capsys.readouterr().err
    assert not_a_log.read_bytes() == before
    assert main(["reprocess", "--csv", str(tmp_path / "no" / "log.csv"), str(run)]) == 2
    assert f"log.csv: cannot write the CSV log: its directory {tmp_path / 'no'} is not there" in capsys.readouterr().err
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        assert main(["reprocess", "--csv", str(tmp_path / "r.csv"), "--scheduler", "tcp://127.0.0.1:9", str(run)]) == 2
    assert "--scheduler tcp://127.0.0.1:9: cannot connect" in capsys.readouterr().err
    assert main(["reprocess", "--csv", str(tmp_path / "r2.csv"), "--scheduler", "", str(run)]) == 2
    assert "--scheduler: an empty address" in capsys.readouterr().err  # it started a local cluster instead
    (tmp_path / "empty").mkdir()  # as classify: nothing to do is said, not taken for done
    assert main(["reprocess", "--csv", str(tmp_path / "r.csv"), str(tmp_path / "empty")]) == 2
    assert f"{tmp_path / 'empty'}: a directory with no files in it" in capsys.readouterr().err


def test_workers_do_not_repeat_the_clients_warning_about_another_experiment(caplog):
    """The client warns once that the model was trained for another experiment; each worker's Classifier (the code a
    worker runs, here in this process) keeps quiet, where every worker used to print it again."""
    import dataclasses
    import logging

    from gisaxs_live.classify.pipeline import Classifier
    from gisaxs_live.scale.tasks import classifier_for

    config = load_config()
    other = dataclasses.replace(config, experiment=dataclasses.replace(config.experiment, wavelength_nm=0.1))
    with caplog.at_level(logging.WARNING):
        assert Classifier(other).mismatch  # the serial path warns
        warned = [r for r in caplog.records if "trained for another experiment" in r.getMessage()]
        assert len(warned) == 1
        caplog.clear()
        assert classifier_for(other, None).mismatch
    assert not [r for r in caplog.records if "trained for another experiment" in r.getMessage()]


def test_plan_skips_logged_files_and_with_retry_errors_takes_the_errored_ones_again(tmp_path):
    from gisaxs_live.results import Result
    from gisaxs_live.scale.reprocess import plan
    from gisaxs_live.sinks.csvlog import CsvLog

    files = [tmp_path / name for name in ("good.cbf", "bad.cbf", "new.cbf")]
    for f in files:
        f.write_bytes(b"x")
    log = CsvLog(tmp_path / "log.csv")
    log.write([Result(str(files[0]), 0, "ok", (0.125,) * 8, time_utc="2999-01-01T00:00:00.000Z"),
               Result(str(files[1]), 0, "error", message="mask of another shape", time_utc="2999-01-01T00:00:00.000Z")])
    log.close()
    assert plan(files, tmp_path / "log.csv").todo == [files[2]]  # the error row is newer than the file
    assert plan(files, tmp_path / "log.csv", retry_errors=True).todo == files[1:]


def test_a_stack_appended_to_since_its_rows_is_topped_up_with_its_new_frames(tmp_path, capsys):
    """A trial: reprocess into the same log never gave the frames appended to a stack after its rows ("already
    classified"). A file changed after its rows is read for its frames beyond those with rows."""
    import os

    series = GrowthSeries(demo_config(load_config()), 4)
    stack = tmp_path / "stack.edf"

    def write(frames: int) -> None:
        edf = EdfImage(data=series.frame(1))
        for i in range(2, frames + 1):
            edf.append_frame(data=series.frame(i))
        edf.write(str(stack))

    write(2)
    out = tmp_path / "log.csv"
    assert main(["reprocess", "--workers", "1", "--csv", str(out), str(stack)]) == 0
    write(3)
    later = max(os.stat(out).st_mtime, os.stat(stack).st_mtime) + 1.0
    os.utime(stack, (later, later))  # changed after its rows (on a file system with coarse timestamps too)
    assert main(["reprocess", "--workers", "1", "--csv", str(out), str(stack)]) == 0
    assert main(["reprocess", "--workers", "1", "--csv", str(out), str(stack)]) == 0  # nothing new: no row
    assert [r["frame"] for r in _rows(out)] == ["0", "1", "2"]


def test_retry_errors_does_not_log_again_the_frames_read_before_an_error(tmp_path, capsys):
    """A partly read file (an Eiger master whose second data file was missing): reprocess --retry-errors gives rows
    for the frames from its error row on."""
    from test_daemon import eiger_data, eiger_series

    series = GrowthSeries(demo_config(load_config()), 2)
    eiger_data(tmp_path, 1, series.frame(0))
    master = eiger_series(tmp_path, 2)
    out = tmp_path / "log.csv"
    assert main(["classify", "--csv", str(out), str(master)]) == 1
    eiger_data(tmp_path, 2, series.frame(1))
    assert main(["reprocess", "--workers", "1", "--retry-errors", "--csv", str(out), str(master)]) == 0
    assert [(r["frame"], r["status"] != "error") for r in _rows(out)] == [("0", True), ("1", False), ("1", True)]


def test_ctrl_c_at_a_terminal_while_the_tasks_run_ends_with_one_line_and_status_130(archive, tmp_path):
    """A trial: Ctrl-C, which a terminal sends to every process of its group (the local workers too), printed each
    worker's KeyboardInterrupt traceback, its "Async instruction ... ended with CancelledError" warning and the
    nanny's "Worker process still alive after 4.0 seconds, killing" after the line saying where the rows are."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run, _ = archive
    many = tmp_path / "many"  # 100 frames (links to the archive's): the run is not over when it is stopped
    many.mkdir()
    for i in range(100):
        (many / f"f_{i:03d}.cbf").symlink_to(run / f"frame_{i % N_CBF:04d}.cbf")
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([sys.executable, "-m", "gisaxs_live.cli", "reprocess", "--workers", "2",
                             "--files-per-task", "1", "--csv", str(out), str(many)], stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: (os.setpgrp(), signal.signal(signal.SIGINT, signal.SIG_DFL)))
    try:
        deadline = time.monotonic() + 120
        while (not out.exists() or out.read_text().count("\n") < 2) and time.monotonic() < deadline:
            time.sleep(0.02)  # a first task's rows: the others running or waiting
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if not line.startswith("WARNING: no --config:")]
    assert len(lines) == 2 and lines[0].startswith("Dask dashboard: "), err
    assert lines[1] == (f"gisaxs-live reprocess: stopped; the rows of the tasks done are in {out}, a rerun goes on "
                        "from there")
    assert 1 <= len(_rows(out)) < 100  # whole tasks' rows, not all
