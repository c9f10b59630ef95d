"""The CSV log: whole rows, flushed at once, surviving rotation; restart bookkeeping; the follower."""

import csv
import os
import time

import pytest

from gisaxs_live.results import Result, csv_columns, parse_time
from gisaxs_live.sinks.csvlog import (CsvLog, LogError, LogFollower, escape_source, format_rows, resume_point,
                                     unescape_source)

PROBS = (0.7, 0.18, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02)


def ok(source, frame=0, time_utc="2026-01-02T03:04:05.000Z", latency_ms=500.0):
    return Result(source, frame, "ok", PROBS, latency_ms=latency_ms, time_utc=time_utc)


def lines(path):
    return path.read_text().splitlines()


def _write_and_close(path, results) -> None:
    """One writer's session on the log at ``path`` (a process that starts, writes and stops)."""
    log = CsvLog(path)
    log.write(results)
    log.close()


def test_rows_are_on_disk_after_each_write_with_one_header(tmp_path):
    path = tmp_path / "log.csv"
    log = CsvLog(path)
    log.write([ok("a.cbf"), Result("b.cbf", 0, "error", message="bad\nfile")])
    assert lines(path)[0] == ",".join(csv_columns())
    rows = list(csv.DictReader(open(path)))  # visible before close: no buffering
    assert [(r["source"], r["status"], r["top1"], r["message"]) for r in rows] == [
        ("a.cbf", "ok", "capsule", ""), ("b.cbf", "error", "", "bad file")]
    log.close()
    CsvLog(path).write([ok("c.cbf")])  # appending to an existing log: no second header
    assert len(lines(path)) == 4 and lines(path)[0].startswith("time_utc")


@pytest.mark.parametrize("rotate", ["move", "delete", "truncate", "sighup"])
def test_survives_rotation(tmp_path, rotate):
    path = tmp_path / "log.csv"
    log = CsvLog(path)
    log.write([ok("a.cbf")])
    if rotate == "move":
        os.replace(path, tmp_path / "log.csv.1")
    elif rotate == "delete":
        path.unlink()
    elif rotate == "truncate":  # logrotate copytruncate
        os.truncate(path, 0)
    else:
        os.replace(path, tmp_path / "log.csv.1")
        path.write_text("")
        log.request_reopen()
    log.write([ok("b.cbf")])
    assert lines(path) == [",".join(csv_columns()), ",".join(ok("b.cbf").row())]
    if rotate == "move":
        assert len(lines(tmp_path / "log.csv.1")) == 2


def test_a_torn_last_line_is_removed_on_start_and_logged_once(tmp_path, caplog):
    path = tmp_path / "log.csv"
    _write_and_close(path, [ok("a.cbf")])
    with open(path, "a") as fh:
        fh.write("2026-01-02T03:04:06.000Z,b.cb")  # power cut mid-row
    _write_and_close(path, [ok("c.cbf")])
    assert [line.split(",")[1] for line in lines(path)[1:]] == ["a.cbf", "c.cbf"]
    assert caplog.text.count("removed a torn last line (29 bytes") == 1
    resume = resume_point(path, {"a.cbf", "b.cbf", "c.cbf"})
    assert resume.logged == {"a.cbf", "c.cbf"}  # b.cbf is classified again
    CsvLog(path).close()
    assert caplog.text.count("removed a torn last line") == 1
    assert caplog.messages[0].endswith("after a full disk or a power cut); its frame is classified again")


def test_a_torn_row_of_a_stream_is_named_and_said_to_be_lost(tmp_path, caplog):
    """A trial: a stream's log with a torn last row was told "its frame is classified again", which a stream cannot
    do (nothing sends it again). The warning names the row's source and frame, and says it is lost."""
    path = tmp_path / "log.csv"
    _write_and_close(path, [ok("tcp://127.0.0.1:9999 series 4 image 2")])
    whole = path.read_bytes()
    path.write_bytes(whole[:-40])
    with caplog.at_level("WARNING"):
        CsvLog(path, frames_on_disk=False).close()
    assert caplog.messages == [f"{path}: removed a torn last line ({len(whole.splitlines()[-1]) - 39} bytes without a "
                               "line end, e.g. after a full disk or a power cut), the row of tcp://127.0.0.1:9999 "
                               "series 4 image 2 frame 0; that row is lost: a stream does not send its frame again"]
    assert lines(path) == [",".join(csv_columns())]


