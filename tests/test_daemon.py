"""The daemon on a real watched directory with an injected classifier: every file gets its rows, once,
through bad input, bursts, a full queue, restarts and sink failures."""

import csv
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fabio.edfimage import EdfImage

from gisaxs_live.daemon import plan_backlog
from gisaxs_live.publisher.demo_series import cbf_bytes
from gisaxs_live.results import parse_time
from gisaxs_live.sinks.csvlog import Resume
from gisaxs_live.publisher.demo_series import write_staged
from livehelp import FAST, fake_classify, fast, frame_bytes, read_rows, running, wait_for, write_frame


@pytest.fixture
def dirs(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    return frames, tmp_path / "log.csv"


def by_name(rows):
    return {os.path.basename(r["source"]): r for r in rows}


def test_a_directory_whose_files_match_no_pattern_is_said_at_start(dirs, caplog):
    """``patterns: ["*.tif"]`` for ``.cbf`` files gave only "0 files present"; the start now names what is there."""
    frames, log = dirs
    for name in ("s_00001.cbf", "s_00002.cbf"):
        write_frame(frames / name)
    (frames / "gisaxs-live.csv").write_text("")  # a log in the directory is no frame
    with running(frames, log, settings=fast(patterns=("*.tif",))) as r:
        assert r.stop() == 0
    assert "none of the 2 files in" in caplog.text and "matches watch.patterns (*.tif), e.g. s_00001.cbf" in caplog.text
    caplog.clear()
    empty = frames.parent / "empty"
    empty.mkdir()
    (empty / "gisaxs-live.csv").write_text("")
    with running(empty, log) as r:
        assert r.stop() == 0
    assert "matches watch.patterns" not in caplog.text


def test_frames_written_like_a_detector_get_one_row_each(dirs):
    frames, log = dirs
    with running(frames, log) as r:
        for i in range(5):
            write_frame(frames / f"sample_{i:05d}.cbf", value=i + 1, stages=3, pause_s=0.02)
        with open(frames / "inplace_00001.cbf", "wb") as fh:  # in place, in stages
            payload = frame_bytes(3)
            fh.write(payload[:50])
            fh.flush()
            time.sleep(0.2)
            fh.write(payload[50:])
        r.wait_rows(6)
        assert r.stop() == 0
    rows = read_rows(log)
    assert sorted(by_name(rows)) == ["inplace_00001.cbf"] + [f"sample_{i:05d}.cbf" for i in range(5)]
    assert all(row["status"] == "ok" for row in rows)
    assert all(float(row["latency_ms"]) < 1000 for row in rows)


def test_bad_files_get_error_rows_naming_the_cause_and_nothing_else_is_lost(dirs):
    frames, log = dirs
    with running(frames, log) as r:
        payload = cbf_bytes(np.random.default_rng(0).poisson(100, (64, 64)).astype(np.int32))
        (frames / "truncated.cbf").write_bytes(payload[: len(payload) * 3 // 4])  # cut in the binary data
        (frames / "empty.cbf").write_bytes(b"")
        # seeded: random bytes that happen to start with "{" are a damaged EDF header (fabio reads by magic)
        (frames / "corrupt.cbf").write_bytes(np.random.default_rng(5).bytes(2000))
        (frames / "notes.tif").write_text("this is not an image\n")
        write_frame(frames / "good_1.cbf", value=2)
        write_frame(frames / "zeros.cbf", value=0)
        path = frames / "vanishing.cbf"  # deleted before it is read: its first read fails, then it is gone
        path.write_bytes(b"partial")
        time.sleep(0.02)
        path.unlink()
        write_frame(frames / "good_2.cbf", value=3)
        r.wait_rows(8)
        assert r.stop() == 0
    rows = by_name(read_rows(log))
    assert len(rows) == 8
    expect = {"truncated.cbf": "truncated CBF: ", "empty.cbf": "empty file", "corrupt.cbf": "not a detector image",
              "notes.tif": "not a detector image", "vanishing.cbf": "vanishing.cbf: deleted before it was read"}
    for name, cause in expect.items():
        assert rows[name]["status"] == "error" and cause in rows[name]["message"], rows[name]
    assert rows["zeros.cbf"]["status"] == "no_signal"
    assert rows["good_1.cbf"]["status"] == rows["good_2.cbf"]["status"] == "ok"


def test_a_burst_of_1000_files_is_batched_and_fully_logged(dirs):
    frames, log = dirs
    batches = []

    def classify(batch):
        batches.append(len(batch))
        return fake_classify(batch)

    payload = frame_bytes(4)
    with running(frames, log, classify=classify) as r:
        t0 = time.perf_counter()
        for i in range(1000):
            part = frames / f".b_{i:05d}.cbf.part"
            part.write_bytes(payload)
            os.replace(part, frames / f"b_{i:05d}.cbf")
        r.wait_rows(1000, timeout=60)
        elapsed = time.perf_counter() - t0
        assert r.stop() == 0
    rows = read_rows(log)
    names = Counter(os.path.basename(row["source"]) for row in rows)
    assert len(names) == 1000 and max(names.values()) == 1
    assert all(row["status"] == "ok" for row in rows)
    assert max(batches) > 1 and max(batches) <= 16  # batched when they queue up, never above batch_size
    print(f"1000 files in {elapsed:.2f} s, {len(batches)} batches")


def test_a_full_queue_loses_nothing_and_writes_no_error_rows(dirs, caplog):
    frames, log = dirs

    def slow(batch):
        time.sleep(0.02)
        return fake_classify(batch)

    names = [f"q_{i:03d}.cbf" for i in range(300)]
    payload = frame_bytes(1)
    with running(frames, log, settings=fast(queue_size=20, batch_size=4), classify=slow) as r:
        for name in names:  # a burst: far more than the queue holds
            (frames / f".{name}.part").write_bytes(payload)
            os.replace(frames / f".{name}.part", frames / name)
        wait_for(lambda: len(read_rows(log)) >= 300, 60, "300 rows")
        time.sleep(0.3)  # nothing more may come
        assert r.stop() == 0
        assert r.daemon.rescans >= 1
    rows = read_rows(log)
    assert sorted(os.path.basename(row["source"]) for row in rows) == names  # every file exactly one row
    assert all(row["status"] == "ok" for row in rows)
    assert "20 files are waiting (watch.queue_size)" in caplog.text


def test_a_file_written_in_several_closes_ends_with_an_ok_row(dirs):
    frames, log = dirs
    payload = frame_bytes(6)
    path = frames / "copied.cbf"
    steps = [payload[:len(payload) // 3], payload[len(payload) // 3:2 * len(payload) // 3],
             payload[2 * len(payload) // 3:]]
    with running(frames, log) as r:
        for step in steps:  # open, append, close; pauses far longer than the retries (3 × 0.05 s)
            with open(path, "ab") as fh:
                fh.write(step)
            time.sleep(0.8)
        write_frame(frames / "next.cbf")
        wait_for(lambda: any(row["source"] == str(path) and row["status"] == "ok" for row in read_rows(log)), 10,
                 "an ok row for the file")
        r.wait_rows(len(read_rows(log)))
        assert r.stop() == 0
    mine = [row for row in read_rows(log) if row["source"] == str(path)]
    assert mine[-1]["status"] == "ok"  # the last row is the answer
    assert all(row["status"] == "error" and "truncated CBF" in row["message"] for row in mine[:-1])
    with running(frames, log) as r:  # a restart: its last row is ok, nothing is repeated
        time.sleep(0.5)
        assert r.stop() == 0
    assert [row for row in read_rows(log) if row["source"] == str(path)] == mine


def test_a_restart_reads_again_a_file_that_changed_after_its_error_row(dirs):
    frames, log = dirs
    payload = frame_bytes(2)
    with running(frames, log) as r:
        (frames / "late.cbf").write_bytes(payload[:200])  # caught half-written
        (frames / "broken.cbf").write_bytes(b"garbage" * 40)  # broken for good
        r.wait_rows(2)
        assert r.stop() == 0
    assert {row["status"] for row in read_rows(log)} == {"error"}
    time.sleep(0.01)
    with open(frames / "late.cbf", "ab") as fh:  # completed while the monitor is down
        fh.write(payload[200:])
    with running(frames, log) as r:
        r.wait_rows(1)
        time.sleep(0.3)
        assert r.stop() == 0
    rows = [(os.path.basename(row["source"]), row["status"]) for row in read_rows(log)]
    assert sorted(rows[:2]) == [("broken.cbf", "error"), ("late.cbf", "error")]
    assert rows[2:] == [("late.cbf", "ok")]  # the unchanged broken file is not tried again
    os.utime(frames / "broken.cbf", (1e9, 1e9))  # long before the log began: only --retry-errors takes it
    (frames / "broken.cbf").write_bytes(frame_bytes(3))  # as a mended config would read it, keeping its mtime
    os.utime(frames / "broken.cbf", (1e9, 1e9))
    with running(frames, log, retry_errors=True) as r:
        r.wait_rows(1)
        time.sleep(0.3)
        assert r.stop() == 0
    rows = [(os.path.basename(row["source"]), row["status"]) for row in read_rows(log)]
    assert rows[3:] == [("broken.cbf", "ok")]  # read again; late.cbf, already ok, is not


def test_new_content_under_a_name_with_a_row_is_classified_again_and_a_close_of_the_same_content_is_not(dirs):
    """A detector in overwrite mode (one file name rewritten in place, by rename over it): each new content gets its
    row (it was lost: the name had a row). A writer closing the file again without changing it gives no row."""
    import shutil

    frames, log = dirs
    live = frames / "live.cbf"
    with running(frames, log) as r:
        write_frame(live, 1)
        r.wait_rows(1)
        time.sleep(0.05)  # mtime resolution
        live.write_bytes(frame_bytes(2))  # in place
        r.wait_rows(2)
        write_frame(live, 3)  # renamed over it
        r.wait_rows(3)
        time.sleep(0.05)
        shutil.copyfile(live, frames / "copy.cbf")
        r.wait_rows(4)
        with open(live, "ab"):  # opened for writing and closed, nothing written
            pass
        time.sleep(0.5)
        assert r.daemon.rows == 4
        assert r.stop() == 0
    rows = [(os.path.basename(row["source"]), row["top1"]) for row in read_rows(log)]
    assert [name for name, _ in rows] == ["live.cbf", "live.cbf", "live.cbf", "copy.cbf"]
    assert len({top1 for _, top1 in rows[:3]}) == 3  # three contents (mean counts 1, 2, 3), three answers


def test_a_directory_re_created_with_the_same_names_gets_rows_for_its_new_files(dirs):
    """``mv det run41; mkdir det``, then run 42 writes the same names: each new file gets its row (the rescan after
    the directory came back skipped them as logged)."""
    frames, log = dirs
    det = frames / "det"
    det.mkdir()
    with running(det, log) as r:
        for i in range(3):
            write_frame(det / f"img_{i}.cbf", 1)
        r.wait_rows(3)
        det.rename(frames / "run41")
        det.mkdir()
        for i in range(3):
            write_frame(det / f"img_{i}.cbf", 5)
        r.wait_rows(6, timeout=20)
        time.sleep(0.5)
        assert r.stop() == 0
    rows = read_rows(log)
    assert sorted(os.path.basename(row["source"]) for row in rows) == sorted([f"img_{i}.cbf" for i in range(3)] * 2)


def test_a_restart_reads_again_a_file_written_more_than_the_grace_after_its_row(dirs):
    frames, log = dirs
    write_frame(frames / "kept.cbf", 1)
    write_frame(frames / "rewritten.cbf", 1)
    with running(frames, log, backlog=True) as r:
        r.wait_rows(2)
        assert r.stop() == 0
    rows_at = time.time() - 600  # the rows written 10 minutes ago (not mtimes in the future: those are no news)
    text = log.read_text()
    for row in read_rows(log):
        text = text.replace(row["time_utc"], time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(rows_at)))
    log.write_text(text)
    write_frame(frames / "rewritten.cbf", 7)
    later = rows_at + 120  # written again 2 minutes after its row: beyond watch.resume_grace_s (60 s)
    os.utime(frames / "rewritten.cbf", (later, later))
    os.utime(frames / "kept.cbf", (rows_at + 30,) * 2)  # within the clocks' skew: taken as the same file
    with running(frames, log) as r:
        r.wait_rows(1)
        time.sleep(0.3)
        assert r.stop() == 0
    assert [os.path.basename(row["source"]) for row in read_rows(log)][2:] == ["rewritten.cbf"]


def eiger_series(directory: Path, images: int, name: str = "scan_master.h5") -> Path:
    """A master file ``name`` linking ``images`` data files of one 16 × 16 image each (written later by
    ``eiger_data``)."""
    import h5py

    master = directory / name
    with h5py.File(master, "w") as f:
        for i in range(1, images + 1):
            f[f"entry/data/data_{i:06d}"] = h5py.ExternalLink(f"scan_data_{i:06d}.h5", "/entry/data/data")
    return master


def eiger_data(directory: Path, i: int, image: np.ndarray | None = None) -> None:
    """Data file ``i`` of ``eiger_series``: ``image`` (default: 16 × 16 pixels of 10 × i counts)."""
    from fabio.eigerimage import EigerImage

    image = np.full((16, 16), 10 * i, np.uint32) if image is None else image
    EigerImage(data=image[np.newaxis].astype(np.uint32)).write(str(directory / f"scan_data_{i:06d}.h5"))


@pytest.mark.parametrize("master_first", [True, False])
@pytest.mark.parametrize("master", ["scan_master.h5", "scan_0001.nxs"])
def test_an_eiger_series_written_in_the_directory_gives_each_image_once_from_its_data_file(dirs, caplog, master_first,
                                                                                         master):
    """With the default patterns both an Eiger master and its data files match ``*.h5``: each image was read twice
    (the README told to ignore one kind). Now each data file's image gets its row as the data file closes, and the
    master, whichever comes first, none (a line in the log says why). A NeXus master of another name is one too: it
    gave rows under both names, or, come first, a lasting error row."""
    frames, log = dirs
    caplog.set_level(logging.INFO, logger="gisaxs_live.daemon")
    with running(frames, log, settings=fast(patterns=("*.h5", "*.nxs"))) as r:
        if master_first:
            eiger_series(frames, 3, master)
        for i in (1, 2, 3):
            eiger_data(frames, i)
        if not master_first:
            eiger_series(frames, 3, master)
        r.wait_rows(3)
        wait_for(lambda: "Eiger master file, not read" in caplog.text, 10, "the master's line")
        assert r.stop() == 0
    rows = [(os.path.basename(row["source"]), row["frame"], row["status"]) for row in read_rows(log)]
    assert sorted(rows) == [(f"scan_data_00000{i}.h5", "0", "ok") for i in (1, 2, 3)]
    assert (f"{master}: Eiger master file, not read: its images are classified from its data files "
            "(scan_data_000001.h5, scan_data_000002.h5, scan_data_000003.h5)") in caplog.text


def test_retry_errors_reads_a_partly_read_file_on_from_its_error_row(dirs):
    """An Eiger master read while one of its data files was missing: frame 0 ok, then an error row at frame 1. Read
    again (--retry-errors, once the data file is there), it gets a row for frame 1 only: frame 0 is not logged twice."""
    frames, log = dirs
    settings = fast(ignore_patterns=(".*", "*_data_*.h5"))
    eiger_data(frames, 1)
    eiger_series(frames, 2)
    with running(frames, log, settings=settings, backlog=True) as r:
        r.wait_rows(2)
        assert r.stop() == 0
    eiger_data(frames, 2)
    with running(frames, log, settings=settings, retry_errors=True) as r:
        r.wait_rows(1)
        time.sleep(0.3)
        assert r.stop() == 0
    rows = [(os.path.basename(row["source"]), row["frame"], row["status"]) for row in read_rows(log)]
    assert rows == [("scan_master.h5", "0", "ok"), ("scan_master.h5", "1", "error"), ("scan_master.h5", "1", "ok")]


def test_retry_errors_survives_a_rescan_until_each_file_is_done(dirs):
    """A rescan (queue full, inotify overflow) plans again from the log: the errored files --retry-errors took at start
    and not yet read stay planned; one read (its row written) leaves the plan."""
    from gisaxs_live.daemon import Daemon
    from gisaxs_live.results import Result
    from gisaxs_live.sinks.csvlog import CsvLog
    from gisaxs_live.sources.watch import DirectoryWatcher

    frames, log = dirs
    names = [f"f{i}.cbf" for i in range(4)]
    for name in names:
        write_frame(frames / name)
        os.utime(frames / name, (1e9, 1e9))
    csv_log = CsvLog(log)
    csv_log.write([Result(str(frames / n), 0, "error", message="mask of another shape", time_utc="2999-01-01T00:00:00Z")
                   for n in names])
    daemon = Daemon(DirectoryWatcher(frames, fast()), lambda: fake_classify, csv_log)
    daemon._plan(retry_errors=True)
    assert sorted(os.path.basename(p) for p in daemon._backlog) == names
    daemon._retry.discard(str(frames / "f0.cbf"))  # read meanwhile
    daemon._plan()  # the rescan's plan
    assert sorted(os.path.basename(p) for p in daemon._backlog) == names[1:]
    csv_log.close()


def test_odd_names_dangling_links_and_the_watched_patterns_at_start(dirs, caplog):
    import logging

    caplog.set_level(logging.INFO)
    frames, log = dirs
    with running(frames, log) as r:
        write_frame(frames / "line\nbreak\r.cbf")
        write_frame(frames / "ünïcode_0001.cbf")
        os.symlink(frames.parent / "nowhere.cbf", frames / ".link.tmp")
        os.replace(frames / ".link.tmp", frames / "link.cbf")  # a dangling symbolic link renamed in
        r.wait_rows(3)
        assert r.stop() == 0
    header, *lines = log.read_text().splitlines()
    assert len(lines) == 3 and all(line.count(",") == header.count(",") for line in lines)  # one line per row
    rows = by_name(read_rows(log))
    assert rows["line\\nbreak\\r.cbf"]["status"] == "ok"  # escaped in the log
    assert rows["ünïcode_0001.cbf"]["status"] == "ok"
    link = rows["link.cbf"]
    assert link["status"] == "error"
    assert f"{frames / 'link.cbf'}: dangling symbolic link" in link["message"] and "deleted" not in link["message"]
    assert "for *.cbf *.tif" in caplog.text and "*.cbf.gz" in caplog.text  # the patterns watched
    with running(frames, log) as r:  # a restart matches the escaped name: nothing is repeated
        time.sleep(0.3)
        assert r.stop() == 0
    assert len(read_rows(log)) == 3


MAX_EVENTS = Path("/proc/sys/fs/inotify/max_queued_events")


def test_inotify_overflow_is_logged_once_and_rescanned(dirs, tmp_path):
    """2,000 files renamed in while the daemon's inotify queue holds 16 events: every file one row."""
    if os.geteuid() != 0 or not os.access(MAX_EVENTS, os.W_OK):
        pytest.skip("needs root to lower fs.inotify.max_queued_events (the overflow cannot be provoked otherwise)")
    frames, log = dirs
    n = 2000
    old = MAX_EVENTS.read_text()
    try:
        MAX_EVENTS.write_text("16\n")
        child = subprocess.Popen([sys.executable, "-c", f"import livehelp; livehelp.serve({str(frames)!r}, "
                                  f"{str(log)!r}, {n})"], cwd=Path(__file__).parent, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"  # its inotify instance exists, with the low limit
    finally:
        MAX_EVENTS.write_text(old)  # only inotify instances created meanwhile have the low limit
    payload = frame_bytes(1)
    for i in range(n):
        part = frames / f".o_{i:05d}.cbf.part"
        part.write_bytes(payload)
        os.replace(part, frames / f"o_{i:05d}.cbf")
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    names = Counter(os.path.basename(row["source"]) for row in read_rows(log))
    assert sorted(names) == [f"o_{i:05d}.cbf" for i in range(n)] and max(names.values()) == 1
    assert "inotify lost events" in err and "fs.inotify.max_queued_events = 16" in err
    assert err.count("inotify lost events") <= err.count("rescan (")  # once per occurrence, each rescanned


def test_stop_finishes_every_frame_already_found(dirs):
    frames, log = dirs

    def slow(batch):
        time.sleep(0.1)
        return fake_classify(batch)

    with running(frames, log, settings=fast(batch_size=2), classify=slow) as r:
        for i in range(40):
            (frames / f"s_{i:03d}.cbf").write_bytes(frame_bytes(1))
        time.sleep(0.3)  # all found, most still queued
        assert r.daemon.rows < 40
        assert r.stop() == 0
    assert len(read_rows(log)) == 40


def test_restart_repeats_nothing_and_misses_nothing(dirs):
    frames, log = dirs
    settings = fast(resume_grace_s=0.5)
    write_frame(frames / "before_first_start.cbf")
    time.sleep(1.0)  # arrived (its ctime) more than the grace before the log began
    with running(frames, log, settings) as r:
        for i in range(5):
            write_frame(frames / f"run1_{i}.cbf")
        r.wait_rows(5)
        assert r.stop() == 0
    for i in range(3):  # while the monitor is down
        write_frame(frames / f"down_{i}.cbf")
    with running(frames, log, settings) as r:
        write_frame(frames / "run2_0.cbf")
        r.wait_rows(4)
        time.sleep(0.3)
        assert r.stop() == 0
    names = Counter(os.path.basename(row["source"]) for row in read_rows(log))
    assert sorted(names) == sorted([f"run1_{i}.cbf" for i in range(5)] + [f"down_{i}.cbf" for i in range(3)]
                                   + ["run2_0.cbf"])
    assert max(names.values()) == 1  # the old file was there before the log began: skipped without --backlog
    with running(frames, log, backlog=True) as r:
        r.wait_rows(1)
        time.sleep(0.3)
        assert r.stop() == 0
    names = Counter(os.path.basename(row["source"]) for row in read_rows(log))
    assert names["before_first_start.cbf"] == 1 and max(names.values()) == 1


def test_a_first_start_says_that_backlog_takes_the_files_already_there(dirs, caplog):
    """A trial: a first start on a directory of frames said "3 files present, 0 to classify first", no word of why
    nor of --backlog, the option that classifies them."""
    frames, log = dirs
    settings = fast(resume_grace_s=0.5)
    for i in range(3):
        write_frame(frames / f"old_{i}.cbf")
    time.sleep(1.0)  # arrived (their ctimes) more than the grace before the log began
    with caplog.at_level(logging.INFO, logger="gisaxs_live.daemon"):
        with running(frames, log, settings) as r:
            assert r.stop() == 0
        assert ("3 files present, 0 to classify first (3 without a row, there before the log began, are left: start "
                "with --backlog to classify them)") in caplog.messages
        caplog.clear()
        with running(frames, log, settings, backlog=True) as r:
            r.wait_rows(3)
            assert r.stop() == 0
        assert "3 files present, 3 to classify first" in caplog.messages
        caplog.clear()
        with running(frames, log, settings) as r:  # each has its row: nothing left, nothing to say of --backlog
            assert r.stop() == 0
        assert "3 files present, 0 to classify first" in caplog.messages


def _first_run_with(frames, log, name: str) -> None:
    """A monitor run that logs the one file ``name`` and stops."""
    with running(frames, log) as r:
        write_frame(frames / name)
        r.wait_rows(1)
        assert r.stop() == 0


def test_a_restart_takes_the_files_copied_in_meanwhile_with_their_old_mtimes(dirs):
    """``cp -p`` and ``rsync -a`` keep a file's mtime: copied in while the monitor was down, such files were skipped
    without a word (a trial: 3 of 3), their mtimes older than the log. Their ctime says when they arrived."""
    frames, log = dirs
    _first_run_with(frames, log, "live.cbf")
    for i in range(3):
        write_frame(frames / f"kept_{i}.cbf")
        os.utime(frames / f"kept_{i}.cbf", (time.time() - 7200 + i,) * 2)  # as cp -p leaves them
    with running(frames, log) as r:
        r.wait_rows(3)
        time.sleep(0.3)
        assert r.stop() == 0
    assert sorted(by_name(read_rows(log))) == ["kept_0.cbf", "kept_1.cbf", "kept_2.cbf", "live.cbf"]


def test_a_restart_takes_the_files_of_a_directory_moved_in_whole_meanwhile(dirs):
    """A trial: a run's directory moved whole into a recursive watch while the monitor was down got no row at the
    restart ("there before the log began"): a rename leaves the files' own ctimes as they were. The directory's
    ctime, later than its mtime, says when it was moved in."""
    frames, log = dirs
    elsewhere = frames.parent / "elsewhere" / "run_7"
    elsewhere.mkdir(parents=True)
    for i in range(2):
        write_frame(elsewhere / f"moved_{i}.cbf")
    time.sleep(1.0)  # longer ago than the grace below: older than the log that begins now
    settings = fast(recursive=True, resume_grace_s=0.5)
    with running(frames, log, settings=settings) as r:
        write_frame(frames / "live.cbf")
        r.wait_rows(1)
        assert r.stop() == 0
    os.rename(elsewhere, frames / "run_7")
    with running(frames, log, settings=settings) as r:
        r.wait_rows(2)
        time.sleep(0.3)
        assert r.stop() == 0
    assert sorted(by_name(read_rows(log))) == ["live.cbf", "moved_0.cbf", "moved_1.cbf"]


def test_the_backlog_is_classified_before_what_arrives_while_the_model_loads(dirs):
    """Files that arrived while the monitor was down come before those that arrive while its model loads (a trial:
    rows 1-3, 9-12, then 4-8, and class changes reported for the order, not the sample)."""
    import threading

    from gisaxs_live.daemon import Daemon
    from gisaxs_live.sinks.csvlog import CsvLog
    from gisaxs_live.sources.watch import DirectoryWatcher

    frames, log = dirs
    _first_run_with(frames, log, "a_0.cbf")
    for i in range(4):
        write_frame(frames / f"b_{i}.cbf")  # while down
    time.sleep(0.3)  # longer ago than settle_s: complete when the backlog is fed
    loaded = threading.Event()

    def load():
        loaded.wait(10)
        return fake_classify

    daemon = Daemon(DirectoryWatcher(frames, FAST), load, CsvLog(log))
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    wait_for(lambda: daemon.model == "loading", 10, "the model to be loading")
    for i in range(4):
        write_frame(frames / f"c_{i}.cbf")  # while the model loads
    time.sleep(0.3)
    loaded.set()
    wait_for(lambda: daemon.rows >= 8, 10, "eight rows")
    daemon.request_stop()
    thread.join(20)
    order = [os.path.basename(row["source"]) for row in read_rows(log)]
    assert order == ["a_0.cbf", *(f"b_{i}.cbf" for i in range(4)), *(f"c_{i}.cbf" for i in range(4))]


def test_a_backlog_of_settled_files_is_not_held_for_settling(dirs):
    """Backlog files used to be fed as not yet complete, each waiting ``settle_s``: with a small queue the backlog
    crawled at queue_size / 2 per settle_s (a trial: 300 files in over 70 s). A file unchanged for ``settle_s`` is
    complete; here settle_s is 60 s, so that any file held for it would miss the test's 10-s wait."""
    frames, log = dirs
    for i in range(12):
        write_frame(frames / f"old_{i:02d}.cbf")
        os.utime(frames / f"old_{i:02d}.cbf", (time.time() - 3600, time.time() - 3600))
    with running(frames, log, settings=fast(settle_s=60.0, queue_size=4), backlog=True) as r:
        r.wait_rows(12)
        assert r.stop() == 0
    assert sorted(by_name(read_rows(log))) == [f"old_{i:02d}.cbf" for i in range(12)]


def test_a_backlog_cut_short_says_that_it_needs_backlog_again(dirs, caplog):
    """A --backlog start stopped with old files not yet queued said they were "left for the next start", but a start
    without --backlog (the service's) takes only files modified since the log began: the line now says so."""
    frames, log = dirs
    for i in range(12):
        write_frame(frames / f"old_{i:02d}.cbf")
        os.utime(frames / f"old_{i:02d}.cbf", (1e9 + i, 1e9 + i))

    def slow(frames_):
        time.sleep(0.2)
        return fake_classify(frames_)

    with running(frames, log, settings=fast(queue_size=4, batch_size=1), classify=slow, backlog=True) as r:
        r.wait_rows(1)
        assert r.stop() == 0
    left = 12 - len(read_rows(log))
    assert left > 0
    assert "of the --backlog not yet read are left: start with --backlog again to classify them" in caplog.text


def test_a_directory_that_appears_after_the_start_gets_every_frame_a_row(dirs):
    frames, log = dirs
    det = frames / "det"
    with running(det, log) as r:
        time.sleep(0.2)
        det.mkdir()
        write_frame(det / "first.cbf")  # maybe before the watch is set up: the rescan on its appearance takes it
        r.wait_rows(1)
        write_frame(det / "second.cbf")
        r.wait_rows(2)
        assert r.stop() == 0
    assert sorted(os.path.basename(row["source"]) for row in read_rows(log)) == ["first.cbf", "second.cbf"]


def test_polling_a_file_renamed_before_it_was_read_is_no_error(dirs):
    """The polling observer sees a rename only at its next look: a file found, then renamed before the worker read
    it, got an error row "deleted before it was read" beside its row under the new name (a trial: 5 of 12
    renames). A vanished file is now looked at again after the next poll."""
    frames, log = dirs
    settings = fast(observer="polling", poll_interval_s=0.5, settle_s=0.05)
    with running(frames, log, settings=settings) as r:
        for i in range(3):
            write_frame(frames / f"raw_{i}.cbf", i + 1)
            wait_for(lambda: str(frames / f"raw_{i}.cbf") in r.daemon.watcher._tracked, 10, "the poll finding it")
            os.rename(frames / f"raw_{i}.cbf", frames / f"final_{i}.cbf")
        r.wait_rows(3)
        time.sleep(2.5)
        assert r.stop() == 0
    rows = [(os.path.basename(row["source"]), row["status"]) for row in read_rows(log)]
    assert sorted(rows) == [(f"final_{i}.cbf", "ok") for i in range(3)]


def test_a_file_server_clock_ahead_is_not_taken_for_every_file_rewritten(caplog):
    """Files modified more than resume_grace_s after their rows are read again at a start; where most of them are,
    the file server's clock is ahead (a review: mtimes 90 s ahead re-classified every file at every restart)."""
    logged = frozenset(f"f{i}" for i in range(5))
    resume = Resume(logged, since=1000.0, logged_at={f"f{i}": 1000.0 + i for i in range(5)})
    ahead = [(f"f{i}", 1000.0 + i + 90, 1000.0 + i + 90) for i in range(5)]
    assert plan_backlog(ahead, resume, backlog=False, grace_s=60) == []
    assert "taken for the file server's clock running ahead" in caplog.text
    one = [(f"f{i}", 1000.0 + i + (90 if i == 2 else 0), 1000.0 + i + (90 if i == 2 else 0)) for i in range(5)]
    assert plan_backlog(one, resume, backlog=False, grace_s=60) == ["f2"]  # one file written again


def test_files_modified_in_the_future_are_not_classified_again_at_any_start():
    """A trial: 3 files of 15 whose mtimes were a day ahead (a writer's clock) got one more row at every restart: too
    few for the clock-skew rule, and always 'modified after their row'. Their ctime (the rename into place, before
    the row) says they were not written again; nor was a file only chmod'ed after its row."""
    rows_at = time.time() - 500
    logged = frozenset(f"f{i}" for i in range(15))
    resume = Resume(logged, since=rows_at - 100, logged_at={f"f{i}": rows_at for i in range(15)})
    files = [(f"f{i}", rows_at - 50 + (86400 if i < 3 else 0), rows_at - 50) for i in range(15)]  # (mtime, ctime)
    assert plan_backlog(files, resume, backlog=False, grace_s=60) == []
    chmod = [(path, mtime, rows_at + 300 if path == "f4" else ctime) for path, mtime, ctime in files]
    assert plan_backlog(chmod, resume, backlog=False, grace_s=60) == []
    written = [(path, *((rows_at + 400,) * 2 if path == "f5" else (mtime, ctime))) for path, mtime, ctime in files]
    assert plan_backlog(written, resume, backlog=False, grace_s=60) == ["f5"]  # written again after its row: news


def test_a_file_whose_row_is_an_error_and_whose_mode_changed_since_is_read_again_at_a_start():
    """A trial: a file unreadable when it arrived (an error row), made readable by chmod, stayed an error across
    restarts: its mtime was older than the row. A file whose last row is an error is judged by its ctime too."""
    resume = Resume(frozenset(), since=1000.0, errors={"mended": 1200.0, "untouched": 1200.0})
    files = [("mended", 1100.0, 1300.0), ("untouched", 1100.0, 1150.0)]  # (path, mtime, max(mtime, ctime))
    assert plan_backlog(files, resume, backlog=False, grace_s=0) == ["mended"]


def test_plan_backlog():
    files = [("old", 100.0, 100.0), ("logged", 950.0, 950.0), ("recent", 990.0, 990.0), ("new", 2000.0, 2000.0)]
    resume = Resume(frozenset({"logged"}), since=1000.0)
    assert plan_backlog(files, resume, backlog=True, grace_s=0) == ["old", "recent", "new"]
    assert plan_backlog(files, resume, backlog=False, grace_s=0) == ["new"]
    assert plan_backlog(files, resume, backlog=False, grace_s=60) == ["recent", "new"]
    assert plan_backlog(files, Resume(frozenset(), None), backlog=False, grace_s=60) == []
    retry = Resume(frozenset(), 1000.0, retry=frozenset({"old"}))  # --retry-errors: errored, whatever its mtime
    assert plan_backlog(files, retry, backlog=False, grace_s=0) == ["old", "new"]
    # copied in while the daemon was down with their old mtimes kept (cp -p, rsync -a): their ctime says when
    kept = [("copied", 100.0, 1500.0), ("logged", 950.0, 1600.0)]  # a chmod after its row is no news
    assert plan_backlog(kept, resume, backlog=False, grace_s=0) == ["copied"]


def test_a_failing_dashboard_costs_no_rows(dirs):
    frames, log = dirs

    class Broken:
        critical = False

        def update(self, update):
            raise RuntimeError("terminal gone")

        def close(self):
            pass

    with running(frames, log, sinks=[Broken()]) as r:
        for i in range(3):
            write_frame(frames / f"s_{i}.cbf")
        r.wait_rows(3)
        assert r.stop() == 0
    assert len(read_rows(log)) == 3


def test_a_failing_classifier_gives_error_rows_and_the_daemon_goes_on(dirs):
    frames, log = dirs
    calls = []

    def flaky(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise MemoryError("out of memory")
        return fake_classify(batch)

    with running(frames, log, classify=flaky) as r:
        write_frame(frames / "first.cbf")
        r.wait_rows(1)
        write_frame(frames / "second.cbf")
        r.wait_rows(2)
        assert r.stop() == 0
    rows = by_name(read_rows(log))
    assert rows["first.cbf"]["status"] == "error" and "classifier failed: out of memory" in rows["first.cbf"]["message"]
    assert rows["second.cbf"]["status"] == "ok"


def test_a_csv_log_that_cannot_be_written_stops_the_daemon_loudly(dirs, caplog):
    frames, log = dirs
    with running(frames, log) as r:
        log.unlink()
        log.mkdir()  # the rotation check reopens it, and cannot
        write_frame(frames / "s.cbf")
        r.thread.join(5)
        assert r.status == 1
    assert "cannot write the CSV log" in caplog.text


def test_rows_keep_arrival_order_and_a_multi_frame_file_gives_every_frame(dirs):
    frames, log = dirs
    stack = EdfImage(data=np.full((4, 5), 1, np.float32))
    stack.append_frame(data=np.full((4, 5), 2, np.float32))
    stack.append_frame(data=np.full((4, 5), 3, np.float32))
    stack.write(str(frames / ".stack.edf.part"))

    def slow(batch):
        time.sleep(0.3)
        return fake_classify(batch)

    with running(frames, log, classify=slow) as r:
        write_frame(frames / "first.cbf")
        time.sleep(0.1)  # classifying the first: the next ones queue up and go as one batch
        os.replace(frames / ".stack.edf.part", frames / "stack.edf")
        (frames / "broken.cbf").write_bytes(b"garbage")
        write_frame(frames / "last.cbf")
        r.wait_rows(6)
        assert r.stop() == 0
    rows = [(os.path.basename(row["source"]), row["frame"], row["status"]) for row in read_rows(log)]
    assert rows[:4] == [("first.cbf", "0", "ok"), ("stack.edf", "0", "ok"), ("stack.edf", "1", "ok"),
                        ("stack.edf", "2", "ok")]
    assert sorted(rows[4:]) == [("broken.cbf", "0", "error"), ("last.cbf", "0", "ok")]  # broken: after retries


def _edf_stack(path: Path, values) -> None:
    stack = EdfImage(data=np.full((4, 5), values[0], np.float32))
    for value in values[1:]:
        stack.append_frame(data=np.full((4, 5), value, np.float32))
    stack.write(str(path))


def test_a_multi_frame_file_appended_to_gives_rows_for_its_new_frames_alone(dirs):
    """A trial: a multi-frame file written in steps (closed after each append) got rows for all its frames at every
    close, so its first frames were logged again and again. Written anew (another first frame), every frame is
    news."""
    frames, log = dirs
    stack = frames / "stack.edf"
    with running(frames, log) as r:
        _edf_stack(stack, [1, 2])
        r.wait_rows(2)
        _edf_stack(stack, [1, 2, 3])  # the writer appended a frame: the same file, closed again
        r.wait_rows(3)
        _edf_stack(stack, [7, 8])  # a new run under the same name
        r.wait_rows(5)
        time.sleep(0.5)
        assert r.stop() == 0
    assert [(row["frame"], row["status"]) for row in read_rows(log)] == [("0", "ok"), ("1", "ok"), ("2", "ok"),
                                                                         ("0", "ok"), ("1", "ok")]


def _rows_of(log):
    return [(row["frame"], row["status"]) for row in read_rows(log)]


def test_a_stack_begun_with_one_frame_and_appended_to_gives_each_frame_one_row(dirs):
    """A trial: a stack whose first close held one frame logged frame 0 again at its next close (only files read
    with several frames were remembered), and a touch of a single-frame file logged it again."""
    frames, log = dirs
    stack, single = frames / "stack.edf", frames / "single.cbf"
    with running(frames, log) as r:
        _edf_stack(stack, [1])
        r.wait_rows(1)
        _edf_stack(stack, [1, 2])
        r.wait_rows(2)
        _edf_stack(stack, [1, 2, 3])
        r.wait_rows(3)
        write_frame(single, 4)
        r.wait_rows(4)
        with open(single, "ab"):  # opened for writing and closed, unchanged: no news
            pass
        time.sleep(0.5)
        assert r.stop() == 0
    assert _rows_of(log) == [("0", "ok"), ("1", "ok"), ("2", "ok"), ("0", "ok")]


def test_a_stack_appended_to_while_the_monitor_was_down_gives_rows_for_its_new_frames_alone(dirs):
    """A trial: after a restart a stack appended to since its rows got rows for all its frames again (what was
    appended was known in memory only). The log says how many frames have rows; written anew with as many, every
    frame is news again."""
    frames, log = dirs
    stack, overwritten, later = frames / "stack.edf", frames / "overwritten.edf", frames / "later.edf"
    for path in (stack, overwritten, later):
        _edf_stack(path, [1, 2])
    with running(frames, log, backlog=True) as r:
        r.wait_rows(6)
        assert r.stop() == 0
    rows_at = time.time() - 600  # the rows written 10 minutes ago
    text = log.read_text()
    for row in read_rows(log):
        text = text.replace(row["time_utc"], time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(rows_at)))
    log.write_text(text)
    _edf_stack(stack, [1, 2, 3])
    _edf_stack(overwritten, [5, 6])
    for path in (stack, overwritten):  # written again 2 minutes after their rows: beyond watch.resume_grace_s
        os.utime(path, (rows_at + 120,) * 2)
    os.utime(later, (rows_at - 10,) * 2)  # written before its rows, as it was
    with running(frames, log) as r:
        r.wait_rows(3)
        _edf_stack(later, [1, 2, 3])  # appended to while the restarted monitor runs: its rows are in the log alone
        r.wait_rows(4)
        time.sleep(0.5)
        assert r.stop() == 0
    again = [(os.path.basename(row["source"]), row["frame"]) for row in read_rows(log)][6:]
    assert sorted(again) == [("later.edf", "2"), ("overwritten.edf", "0"), ("overwritten.edf", "1"), ("stack.edf", "2")]


def test_a_stack_appended_to_within_the_grace_while_the_monitor_was_down_gets_rows_for_its_new_frames(dirs):
    """A trial: appended to a few seconds after its rows while the monitor was down, within watch.resume_grace_s, a
    stack's new frame never got a row (no start took the file again). A file changed after its row within the grace
    is read for its frames beyond those with rows: none for one within the clocks' skew."""
    frames, log = dirs
    stack, single = frames / "stack.edf", frames / "single.cbf"
    _edf_stack(stack, [1, 2])
    write_frame(single, 3)
    with running(frames, log, backlog=True) as r:
        r.wait_rows(3)
        assert r.stop() == 0
    row_at = max(parse_time(row["time_utc"]) for row in read_rows(log))
    _edf_stack(stack, [1, 2, 3])
    write_frame(single, 3)
    for path in (stack, single):
        os.utime(path, (row_at + 4,) * 2)  # 4 s after the rows, as in the trial
    with running(frames, log) as r:
        r.wait_rows(1)
        time.sleep(0.5)
        assert r.stop() == 0
    assert [(os.path.basename(row["source"]), row["frame"]) for row in read_rows(log)][3:] == [("stack.edf", "2")]


def test_the_logs_frame_counts_fill_only_the_room_left_and_forget_no_file_read_by_this_run(dirs, monkeypatch):
    """At a start or a rescan the log's frame counts of the files present are remembered (appended stacks), the
    newest first, in the room left: a file read in this run, with its first frame's digest, is never pushed out."""
    import gisaxs_live.daemon as daemon_module
    from gisaxs_live.daemon import Daemon
    from gisaxs_live.sinks.csvlog import CsvLog
    from gisaxs_live.sources.watch import DirectoryWatcher

    frames, log = dirs
    monkeypatch.setattr(daemon_module, "REMEMBERED", 3)
    daemon = Daemon(DirectoryWatcher(frames, FAST), lambda: fake_classify, CsvLog(log))
    daemon._multi_frame["read.edf"] = (2, b"digest")  # read by this run
    files = [(f"old_{i}.edf", float(i), float(i)) for i in range(5)]
    resume = Resume(frozenset(p for p, _, _ in files), 0.0, logged_frames={p: 2 for p, _, _ in files})
    daemon._remember_logged(files, resume, planned=set())
    assert list(daemon._multi_frame.items()) == [("old_3.edf", (2, None)), ("old_4.edf", (2, None)),
                                                 ("read.edf", (2, b"digest"))]


def test_a_cbf_cut_before_its_binary_section_is_an_error_not_a_hang(dirs):
    frames, log = dirs
    payload = frame_bytes(5)
    header_only = payload[: payload.index(b"\x0c\x1a\x04\xd5")]
    probe = frames.parent / "probe.cbf"
    probe.write_bytes(header_only)
    code = f"from gisaxs_live.sources.files import read_frames\ntry: list(read_frames({str(probe)!r}))\nexcept Exception: pass"
    try:
        subprocess.run([sys.executable, "-c", code], timeout=3, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("sources.files.read_frames hangs on a CBF that ends before its binary section "
                    "(fabio loops at end of file); it needs a guard there")
    with running(frames, log) as r:
        (frames / "header_only.cbf").write_bytes(header_only)
        write_frame(frames / "good.cbf")
        r.wait_rows(2)
        assert r.stop() == 0
    rows = by_name(read_rows(log))
    assert rows["header_only.cbf"]["status"] == "error" and rows["good.cbf"]["status"] == "ok"


# --- start-up errors: clear, before anything runs -------------------------------------------------------

GEOMETRY = "geometry:\n  distance_mm: 2000.0\n  direct_beam_px: [490.0, 900.0]\n"


@pytest.mark.parametrize("args, config, message", [
    (["--csv", "{log}", "{frames}"], "watch:\n  observer: fast\n", "watch.observer: 'fast' is not one of 'inotify', 'polling'"),
    (["--csv", "{log}", "{frames}"], "watch:\n  queue_size: 0\n", "watch.queue_size: 0 is outside"),
    (["--csv", "{log}", "{frames}"], "output:\n  csvv: x.csv\n", "output.csvv: unknown key (did you mean 'csv'?)"),
    (["--csv", "{log}", "{frames}/missing/run"], "", "missing/run: no such directory, nor its parent"),
    (["--csv", "{log}", "{foreign}"], "", "foreign.csv: not a directory"),
    (["{foreign}"], "", "foreign.csv: not a directory"),  # without --csv it said "no such directory (yet)"
    (["--csv", "{log}"], "", "give the directory to watch (DIR or watch.directory)"),
    (["--csv", "{foreign}", "{frames}"], "", "its columns differ from this model's"),
])
def test_bad_start_up_is_a_clear_error(dirs, capsys, args, config, message):
    from gisaxs_live.cli import main

    frames, log = dirs
    foreign = frames.parent / "foreign.csv"
    foreign.write_text("a,b,c\n1,2,3\n")
    path = frames.parent / "config.yaml"
    path.write_text(config or GEOMETRY)
    argv = ["watch", "--config", str(path), *(a.format(log=log, frames=frames, foreign=foreign) for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_missing_log_directory_is_restarted_where_its_parent_is_there_and_refused_where_not(dirs, capsys):
    """The log's directory gone (a share unmounted under a running service) made the restart a configuration error
    (status 2), which the systemd unit does not restart. Its parent there: status 1, restarted until it is back;
    its parent missing too (a mistyped path): status 2."""
    from gisaxs_live.cli import main

    frames, _ = dirs
    share = frames.parent / "share"
    share.mkdir()
    config = frames.parent / "config.yaml"
    config.write_text(GEOMETRY)
    for log, status, message in [(share / "run1" / "log.csv", 1, "the CSV log: its directory {d} is not there"),
                                 (share / "no" / "run1" / "log.csv", 2, "No such file or directory")]:
        assert main(["watch", "--config", str(config), "--csv", str(log), str(frames)]) == status
        err = capsys.readouterr().err
        assert message.format(d=log.parent) in err and err.count("\n") == 1, err


# --- the real CLI as a process, with the real classifier ---------------------------------------------------

CLI = [sys.executable, "-m", "gisaxs_live.cli"]


@pytest.fixture(scope="module")
def pilatus_payloads():
    from gisaxs_live.config import load_config
    from gisaxs_live.publisher.demo_series import GrowthSeries, demo_config

    # frames 1-3 of four: the series' first frame (8-nm hemispheroids) sits at the bundled model's
    # out-of-distribution threshold (ood_score 1.17) and may come out ``unknown``
    series = GrowthSeries(demo_config(load_config()), 4)
    return [cbf_bytes(series.frame(i)) for i in range(1, 4)]


class WatchProcess:
    """``gisaxs-live watch`` as a subprocess; its log lines (stderr) are collected."""

    def __init__(self, frames, log, model):
        import threading

        self.proc = subprocess.Popen(CLI + ["watch", str(frames), "--csv", str(log), "--model", str(model),
                                            "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True).start()
        wait_for(lambda: any("model ready" in line for line in self.lines) or self.proc.poll() is not None, 90,
                 "the model to load")
        assert self.proc.poll() is None, "".join(self.lines)


def logged(log):
    return Counter(os.path.basename(row["source"]) for row in read_rows(log)) if log.exists() else Counter()


def test_the_log_takes_the_class_order_of_the_model_it_is_given(dirs, model_dir, pilatus_payloads, tmp_path):
    """A model whose model.json lists its classes in another order than the built-in one: the log's p_* columns
    follow the model (before, they were the built-in order, and the first ok row stopped the daemon)."""
    import json
    import shutil

    frames, log = dirs
    model = tmp_path / "reordered"
    shutil.copytree(model_dir, model, ignore=shutil.ignore_patterns("training_set.h5", "pictures"))
    meta = json.loads((model / "model.json").read_text())
    meta["class_names"] = meta["class_names"][::-1]
    (model / "model.json").write_text(json.dumps(meta))
    watching = WatchProcess(frames, log, model)
    for i, payload in enumerate(pilatus_payloads):
        write_staged(frames / f"sample_{i:05d}.cbf", payload, stages=1)
    wait_for(lambda: sum(logged(log).values()) >= 3, 30, "three rows")
    time.sleep(0.5)
    assert watching.proc.poll() is None, "".join(watching.lines)
    watching.proc.terminate()
    assert watching.proc.wait(30) == 0
    header = log.read_text().splitlines()[0].split(",")
    assert [c[2:] for c in header if c.startswith("p_") and c != "p_family"] == meta["class_names"]


def test_cli_kill_9_and_restart_gives_no_duplicate_and_no_missing_row(dirs, model_dir, pilatus_payloads):
    import signal

    frames, log = dirs
    first = WatchProcess(frames, log, model_dir)
    names = [f"sample_{i:05d}.cbf" for i in range(1, 21)]
    for i, name in enumerate(names[:12]):
        write_staged(frames / name, pilatus_payloads[i % 3], stages=2)
        time.sleep(0.02)
    wait_for(lambda: sum(logged(log).values()) >= 4, 30, "the first rows")
    first.proc.kill()  # SIGKILL: mid-stream, rows and frames in flight
    first.proc.wait(10)
    for i, name in enumerate(names[12:17]):  # while it is down
        write_staged(frames / name, pilatus_payloads[i % 3])
    second = WatchProcess(frames, log, model_dir)
    for i, name in enumerate(names[17:]):
        write_staged(frames / name, pilatus_payloads[i % 3])
    wait_for(lambda: set(logged(log)) >= set(names), 60, "a row for every file")
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(30) == 0, "".join(second.lines)
    counts = logged(log)
    assert sorted(counts) == names and max(counts.values()) == 1
    header, *rows = list(csv.reader(log.read_text().splitlines()))
    assert all(len(row) == len(header) for row in rows)  # no half-written row
    assert all(r["status"] == "ok" for r in read_rows(log))


def test_real_classifier_names_wrong_shape_nan_and_all_zero_frames(dirs, model_dir, pilatus_payloads):
    from gisaxs_live.config import load_config
    from gisaxs_live.classify.pipeline import Classifier

    frames, log = dirs
    classify = Classifier(load_config(), model_dir).classify
    with running(frames, log, classify=classify) as r:
        write_staged(frames / "good.cbf", pilatus_payloads[0])
        write_frame(frames / "small.cbf", value=7)  # 16 × 16: not this detector
        nan = np.full((1043, 981), np.nan, np.float32)
        EdfImage(data=nan).write(str(frames / ".nan.edf.part"))
        os.replace(frames / ".nan.edf.part", frames / "nan.edf")
        write_staged(frames / "zeros.cbf", cbf_bytes(np.zeros((1043, 981), np.int32)))
        r.wait_rows(4, timeout=30)
        assert r.stop() == 0
    rows = by_name(read_rows(log))
    assert rows["good.cbf"]["status"] == "ok"
    assert rows["small.cbf"]["status"] == "error" and "16×16 frame covers no bin" in rows["small.cbf"]["message"]
    assert rows["nan.edf"]["status"] == "error" and "NaN" in rows["nan.edf"]["message"]
    assert rows["zeros.cbf"]["status"] == "no_signal" and "no usable signal" in rows["zeros.cbf"]["message"]


def test_live_modules_do_not_import_tensorflow():
    code = ("import sys, gisaxs_live.daemon, gisaxs_live.sinks.dashboard, gisaxs_live.sinks.logline, "
            "gisaxs_live.commands.watch, gisaxs_live.commands.tail, gisaxs_live.commands.demo\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_demo_runs_a_short_series_and_stops_by_itself(model_dir):
    import re
    import shutil

    run = subprocess.run(CLI + ["demo", "--frames", "3", "--rate", "10", "--model", str(model_dir), "--keep",
                                "--no-dashboard"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    log = Path(re.search(r"CSV log: (\S+)", run.stderr).group(1))
    try:
        rows = read_rows(log)
        assert [os.path.basename(r["source"]) for r in rows] == [f"growth_{i:05d}.cbf" for i in (1, 2, 3)]
        # the first frame (8-nm hemispheroids) sits at the bundled model's out-of-distribution threshold
        assert rows[0]["status"] in ("ok", "unknown") and all(r["status"] == "ok" for r in rows[1:])
    finally:
        shutil.rmtree(log.parent)


@pytest.mark.parametrize("observer", ["inotify", "polling"])
def test_a_watched_directory_moved_away_and_replaced_the_new_one_is_watched(dirs, caplog, observer):
    """A new run's directory under the old name (``mv det run42; mkdir det``): inotify would follow the old
    directory, and watchdog reports no move; the watcher sees the path name another directory, watches that one
    and rescans it. Files written into the old one meanwhile keep their rows under their new path (none here)."""
    frames, log = dirs
    with running(frames, log, settings=fast(observer=observer)) as r:
        write_frame(frames / "before.cbf")
        r.wait_rows(1)
        os.rename(frames, frames.parent / "run42")
        frames.mkdir()
        write_frame(frames / "early.cbf")  # may come before the replacement is seen: the rescan finds it
        os.utime(frames / "early.cbf", (time.time() - 86400, time.time() - 86400))  # copied with its mtime kept
        r.wait_rows(2)
        write_frame(frames / "later.cbf")
        r.wait_rows(3)
        assert r.status is None
        assert r.stop() == 0
    assert sorted(by_name(read_rows(log))) == ["before.cbf", "early.cbf", "later.cbf"]
    assert all(row["status"] == "ok" for row in read_rows(log))
    assert caplog.text.count("is gone") == 1 and caplog.text.count("is back after") == 1


def test_a_watched_symbolic_link_repointed_to_a_new_run_is_followed(tmp_path, caplog):
    """The beamline habit ``current -> run41``, repointed to run42 for the next run: the daemon watched the directory
    the link named at its start, and missed every frame of the new run."""
    run41, run42, current, log = tmp_path / "run41", tmp_path / "run42", tmp_path / "current", tmp_path / "log.csv"
    run41.mkdir()
    run42.mkdir()
    current.symlink_to(run41)
    with running(current, log) as r:
        write_frame(run41 / "a.cbf")
        r.wait_rows(1)
        (tmp_path / "next").symlink_to(run42)
        os.replace(tmp_path / "next", current)  # ln -sfn run42 current, atomically
        write_frame(run41 / "late.cbf")  # the old run's last file, completed as the link moves on
        write_frame(run42 / "b.cbf")
        r.wait_rows(3)
        assert r.stop() == 0
    # rows name the files where they are, as the log of a run's own directory would
    assert sorted(row["source"] for row in read_rows(log)) == sorted(
        os.path.realpath(path) for path in (run41 / "a.cbf", run41 / "late.cbf", run42 / "b.cbf"))
    assert caplog.text.count("is gone") == 1 and caplog.text.count("is back after") == 1


def test_a_directory_back_after_an_outage_keeps_its_old_files_planned_through_a_later_rescan(tmp_path):
    """A review: the directory that came back was planned whole (its files without a row, whatever their age), but
    a later rescan for a full queue planned it again as a plain start does, without its old files not yet fed;
    older than the log, no later start took them either (27 of 40 frames lost without a word)."""
    run_a, run_b, current, log = tmp_path / "run_a", tmp_path / "run_b", tmp_path / "current", tmp_path / "log.csv"
    run_a.mkdir()
    run_b.mkdir()
    payload = frame_bytes(4)
    for i in range(30):  # an earlier run's frames, there before the monitor starts (ctime: beyond the grace)
        (run_b / f"old_{i:03d}.cbf").write_bytes(payload)
    time.sleep(1.5)
    current.symlink_to(run_a)

    def slow(frames):
        time.sleep(0.03)
        return fake_classify(frames)

    settings = fast(queue_size=4, batch_size=1, resume_grace_s=0.5)
    with running(current, log, settings=settings, classify=slow) as r:
        write_frame(run_a / "a.cbf")
        r.wait_rows(1)
        (tmp_path / "next").symlink_to(run_b)
        os.replace(tmp_path / "next", current)
        wait_for(lambda: r.daemon.rescans >= 1, 10, "the rescan of the directory back")
        for i in range(8):  # the new run's frames arrive while its old ones are fed: the queue is full
            write_frame(run_b / f"new_{i:03d}.cbf")
        r.wait_rows(39, timeout=30)
        assert r.stop() == 0
    assert r.daemon.rescans >= 2  # the full queue's rescan came while the old files were being fed
    names = Counter(os.path.basename(row["source"]) for row in read_rows(log))
    assert sorted(names) == sorted(["a.cbf", *(f"old_{i:03d}.cbf" for i in range(30)),
                                    *(f"new_{i:03d}.cbf" for i in range(8))])
    assert set(names.values()) == {1}


def test_an_unforeseen_failure_of_the_loop_ends_with_status_1_in_words_so_that_the_service_is_restarted(dirs,
                                                                                                      caplog):
    """A review: an exception escaping the daemon's loop (a FileNotFoundError from a log rotated during a rescan,
    say) reached the command, which took it for a configuration error: exit status 2, which the systemd unit does
    not restart, and a traceback."""
    frames, log = dirs
    with running(frames, log) as r:
        write_frame(frames / "a.cbf")
        r.wait_rows(1)

        def broken(*_args):
            raise FileNotFoundError(2, "No such file or directory", str(log))

        r.daemon.watcher.take = broken
        r.thread.join(10)
        assert r.status == 1
    assert f"stopping after an unforeseen failure ([Errno 2] No such file or directory: '{log}')" in caplog.text
    assert "Traceback" not in caplog.text.split("stopping after")[1]


def test_a_planned_file_that_got_its_row_by_an_event_before_it_was_fed_is_not_read_again(dirs):
    """A review: a file planned without a row (a backlog, a rescan) that came meanwhile by an event got its row, and
    then was fed all the same: an errored one was read again, and got a second error row."""
    frames, log = dirs
    for i in range(8):
        (frames / f"bad_{i}.cbf").write_bytes(np.random.default_rng(i).bytes(3000))  # never decodes

    def slow(batch):
        time.sleep(0.2)
        return fake_classify(batch)

    with running(frames, log, settings=fast(queue_size=4, batch_size=1, read_retries=0), classify=slow,
                 backlog=True) as r:
        with open(frames / "bad_7.cbf", "ab"):
            pass  # closed after writing (no byte): an event for the last file of the backlog
        r.wait_rows(8, timeout=20)
        time.sleep(1.0)
        assert r.stop() == 0
    rows = Counter(os.path.basename(row["source"]) for row in read_rows(log))
    assert rows == {f"bad_{i}.cbf": 1 for i in range(8)}


def test_a_watched_directory_deleted_under_inotify_is_waited_for_not_fatal(dirs, caplog):
    """Deleted, then created again (a clean-up script, a share remounted): the daemon keeps running, says so once,
    and classifies what the new directory holds; a service no longer exits on it (its restart could find no
    directory, exit 2, and stay down)."""
    import shutil

    frames, log = dirs
    with running(frames, log) as r:
        write_frame(frames / "before.cbf")
        r.wait_rows(1)
        shutil.rmtree(frames)
        wait_for(lambda: "is gone" in caplog.text, 5, "the outage logged")
        assert r.status is None and "gone for" in r.daemon.watcher.status
        frames.mkdir()
        write_frame(frames / "after.cbf")
        r.wait_rows(2)
        assert r.stop() == 0
    assert sorted(by_name(read_rows(log))) == ["after.cbf", "before.cbf"]
    assert caplog.text.count("is gone") == 1 and caplog.text.count("is back after") == 1


@pytest.mark.parametrize("observer", ["inotify", "polling"])
def test_a_watch_that_stopped_by_itself_is_started_again_and_what_came_meanwhile_is_classified(dirs, caplog,
                                                                                                observer):
    """A review: nothing looked whether watchdog's threads still ran; one ended by a failure of its own (a handler
    that raised into it, an emitter's read error) left the service running and classifying nothing, without a
    word. An event whose handling raises no longer ends it, and a stopped watch is started again with a rescan."""
    frames, log = dirs
    with running(frames, log, settings=fast(observer=observer, poll_interval_s=0.1)) as r:
        write_frame(frames / "before.cbf")
        r.wait_rows(1)
        r.daemon.watcher._observer.stop()  # as if its thread had ended on a failure of its own
        r.daemon.watcher._observer.join()
        write_frame(frames / "meanwhile.cbf")
        r.wait_rows(2)
        assert r.stop() == 0
    assert sorted(by_name(read_rows(log))) == ["before.cbf", "meanwhile.cbf"]
    assert caplog.text.count("had stopped: watching it again") == 1


def test_an_event_whose_handling_raises_asks_for_a_rescan_instead_of_ending_the_watch(dirs, caplog, monkeypatch):
    import gisaxs_live.sources.watch as watch

    frames, log = dirs
    with running(frames, log) as r:
        real = watch._is_link
        monkeypatch.setattr(watch, "_is_link", lambda path: 1 / 0)  # a bug in the handler
        write_frame(frames / "a.cbf")
        wait_for(lambda: "could not be handled (division by zero)" in caplog.text, 5, "the failure said")
        monkeypatch.setattr(watch, "_is_link", real)
        write_frame(frames / "b.cbf")
        r.wait_rows(2)
        assert r.stop() == 0
    assert sorted(by_name(read_rows(log))) == ["a.cbf", "b.cbf"]


def test_a_polled_directory_that_goes_away_and_comes_back_is_watched_again(dirs, caplog):
    frames, log = dirs
    away = frames.parent / "unmounted"
    with running(frames, log, settings=fast(observer="polling")) as r:
        write_frame(frames / "before.cbf")
        r.wait_rows(1)
        os.rename(frames, away)  # the share goes away
        time.sleep(0.5)  # 10 polls
        write_frame(away / "during.cbf")  # written on the server meanwhile
        time.sleep(0.3)
        assert r.status is None and r.daemon.rows == 1
        os.rename(away, frames)  # and comes back
        r.wait_rows(2)
        write_frame(frames / "after.cbf")
        r.wait_rows(3)
        assert r.stop() == 0
    assert sorted(by_name(read_rows(log))) == ["after.cbf", "before.cbf", "during.cbf"]
    assert caplog.text.count("is gone") == 1 and caplog.text.count("is back after") == 1


def test_a_file_whose_reading_never_ends_is_given_up_and_the_others_go_on_and_the_process_exits(dirs):
    """A reader that never returns (a library looping on a damaged file: fabio did on a header-only CBF) stalled
    every frame behind it, and its thread kept a stopped monitor from exiting. Here, in a process of its own with one
    reader thread (the files behind it queued on the same one), the file is given up after READ_TIMEOUT_S with an
    error row, the others are read by the thread that replaces it, and the process exits."""
    frames, log = dirs
    code = f"""
import os, sys, threading, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
os.cpu_count = lambda: 1
import gisaxs_live.daemon as d
from gisaxs_live.sinks.csvlog import CsvLog
from gisaxs_live.sources.watch import DirectoryWatcher
from livehelp import FAST, fake_classify, write_frame
real = d.FileFrames
d.FileFrames = lambda path, t: threading.Event().wait() if path.endswith("stuck.cbf") else real(path, t)
d.READ_TIMEOUT_S = 1.0
frames = {str(frames)!r}
daemon = d.Daemon(DirectoryWatcher(frames, FAST), lambda: fake_classify, CsvLog({str(log)!r}))
thread = threading.Thread(target=daemon.run, daemon=True)
thread.start()
while daemon.model != "ready":
    time.sleep(0.01)
for name in ("stuck.cbf", "a.cbf", "b.cbf", "c.cbf"):
    write_frame(os.path.join(frames, name))
deadline = time.monotonic() + 20
while daemon.rows < 4 and time.monotonic() < deadline:
    time.sleep(0.05)
daemon.request_stop()
thread.join(20)
print("rows", daemon.rows)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "rows 4" in run.stdout, run.stderr  # exited: the stuck thread did not hold it
    rows = by_name(read_rows(log))
    assert rows["stuck.cbf"]["status"] == "error" and "reading it went on for more than 1 s without a frame" in (
        rows["stuck.cbf"]["message"])
    assert all(rows[name]["status"] == "ok" for name in ("a.cbf", "b.cbf", "c.cbf"))


def slow_frames(file_frames: type, pause_s: float, among: str) -> type:
    """``file_frames`` (``sources.files.FileFrames``) whose frames come ``pause_s`` apart for files whose path holds
    ``among``: a long multi-frame file."""

    class SlowFrames(file_frames):
        def __iter__(self):
            for frame in super().__iter__():
                time.sleep(pause_s if among in str(self.path) else 0.0)
                yield frame

    return SlowFrames


def edf_series(path: Path, n: int) -> None:
    """A multi-frame EDF of ``n`` 16×16 frames, written beside ``path`` and renamed into place."""
    image = EdfImage(data=np.full((16, 16), 3, np.int32))
    for i in range(n - 1):
        image.append_frame(data=np.full((16, 16), 4 + i, np.int32))
    part = path.with_name(f".{path.name}.part")
    image.write(str(part))
    os.replace(part, path)


def test_a_file_of_many_frames_reads_as_long_as_it_needs_while_frames_come(dirs, monkeypatch):
    """A read ran out at 120 s whatever it was doing: a NeXus file of 5,000 frames, read a frame at a time (about
    25 ms each on 2 cores), was given up with an error row and its frames never classified. The limit is now on the
    time without a frame. Here frames come every 0.3 s for 2.4 s, past a limit of 1 s: every frame gets its row."""
    import gisaxs_live.daemon as daemon

    monkeypatch.setattr(daemon, "READ_TIMEOUT_S", 1.0)
    monkeypatch.setattr(daemon, "FileFrames", slow_frames(daemon.FileFrames, 0.3, "series"))
    frames, log = dirs
    with running(frames, log) as r:
        edf_series(frames / "series.edf", 8)
        r.wait_rows(8, timeout=60)
        assert r.stop() == 0
    rows = read_rows(log)
    assert [(row["frame"], row["status"]) for row in rows] == [(str(i), "ok") for i in range(8)]


def test_a_stop_waits_for_a_long_read_a_while_then_leaves_its_file_for_the_next_start(dirs, monkeypatch):
    """A review: with reads limited by time without a frame, a stop waited for a file of thousands of frames to be
    read whole (minutes), past the systemd unit's TimeoutStopSec. Now a read still going on STOP_READ_WAIT_S after
    the stop is left, without a row, and the next start reads the file (it arrived after the log began)."""
    import gisaxs_live.daemon as daemon

    real = daemon.FileFrames
    monkeypatch.setattr(daemon, "STOP_READ_WAIT_S", 1.0)
    monkeypatch.setattr(daemon, "FileFrames", slow_frames(real, 0.3, "series"))
    frames, log = dirs
    with running(frames, log) as r:
        write_frame(frames / "before.cbf")
        r.wait_rows(1)
        edf_series(frames / "series.edf", 30)  # 9 s to read
        time.sleep(1.0)
        t0 = time.monotonic()
        assert r.stop() == 0
        assert time.monotonic() - t0 < 5.0
    assert [row["source"] for row in read_rows(log)] == [str(frames / "before.cbf")]
    monkeypatch.setattr(daemon, "FileFrames", real)
    with running(frames, log) as r:  # the next start
        r.wait_rows(30, timeout=30)
        assert r.stop() == 0
    assert [(row["frame"], row["status"]) for row in read_rows(log)[1:]] == [(str(i), "ok") for i in range(30)]