def test_a_torn_line_longer_than_the_csv_field_limit_is_removed_with_its_warning(tmp_path, caplog):
    """A trial: 200 KiB of zero bytes after the last row (a power cut on ext4) ended ``watch``'s start with the csv
    module's "field larger than field limit" traceback, after the bytes were cut."""
    path = tmp_path / "log.csv"
    _write_and_close(path, [ok("a.cbf")])
    whole = path.read_bytes()
    path.write_bytes(whole + b"\0" * (200 << 10))
    with caplog.at_level("WARNING"):
        CsvLog(path).close()
    assert path.read_bytes() == whole
    assert caplog.messages == [f"{path}: removed a torn last line (204800 bytes without a line end, e.g. after a full "
                               "disk or a power cut); its frame is classified again"]


@pytest.mark.parametrize("content", [b"time_utc,source,frame,status,family,p_fa", b"\0" * 1200, b"time_utc,so\0\0"])
def test_a_log_holding_only_a_torn_header_begins_again(tmp_path, caplog, content):
    """A trial: a power cut as a log began (or was rotated) leaves part of its header, or zero bytes, and no line end;
    ``watch`` refused it as a log of other columns, status 2, which the systemd unit does not restart."""
    path = tmp_path / "log.csv"
    path.write_bytes(content)
    with caplog.at_level("WARNING"):
        _write_and_close(path, [ok("a.cbf")])
    assert [line.split(",")[1] for line in lines(path)] == ["source", "a.cbf"]
    assert caplog.messages == [f"{path}: held no whole line, only {len(content)} bytes of a header (torn by a power "
                               "cut or a full disk as the log began): started again with its header"]
    other = tmp_path / "notes.csv"  # a file of another content without a line end is no log: left as it is
    other.write_bytes(b"beam lost at 14:02")
    with pytest.raises(LogError, match="its columns differ"):
        CsvLog(other)
    assert other.read_bytes() == b"beam lost at 14:02"


def test_a_log_with_crlf_line_ends_goes_on_without_a_word(tmp_path, caplog):
    """A trial: a log saved with CRLF line ends got "written before the  column existed" (no column named)."""
    path = tmp_path / "log.csv"
    _write_and_close(path, [ok("a.cbf")])
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    with caplog.at_level("WARNING"):
        _write_and_close(path, [ok("b.cbf")])
    assert not caplog.messages
    assert [row["source"] for row in csv.DictReader(path.read_text().splitlines())] == ["a.cbf", "b.cbf"]


def test_a_fifo_that_no_process_reads_is_refused_at_once(tmp_path):
    """A trial: a log name that is a FIFO (the log replaced by one, or given so) made ``watch`` wait in open() for a
    reader for good, SIGTERM unheard. Run in a child process, so that the old wait cannot hang the suite."""
    import subprocess
    import sys

    fifo = tmp_path / "log.csv"
    os.mkfifo(fifo)
    code = ("import sys; from gisaxs_live.sinks.csvlog import CsvLog, LogError\n"
            "try:\n    CsvLog(sys.argv[1])\nexcept LogError as exc:\n    print(exc)")
    done = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == f"{fifo}: cannot write the CSV log: a FIFO that no process reads", done.stderr


def test_a_write_that_fails_part_way_leaves_whole_rows_only(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk: the write stops part way through a batch."""
    path = tmp_path / "log.csv"
    code = f"""
import resource, signal
from gisaxs_live.results import Result
from gisaxs_live.sinks.csvlog import CsvLog, LogError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
log = CsvLog({str(path)!r})
resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))
try:
    for i in range(100):
        log.write([Result(f"{{i}}_{{k}}.cbf", 0, "ok", {PROBS!r}) for k in range(5)])
except LogError as exc:
    print(exc)
"""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "cannot write the CSV log" in out.stdout, out.stderr
    text = path.read_text()
    assert text.endswith("\n") and (len(lines(path)) - 1) % 5 == 0  # whole batches, whole rows


def test_newlines_in_a_source_are_escaped_and_resume_matches_them(tmp_path):
    path = tmp_path / "log.csv"
    odd = "/data/a\nb\rc\\d.cbf"
    CsvLog(path).write([ok(odd), ok("plain.cbf")])
    assert len(lines(path)) == 3
    assert list(csv.DictReader(open(path)))[0]["source"] == "/data/a\\nb\\rc\\\\d.cbf"
    assert resume_point(path, {odd, "/data/a\\nb\\rc\\\\d.cbf"}).logged == {odd}


def test_a_file_name_that_is_not_utf8_is_logged_as_utf8_and_read_back_as_it_was(tmp_path):
    """Bytes of a name that are not UTF-8 (held by Python as lone surrogates) are written as \\xNN; the log stays
    UTF-8, a restart knows the file, and ``tail`` reads back the very name (escaping is one-to-one)."""
    path = tmp_path / "log.csv"
    odd = "/data/run\udcff\udc80_\\xff.cbf"  # two such bytes, and a name that spells \xff itself
    broken = "/data/cut\udcfe.cbf"
    CsvLog(path).write([ok(odd), Result(broken, 0, "error", message=f"{broken}: truncated", time_utc=ok(odd).time_utc)])
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    assert rows[0]["source"] == "/data/run\\xff\\x80_\\\\xff.cbf"
    assert rows[1]["message"] == "/data/cut\\xfe.cbf: truncated"
    assert resume_point(path, {odd, broken}).logged == {odd}
    assert [r.source for r in LogFollower(path).poll()] == [odd, broken]
    for name in (odd, "/a\nb\rc\\d.cbf", "plain.cbf", "ünï\\x41.cbf"):
        assert unescape_source(escape_source(name)) == name


def test_resume_reads_again_a_file_changed_after_its_error_row(tmp_path):
    path = tmp_path / "log.csv"
    error_at = "2026-01-02T03:04:05.000Z"
    CsvLog(path).write([Result("late.cbf", 0, "error", message="truncated", time_utc=error_at),
                        Result("fixed.cbf", 0, "error", message="truncated", time_utc=error_at),
                        ok("fixed.cbf", time_utc="2026-01-02T03:04:09.000Z")])
    resume = resume_point(path, {"late.cbf", "fixed.cbf"})
    t = 1767323045.0
    assert resume.logged == {"fixed.cbf"} and resume.errors == {"late.cbf": t}
    assert resume.done("fixed.cbf", t + 100)  # a later ok row supersedes the error
    assert resume.done("late.cbf", t - 1)  # unchanged since its error row
    assert not resume.done("late.cbf", t + 1)  # changed since: read again
    assert not resume.done("new.cbf", t)
    retry = resume_point(path, {"late.cbf", "fixed.cbf"}, retry_errors=True)
    assert retry.logged == {"fixed.cbf"} and retry.retry == {"late.cbf"} and not retry.errors
    assert not retry.done("late.cbf", t - 1) and retry.done("fixed.cbf", t)  # an error row is never final


def test_another_header_is_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("time_utc,source,something_else\n")
    with pytest.raises(LogError, match="columns differ"):
        CsvLog(path)


def test_a_log_that_lost_its_header_to_copytruncate_gets_it_back_and_is_resumed(tmp_path, caplog):
    """copytruncate between the writer's size check and its append left rows without a header (a trial, under a
    truncation loop); the next start refused the log (exit 2, the service then stayed down). It now restores the
    header: every row is kept and read."""
    path = tmp_path / "log.csv"
    _write_and_close(path, [ok("/d/a.cbf")])
    header, row = lines(path)
    path.write_text(row + "\n")  # what the race leaves
    _write_and_close(path, [ok("/d/b.cbf")])
    assert lines(path)[0] == header and len(lines(path)) == 3
    assert "began with a row, not its header" in caplog.text
    assert resume_point(path, {"/d/a.cbf", "/d/b.cbf"}).logged == {"/d/a.cbf", "/d/b.cbf"}
    link = tmp_path / "link.csv"  # in place: a log given by a symbolic link stays one, and its file the same
    link.symlink_to(path)
    inode = path.stat().st_ino
    path.write_text(row + "\n")
    _write_and_close(link, [ok("/d/c.cbf")])
    assert link.is_symlink() and path.stat().st_ino == inode
    assert lines(path)[0] == header and len(lines(path)) == 3


def test_a_second_writer_of_the_same_log_is_refused_until_the_first_closes(tmp_path):
    """Two processes on one log (the service and a manual run with the same config) wrote every row twice, with no
    word; the second now stops with one line. A child process is the second writer (locks are per open file)."""
    import subprocess
    import sys

    path = tmp_path / "log.csv"
    first = CsvLog(path)
    first.write([Result("/data/a.cbf", 0, "ok", (0.9, 0.1) + (0.0,) * 6)])
    code = ("import sys; from gisaxs_live.sinks.csvlog import CsvLog, LogError\n"
            "try:\n    CsvLog(sys.argv[1])\nexcept LogError as exc:\n    print(exc); sys.exit(3)")
    second = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert second.returncode == 3, second.stderr
    assert second.stdout == (f"{path}: another process is writing this CSV log (a gisaxs-live service already "
                             "running?); stop it or give another --csv\n")
    path.rename(tmp_path / "log.csv.1")  # rotated (logrotate's create): the name stays the first writer's ...
    assert subprocess.run([sys.executable, "-c", code, str(path)], timeout=60).returncode == 3  # ... before its row
    first.write([Result("/data/b.cbf", 0, "ok", (0.9, 0.1) + (0.0,) * 6)])  # (a trial: the service stopped here)
    assert subprocess.run([sys.executable, "-c", code, str(path)], timeout=60).returncode == 3
    first.close()
    assert subprocess.run([sys.executable, "-c", code, str(path)], timeout=60).returncode == 0
    assert subprocess.run([sys.executable, "-c", code, str(path)], timeout=60).returncode == 0
    assert [r["source"] for r in csv.DictReader(path.open())] == ["/data/b.cbf"]


def test_write_failure_is_loud(tmp_path):
    with pytest.raises(LogError, match="/dev/full: cannot write the CSV log"):
        CsvLog("/dev/full")
    path = tmp_path / "sub" / "log.csv"
    path.parent.mkdir()
    log = CsvLog(path)
    path.unlink()
    path.with_name(".log.csv.lock").unlink()  # the name's lock
    path.parent.rmdir()  # rotation check reopens, and cannot
    with pytest.raises(LogError, match=r"sub/log\.csv: cannot write the CSV log: its directory .*/sub is not there$"):
        log.write([ok("a.cbf")])


def test_results_of_another_class_order_are_refused(tmp_path):
    log = CsvLog(tmp_path / "log.csv")
    other = Result("a.cbf", 0, "ok", PROBS, class_names=tuple(reversed(ok("x").class_names)))
    with pytest.raises(LogError, match="ranks classes"):
        log.write([other])


def test_garbage_in_the_log_that_csv_cannot_parse_is_passed_over_at_start(tmp_path):
    """A review: a line with a field over the csv module's 128 KiB limit (garbage written into the log) raised out
    of ``resume_point``, so the monitor could not start, or ended at its next rescan."""
    path = tmp_path / "log.csv"
    _write_and_close(path, [ok("/d/a.cbf")])
    with open(path, "a") as fh:
        fh.write("x" * 200_000 + ",1\n")
    _write_and_close(path, [ok("/d/b.cbf")])
    assert resume_point(path, {"/d/a.cbf", "/d/b.cbf", "/d/c.cbf"}).logged == {"/d/a.cbf", "/d/b.cbf"}


def test_resume_point(tmp_path):
    path = tmp_path / "log.csv"
    assert resume_point(path, set()).since is None
    CsvLog(path).close()
    assert resume_point(path, set()).since == pytest.approx(path.stat().st_mtime)
    _write_and_close(path, [ok("a.cbf", latency_ms=1500.0), ok("b.cbf", time_utc="2026-01-02T03:05:00.000Z")])
    resume = resume_point(path, {"b.cbf", "z.cbf"})
    assert resume.logged == {"b.cbf"}  # only what was asked about
    assert resume.since == pytest.approx(1767323045.0 - 1.5)  # first row's arrival


@pytest.mark.parametrize("rotated", ["log.csv.1", "log.csv-20261206"])
def test_a_restart_after_a_rotation_knows_the_rows_of_the_rotated_log(tmp_path, rotated):
    """A restart takes the files of the last resume_grace_s before its log began; those logged just before a
    rotation have their rows in the rotated log, and were classified again (a trial: 100 rows repeated). Only a
    log of the same header that ended before this one began counts (a review: any NAME-* file did), only for
    ``watch`` (``rotated=True``; not ``reprocess``), and one that cannot be read is passed over with a warning."""
    path = tmp_path / "log.csv"
    _write_and_close(path, [ok("/d/a.cbf", time_utc="2026-01-02T03:04:05.000Z"),
                            ok("/d/b.cbf", time_utc="2026-01-02T03:04:06.000Z")])
    path.rename(tmp_path / rotated)
    _write_and_close(path, [ok("/d/c.cbf", time_utc="2026-01-02T03:04:07.000Z")])
    among = {"/d/a.cbf", "/d/b.cbf", "/d/c.cbf", "/d/new.cbf"}
    resume = resume_point(path, among, rotated=True)
    assert resume.logged == {"/d/c.cbf"} and resume.rotated_logged == {"/d/a.cbf", "/d/b.cbf"}
    assert resume.since == pytest.approx(parse_time("2026-01-02T03:04:07.000Z") - 0.5)  # the log's own start
    assert not resume_point(path, among).rotated_logged  # reprocess
    previous = tmp_path / rotated
    text = previous.read_text()
    previous.write_text(text.replace("time_utc", "utc_time", 1))  # another log's header (or a compressed one)
    assert not resume_point(path, among, rotated=True).rotated_logged
    previous.write_text(text.replace("03:04:06", "03:09:06"))  # its last row after this log began: no predecessor
    assert not resume_point(path, among, rotated=True).rotated_logged
    previous.write_text(text)
    assert resume_point(path, among, rotated=True).rotated_logged == {"/d/a.cbf", "/d/b.cbf"}


@pytest.mark.parametrize("rotation", ["mv and a new log", "logrotate create", "copytruncate"])
def test_a_log_rotated_then_stopped_before_its_next_row_begins_where_the_rotated_one_ended(tmp_path, rotation):
    """A trial: rotate while running, stop before the next row, restart: the new log (a header, or empty) began at
    the restart, so the files that arrived while the monitor was down, more than resume_grace_s before it, got no
    row and no word; those logged just before the rotation were classified again within the grace."""
    from gisaxs_live.daemon import plan_backlog

    path = tmp_path / "log.csv"
    _write_and_close(path, [ok("/d/a.cbf", time_utc="2026-01-02T03:04:05.000Z"),
                            ok("/d/b.cbf", time_utc="2026-01-02T03:04:06.000Z")])
    if rotation == "copytruncate":
        (tmp_path / "log.csv.1").write_bytes(path.read_bytes())
        path.write_bytes(b"")
    else:
        path.rename(tmp_path / "log.csv.1")
        if rotation == "logrotate create":
            path.write_bytes(b"")
        else:
            CsvLog(path).close()  # the monitor's new log: a header, no row yet
    CsvLog(path).close()  # the restart opens it (and writes its header)
    among = {"/d/a.cbf", "/d/b.cbf", "/d/down.cbf"}
    resume = resume_point(path, among, rotated=True)
    end = parse_time("2026-01-02T03:04:06.000Z")
    assert resume.since == pytest.approx(end) and resume.rotated_logged == {"/d/a.cbf", "/d/b.cbf"}
    files = [("/d/a.cbf", end - 1, end - 1), ("/d/b.cbf", end, end), ("/d/down.cbf", end + 70, end + 70)]
    assert plan_backlog(files, resume, backlog=False, grace_s=60.0) == ["/d/down.cbf"]
    # a review: an old log of another run left beside a new one (NAME.1, NAME-old) is no predecessor: a first start
    # in a new directory would have classified everything there since that old log's end
    elsewhere = {"/new/x.cbf", "/new/y.cbf"}
    fresh = resume_point(path, elsewhere, rotated=True)
    assert fresh.since == pytest.approx(path.stat().st_mtime) and not fresh.rotated_logged


def test_a_log_rotated_twice_before_its_next_row_begins_where_the_last_log_with_rows_ended(tmp_path):
    """A trial: two rotations in quick succession (logrotate's NAME.1 → NAME.2), then a stop before the next row:
    NAME.1 held a header alone, so the restart began at its own start and the files that arrived while the monitor
    was down got no row."""
    from gisaxs_live.daemon import plan_backlog

    path = tmp_path / "log.csv"
    _write_and_close(path, [ok("/d/a.cbf", time_utc="2026-01-02T03:04:05.000Z")])
    path.rename(tmp_path / "log.csv.1")
    CsvLog(path).close()  # the monitor's new log, rotated again before its first row
    (tmp_path / "log.csv.1").rename(tmp_path / "log.csv.2")
    path.rename(tmp_path / "log.csv.1")
    CsvLog(path).close()
    os.utime(tmp_path / "log.csv.2", (1, 1))  # the oldest, as logrotate leaves them
    resume = resume_point(path, {"/d/a.cbf", "/d/down.cbf"}, rotated=True)
    end = parse_time("2026-01-02T03:04:05.000Z")
    assert resume.since == pytest.approx(end) and resume.rotated_logged == {"/d/a.cbf"}
    files = [("/d/a.cbf", end, end), ("/d/down.cbf", end + 70, end + 70)]
    assert plan_backlog(files, resume, backlog=False, grace_s=60.0) == ["/d/down.cbf"]


def test_a_rotated_log_that_cannot_be_read_is_passed_over_with_a_warning(tmp_path, caplog):
    path = tmp_path / "log.csv"
    _write_and_close(path, [ok("/d/a.cbf", time_utc="2026-01-02T03:04:05.000Z")])
    path.rename(tmp_path / "log.csv.1")
    _write_and_close(path, [ok("/d/c.cbf", time_utc="2026-01-02T03:04:07.000Z")])
    (tmp_path / "log.csv.1").chmod(0)
    try:
        if os.access(tmp_path / "log.csv.1", os.R_OK):
            pytest.skip("running as root: every file is readable")
        assert not resume_point(path, {"/d/a.cbf"}, rotated=True).rotated_logged
    finally:
        (tmp_path / "log.csv.1").chmod(0o644)
    assert "cannot be read" in caplog.text


def test_only_the_tail_of_a_long_rotated_log_is_read(tmp_path, monkeypatch):
    import gisaxs_live.sinks.csvlog as csvlog

    path = tmp_path / "log.csv"
    _write_and_close(path, [ok(f"/d/{i:03d}.cbf") for i in range(200)])
    path.rename(tmp_path / "log.csv.1")
    _write_and_close(path, [ok("/d/new.cbf", time_utc="2026-01-02T03:05:05.000Z")])
    row_bytes = len(lines(tmp_path / "log.csv.1")[1]) + 1
    monkeypatch.setattr(csvlog, "ROTATED_TAIL_BYTES", 10 * row_bytes + row_bytes // 2)  # 10 rows and a half
    rotated = resume_point(path, {f"/d/{i:03d}.cbf" for i in range(200)}, rotated=True).rotated_logged
    assert rotated == {f"/d/{i:03d}.cbf" for i in range(190, 200)}  # the half row is passed over, not misread


def test_follower_reads_complete_rows_across_rotation(tmp_path):
    path = tmp_path / "log.csv"
    follower = LogFollower(path)
    assert follower.poll() == []  # not there yet
    log = CsvLog(path)
    log.write([ok("a.cbf"), ok("b.cbf")])
    assert [r.source for r in follower.poll()] == ["a.cbf", "b.cbf"]
    with open(path, "a") as fh:
        row = format_rows([ok("c.cbf").row()])
        fh.write(row[:20])
        fh.flush()
        assert follower.poll() == []  # half a row is held back
        fh.write(row[20:])
    assert [r.source for r in follower.poll()] == ["c.cbf"]
    log.write([ok("d.cbf")])
    os.replace(path, tmp_path / "log.csv.1")
    log.write([ok("e.cbf"), ok("e2.cbf")])  # reopens a new log.csv
    assert [r.source for r in follower.poll()] == ["d.cbf", "e.cbf", "e2.cbf"]
    os.truncate(path, 0)  # copytruncate: seen as the file shrinking below what was read
    log.write([ok("f.cbf")])
    assert [r.source for r in follower.poll()] == ["f.cbf"]
    assert follower.skipped == 0


def test_follower_reads_a_log_truncated_and_refilled_past_its_point_between_two_polls(tmp_path):
    path = tmp_path / "log.csv"
    log = CsvLog(path)
    follower = LogFollower(path)
    log.write([ok("a.cbf", time_utc="2026-01-02T03:04:05.000001Z")])
    assert [r.source for r in follower.poll()] == ["a.cbf"]
    os.truncate(path, 0)  # copytruncate, then more rows than were read before the next poll
    log.write([ok(f"n{i}.cbf", time_utc=f"2026-01-02T03:05:0{i}.000000Z") for i in range(3)])
    assert os.path.getsize(path) > 2 * len(lines(path)[0])
    assert [r.source for r in follower.poll()] == ["n0.cbf", "n1.cbf", "n2.cbf"]
    assert follower.skipped == 0
    log.write([ok("n3.cbf")])
    assert [r.source for r in follower.poll()] == ["n3.cbf"]


def test_a_torn_last_line_mended_by_the_next_start_is_not_a_rewrite_to_read_again(tmp_path):
    """A trial: `tail` followed a log whose last line was torn (a power cut); the monitor's next start cut those bytes
    off, and `tail` took the log for one rewritten in place: it read all of it again (259 MB: 2.8 GB of memory) and
    gave its million rows again. Now it goes on from the last whole row; a log truly rewritten in place is looked at
    as at a first poll, its last ``tail_bytes`` alone."""
    path = tmp_path / "log.csv"
    _write_and_close(path, [ok(f"{i:03d}.cbf", latency_ms=i) for i in range(300)])  # rows that end differently
    with open(path, "a") as fh:
        fh.write(format_rows([ok("torn.cbf").row()])[:30])  # a power cut
    follower = LogFollower(path, tail_bytes=5_000)
    assert len(follower.poll()) > 0
    _write_and_close(path, [ok("next.cbf")])  # its start removes the torn line
    assert "torn.cbf" not in path.read_text()
    assert [r.source for r in follower.poll()] == ["next.cbf"]
    rows = len(lines(path)) - 1
    path.write_text("\n".join(lines(path)[:1] + lines(path)[1:][::-1]) + "\n")  # the same size, other bytes
    again = follower.poll()
    assert 0 < len(again) < rows and again[-1].source == "000.cbf"  # its tail, from a line's start
    assert follower.skipped == 0


def test_a_new_log_torn_in_its_header_then_emptied_is_followed_on(tmp_path):
    """A review: after a rotation, a new log holding only part of its header (a full disk as the writer began it),
    emptied in place by the next start, ended `tail` with "Invalid argument": the follower looked for the old file's
    last bytes before the start of the new one."""
    path = tmp_path / "log.csv"
    _write_and_close(path, [ok(f"{i}.cbf") for i in range(3)])
    follower = LogFollower(path)
    assert [r.source for r in follower.poll()] == ["0.cbf", "1.cbf", "2.cbf"]
    os.replace(path, tmp_path / "log.csv.1")
    path.write_text(lines(tmp_path / "log.csv.1")[0][:40])
    assert follower.poll() == []
    os.truncate(path, 0)
    assert follower.poll() == []
    _write_and_close(path, [ok("new.cbf")])
    assert [r.source for r in follower.poll()] == ["new.cbf"]


def test_a_log_emptied_and_refilled_with_rows_that_end_alike_is_told_from_the_old(tmp_path):
    """A review: the follower compared the 64 bytes before the point read, the ends of rows, which are alike (the
    same latency, no message): a log emptied and refilled past that point between two polls was taken for the old
    one, and the rows before the point were never given."""
    path = tmp_path / "log.csv"
    log = CsvLog(path)
    follower = LogFollower(path)
    log.write([ok("a.cbf", time_utc="2026-01-02T03:04:05.000Z"), ok("b.cbf", time_utc="2026-01-02T03:04:06.000Z")])
    assert [r.source for r in follower.poll()] == ["a.cbf", "b.cbf"]
    os.truncate(path, 0)
    log.write([ok(f"{n}.cbf", time_utc=f"2026-01-02T03:05:0{i}.000Z") for i, n in enumerate("cdefg")])
    assert [r.source for r in follower.poll()] == ["c.cbf", "d.cbf", "e.cbf", "f.cbf", "g.cbf"]


def test_follower_starts_near_the_end_of_a_long_log(tmp_path):
    path = tmp_path / "log.csv"
    CsvLog(path).write([ok(f"{i}.cbf") for i in range(2000)])
    rows = LogFollower(path, tail_bytes=10_000).poll()
    assert 0 < len(rows) < 100 and rows[-1].source == "1999.cbf"
    assert rows[-1].ranked()[0] == ("capsule", 0.7)


def test_a_row_read_back_ranks_as_its_writer_did_and_odd_rows_are_refused():
    """Probabilities rounded to 4 decimals tie (1.0000 and seven 0.0000): the ranking read back follows the row's
    top1/top2 columns, not the class order (``tail`` showed capsule second where the log said ellipsoid); a row
    no writer made (a probability that is NaN or inf, a time that is no time) is refused, and a reader skips it."""
    names = ("capsule", "spheroid", "ellipsoid")
    written = Result("f.cbf", 0, "ok", probabilities=(1e-6, 0.999998, 1e-6 + 1e-9), time_utc="2026-12-07T03:00:00.000Z",
                     class_names=names)
    fields = dict(zip(csv_columns(names), written.row()))
    assert (fields["top1"], fields["top2"]) == ("spheroid", "ellipsoid") and fields["p_capsule"] == "0.0000"
    back = Result.from_row(fields, names)
    assert [name for name, _ in back.ranked()[:2]] == ["spheroid", "ellipsoid"]
    for change in ({"p_capsule": "inf"}, {"p_capsule": "nan"}, {"time_utc": "yesterday"}):
        with pytest.raises(ValueError):
            Result.from_row({**fields, **change}, names)


def test_a_side_log_that_cannot_be_written_for_now_is_unavailable_not_a_configuration_error(tmp_path):
    """A review: an events file that could not get its header for a full disk exited 2 (never restarted by the unit),
    as a configuration error would; a full disk may pass (``Unavailable``: exit 1)."""
    from pathlib import Path

    from gisaxs_live.causes import Unavailable
    from gisaxs_live.sinks.csvlog import SideLog

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with pytest.raises(Unavailable, match="/dev/full: cannot write an events file .No space left on device."):
        SideLog(Path("/dev/full"), ["time_utc"], "an events file")
    with pytest.raises(ValueError, match="cannot write an events file"):
        SideLog(tmp_path, ["time_utc"], "an events file")  # a directory: the configuration's


def test_controls_in_a_source_reach_neither_the_log_file_nor_the_log_lines_raw():
    """A review: a file name or a stream sender's name with an escape sequence went raw into the CSV log (which people
    follow with tail -f) and into the log lines, and so acted on the terminal or journal showing them. The CSV log
    writes the ASCII controls but the tab as \\xNN and reads them back; log lines show every control as U+FFFD."""
    import io
    import logging

    from gisaxs_live.sinks.csvlog import escape_source, unescape_source
    from gisaxs_live.sinks.text import PrintableFormatter

    name = "/data/a\x1b[2Jb\x07\tc\udce9.cbf"
    written = escape_source(name)
    assert written == "/data/a\\x1b[2Jb\\x07\tc\\xe9.cbf" and unescape_source(written) == name
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PrintableFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.printable")
    logger.addHandler(handler)
    try:
        logger.warning("%s error: the channel th\x1b[31m\u009b is not sent\ttab kept\nline kept", "ep")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "WARNING ep error: the channel th\ufffd[31m\ufffd is not sent\ttab kept\nline kept\n"


def test_a_follower_passes_over_a_directory_or_a_fifo_put_in_the_log_s_place(tmp_path):
    """A trial: ``tail`` ended with "Is a directory" (status 1) when the log it followed was replaced by a directory,
    and a FIFO in its place would have made it wait for a writer for good. Run in a child process with a time limit.
    """
    import subprocess
    import sys

    path = tmp_path / "log.csv"
    code = """
import os, shutil, sys
from pathlib import Path
from gisaxs_live.sinks.csvlog import CsvLog, LogFollower
from gisaxs_live.results import Result
path = Path(sys.argv[1])
def rows(name):
    log = CsvLog(path)
    log.write([Result(name, 0, "error", message="x", time_utc="2026-01-02T03:04:05.000Z")])
    log.close()
rows("a.cbf")
follower = LogFollower(path)
seen = [r.source for r in follower.poll()]
path.unlink(); path.mkdir()
seen += [r.source for r in follower.poll()]
path.rmdir(); os.mkfifo(path)
seen += [r.source for r in follower.poll()]
path.unlink(); rows("b.cbf")
seen += [r.source for r in follower.poll()]
print(seen)
"""
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "['a.cbf', 'b.cbf']", done.stderr


def test_a_log_that_appears_after_the_follower_started_is_read_whole(tmp_path):
    """A trial: ``tail`` into a pipe, started before the log existed, printed only the rows of its last MiB (3,615 of
    10,000) once it came: a log that appears later is all new rows."""
    path = tmp_path / "log.csv"
    late = LogFollower(path, tail_bytes=400)
    assert late.poll() == []
    _write_and_close(path, [ok(f"f{i}.cbf") for i in range(40)])
    assert [r.source for r in late.poll()] == [f"f{i}.cbf" for i in range(40)]
    there = LogFollower(path, tail_bytes=400)  # a log there at the first poll: its tail only, as before
    assert 0 < len(there.poll()) < 40


def test_a_socket_in_the_log_s_place_is_said_to_be_one(tmp_path):
    """A review: every 'no such device or address' was called a FIFO that no process reads, a socket too (``--csv
    /dev/stdout`` where systemd gives standard output to the journal's socket)."""
    import socket

    path = tmp_path / "log.csv"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        with pytest.raises(LogError, match=r"log\.csv: cannot write the CSV log: a socket, which cannot be opened as a "
                                           r"file$"):
            CsvLog(path)
    finally:
        server.close()


def test_a_log_into_a_pipe_gets_its_header_once(tmp_path):
    """A review: ``--csv /dev/stdout`` into a pipe repeated the header before every batch: a pipe's size is always 0,
    and the log took that for a truncation in place."""
    import threading

    fifo = tmp_path / "rows"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    time.sleep(0.2)  # the reader waits in open(): the log's open finds it
    log = CsvLog(fifo)
    for i in range(3):
        log.write([ok(f"f{i}.cbf")])
    log.close()
    reader.join(10)
    text = received[0].decode()
    assert text.count("time_utc") == 1 and [line.split(",")[1] for line in text.splitlines()[1:]] == [
        "f0.cbf", "f1.cbf", "f2.cbf"]
