"""The directory watcher on a real directory: complete files only, once each, with bounded retries."""

import os
import threading
import time

import pytest

from gisaxs_live.sources.watch import DirectoryWatcher
from livehelp import fast, frame_bytes, write_frame


@pytest.fixture
def watched(tmp_path):
    started = []

    def start(directory=None, **changes):
        w = DirectoryWatcher(directory or tmp_path, fast(**changes))
        w.start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


#: the longest a test waits for the arrivals it expects (a loaded CI machine can delay inotify events)
PATIENCE_S = 15.0


def take_all(w, seconds, expect=0):
    """Everything offered within ``seconds``, waiting up to PATIENCE_S for at least ``expect`` arrivals (and
    ``seconds`` more after them, so that duplicates still show)."""
    got = []
    start = time.monotonic()
    deadline, cap = start + seconds, start + PATIENCE_S
    while time.monotonic() < deadline or (len(got) < expect and time.monotonic() < cap):
        before = len(got)
        got += w.take(100, 0.05)
        if before < expect <= len(got):
            deadline = max(deadline, time.monotonic() + seconds)
    return got


def test_acts_on_close_after_write_not_on_create_or_write(tmp_path, watched):
    w = watched()
    payload = frame_bytes()
    path = tmp_path / "sample_00001.cbf"
    with open(path, "wb") as fh:  # in place, in stages, slowly
        fh.write(payload[:100])
        fh.flush()
        assert take_all(w, 0.3) == []
        fh.write(payload[100:])
        fh.flush()
        assert take_all(w, 0.2) == []
    got = take_all(w, 0.3, expect=1)
    assert [a.path for a in got] == [str(path)]
    assert abs(got[0].t - time.time()) < 1.0


def test_rename_into_place_gives_the_final_name_only(tmp_path, watched):
    w = watched()
    t_done = write_frame(tmp_path / "sample_00002.cbf", stages=3, pause_s=0.02)  # via .sample_00002.cbf.part
    got = take_all(w, 0.3, expect=1)
    assert [os.path.basename(a.path) for a in got] == ["sample_00002.cbf"]
    assert got[0].t >= t_done - 0.05


def test_moved_in_from_outside_counts(tmp_path, watched):
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    w = watched()
    write_frame(outside / "x.cbf", rename=False)
    os.replace(outside / "x.cbf", tmp_path / "x.cbf")
    got = take_all(w, 0.3, expect=1)
    assert [os.path.basename(a.path) for a in got] == ["x.cbf"]


def test_hard_and_symbolic_links_made_in_the_directory_count(tmp_path, tmp_path_factory, watched):
    """``ln`` and ``ln -s`` of existing frames: inotify reports a creation only, no write and no close."""
    outside = tmp_path_factory.mktemp("outside")
    write_frame(outside / "a.cbf", rename=False)
    write_frame(outside / "b.cbf", rename=False)
    write_frame(outside / "c.cbf", rename=False)
    w = watched()
    os.link(outside / "a.cbf", tmp_path / "hard.cbf")
    os.symlink(outside / "b.cbf", tmp_path / "soft.cbf")
    os.link(outside / "c.cbf", tmp_path / "moved.cbf")  # a move by link and unlink: one name left when inotify's
    os.unlink(outside / "c.cbf")  # event is read, as for a new file being written, but no close will come
    got = take_all(w, 0.3, expect=3)
    assert sorted(os.path.basename(a.path) for a in got) == ["hard.cbf", "moved.cbf", "soft.cbf"]


def test_patterns_and_ignored_names_in_any_letter_case(tmp_path, watched):
    """``*.cbf`` takes ``E.CBF`` (a detector writing upper-case names was ignored in silence), ``*.tmp`` leaves out
    ``F.CBF.TMP``."""
    w = watched()
    for name in ("a.cbf", "b.txt", ".hidden.cbf", "c.cbf.tmp", "d.tif", "E.CBF", "F.CBF.TMP"):
        (tmp_path / name).write_bytes(b"x")
    got = take_all(w, 0.3, expect=3)
    assert sorted(os.path.basename(a.path) for a in got) == ["E.CBF", "a.cbf", "d.tif"]


def test_polling_waits_until_size_and_mtime_are_stable(tmp_path, watched):
    w = watched(observer="polling", settle_s=0.3)
    payload = frame_bytes()
    path = tmp_path / "slow.cbf"
    offered = []
    threading.Thread(target=lambda: offered.extend(take_all(w, 1.5)), daemon=True).start()
    t0 = time.time()
    with open(path, "wb") as fh:
        for i in range(0, len(payload), 200):  # a slow writer: growing for about 0.5 s
            fh.write(payload[i:i + 200])
            fh.flush()
            time.sleep(0.5 * 200 / len(payload))
    t_done = time.time()
    time.sleep(1.6)
    assert [a.path for a in offered] == [str(path)]
    assert offered[0].t >= t0 and t_done - t0 >= 0.4


def test_polling_offers_the_files_of_one_poll_oldest_first(tmp_path, tmp_path_factory, watched):
    """A poll finds several new files at once and reported them in no particular order, so that a series' rows (and
    its class-change events) came out of order on NFS."""
    stage = tmp_path_factory.mktemp("stage")
    names = [f"s_{i:02d}.cbf" for i in range(8)]
    for i, name in enumerate(names):  # mtimes 1 s apart
        (stage / name).write_bytes(b"x")
        os.utime(stage / name, (1.7e9 + i, 1.7e9 + i))
    w = watched(observer="polling", poll_interval_s=0.5, settle_s=0.1)
    time.sleep(0.6)  # the observer's first snapshot is taken
    for name in names:  # all within one poll (or, split by one, the older ones first)
        os.rename(stage / name, tmp_path / name)
    got = take_all(w, 1.0, expect=len(names))
    assert [os.path.basename(a.path) for a in got] == names


def test_retry_is_bounded_and_a_close_event_cuts_the_wait(tmp_path, watched):
    w = watched(read_retries=2, retry_interval_s=0.05)
    path = tmp_path / "a.cbf"
    path.write_bytes(b"partial")
    (first,) = take_all(w, 0.2, expect=1)
    assert w.retry(first)
    (second,) = take_all(w, 0.3, expect=1)
    assert second.attempt == 1 and w.retry(second)
    (third,) = take_all(w, 0.3, expect=1)
    assert third.attempt == 2 and not w.retry(third)  # used up: the worker writes an error row

    other = tmp_path / "b.cbf"
    other.write_bytes(b"x")
    (b,) = take_all(w, 0.2, expect=1)
    w.settings = fast(retry_interval_s=60.0)
    assert w.retry(b)
    other.write_bytes(b"complete now")  # a new close event: offered at once, not after 60 s
    (again,) = take_all(w, 0.3, expect=1)
    assert again.path == str(other) and again.attempt == 1


def test_a_handled_path_is_offered_once_per_content_and_an_errored_one_again_on_its_next_close(tmp_path, watched):
    w = watched()
    path = tmp_path / "a.cbf"
    path.write_bytes(b"1")
    path.write_bytes(b"2")  # a second close before it was taken
    got = take_all(w, 0.3, expect=1)
    assert len(got) == 1
    w.done([got[0].path])
    with open(path, "ab"):  # closed again after it was handled, unchanged: no news
        pass
    assert take_all(w, 0.3) == []
    time.sleep(0.02)
    path.write_bytes(b"3")  # new content under the name (a detector's overwrite mode): news, once
    assert [a.path for a in take_all(w, 0.3, expect=1)] == [str(path)]

    bad = tmp_path / "b.cbf"
    bad.write_bytes(b"first part")
    (first,) = take_all(w, 0.3, expect=1)
    w.done([first.path], errored=[first.path])  # its row was an error
    with open(bad, "ab") as fh:  # the writer appends and closes again: news
        fh.write(b" second part")
    (again,) = take_all(w, 0.3, expect=1)
    assert again.path == str(bad) and again.attempt == 0


def test_a_chmod_of_a_file_whose_row_is_an_error_is_news_of_any_other_not(tmp_path, watched):
    """A trial: a file that arrived unreadable (mode 000 for the service's user: an error row) and was then made
    readable by chmod was never classified: inotify reports a mode change as an attribute event, which was ignored.
    Also for a file that errored before a restart (``errored_before``, from the log). Only a change of its mode or
    owner is news, and the file is offered once stable (a writer may set the mode before its last close)."""
    bad, good, old = tmp_path / "bad.cbf", tmp_path / "good.cbf", tmp_path / "old.cbf"
    old.write_bytes(b"errored in the last run")
    w = watched()
    w.errored_before([str(old)])  # the log says its last row is an error (a start's look at it)
    bad.write_bytes(b"unreadable at first")
    good.write_bytes(b"fine")
    assert {a.path for a in take_all(w, 0.3, expect=2)} == {str(bad), str(good)}
    w.done([str(good)])
    w.done([str(bad)], errored=[str(bad)])
    for path in (bad, good, old):
        path.chmod(0o600)
    assert sorted(a.path for a in take_all(w, 0.5, expect=2)) == [str(bad), str(old)]
    w.done([str(old)], errored=[str(old)])  # still an error, with mode 0600
    for change in (lambda: old.chmod(0o600), lambda: os.utime(old), lambda: os.setxattr(old, "user.note", b"x")):
        try:
            change()  # the same mode again (a periodic chmod -R), a touch, an xattr: no news (a review)
        except OSError:
            continue  # a file system without user xattrs
        assert take_all(w, 0.3) == []
    w.done([str(bad)])  # read fine now: a later chmod is no news
    bad.chmod(0o644)
    assert take_all(w, 0.3) == []


def test_a_close_while_the_worker_holds_an_errored_path_is_news(tmp_path, watched):
    """The race a trial found: a file taken while a writer still appends, its read fails (retries used up), and
    the writer's last close comes before the error row is written. That close used to be dropped (the path was
    still held), and the error row, written after the file's last change, was final even for a restart."""
    w = watched(read_retries=0)
    path = tmp_path / "slow.cbf"
    path.write_bytes(b"first chunk")
    (first,) = take_all(w, 0.3, expect=1)
    with open(path, "ab") as fh:  # the writer's last close, while the worker holds the path
        fh.write(b" and the rest")
    time.sleep(0.2)  # the close event is delivered
    assert take_all(w, 0.2) == []  # held: not offered twice at once
    assert not w.retry(first)  # no retries left: the row is an error
    w.done([first.path], errored=[first.path])
    (again,) = take_all(w, 0.3, expect=1)
    assert again.path == str(path) and again.attempt == 0
    w.done([again.path])  # read fine this time
    assert take_all(w, 0.3) == []

    queued = tmp_path / "queued.cbf"  # closed twice while waiting to be taken (not while held): read once
    queued.write_bytes(b"1")
    queued.write_bytes(b"2")
    time.sleep(0.2)
    (held,) = take_all(w, 0.3, expect=1)
    assert not w.retry(held)
    w.done([held.path], errored=[held.path])
    assert take_all(w, 0.3) == []

    fine = tmp_path / "fine.cbf"  # read fine: a close that changes nothing while it is held is no news ...
    fine.write_bytes(b"1")
    (held,) = take_all(w, 0.3, expect=1)
    with open(fine, "ab"):
        pass
    time.sleep(0.2)
    w.done([held.path])
    assert take_all(w, 0.3) == []
    time.sleep(0.02)
    fine.write_bytes(b"2")  # ... and new content while it is held is (a review: it was lost for good)
    (held,) = take_all(w, 0.3, expect=1)
    fine.write_bytes(b"3")
    time.sleep(0.2)
    w.done([held.path])
    assert [a.path for a in take_all(w, 0.3, expect=1)] == [str(fine)]


def test_a_rewrite_seen_while_the_queue_is_full_is_planned_by_the_rescan(tmp_path, watched):
    """The queue full when a handled file is written again: no arrival, and the rescan it asks for must still see
    the file as written again (a review: it was forgotten as handled before the queue check, then lost)."""
    w = watched(queue_size=1)
    a = tmp_path / "a.cbf"
    a.write_bytes(b"1")
    (first,) = take_all(w, 0.3, expect=1)
    w.done([first.path])
    (tmp_path / "b.cbf").write_bytes(b"x")  # fills the queue
    time.sleep(0.2)
    time.sleep(0.02)
    a.write_bytes(b"2")  # the queue is full: no room for it
    time.sleep(0.2)
    assert w.rescan_reason() == "queue full"
    assert w.rewritten(str(a))
    assert not w.rewritten(str(a))  # once: the rescan plans it


def test_a_full_queue_leaves_the_rest_on_disk_and_asks_once_for_a_rescan(tmp_path, watched, caplog):
    w = watched(queue_size=3)
    for i in range(6):
        (tmp_path / f"f{i}.cbf").write_bytes(b"x")
    time.sleep(0.3)
    assert len(w.take(100, 0.1)) == 3
    assert w.rescan_reason() == "queue full" and w.rescan_reason() is None
    assert caplog.text.count("3 files are waiting (watch.queue_size)") == 1  # once, not once per file


def test_moved_away_before_reading_is_known(tmp_path, watched):
    w = watched()
    path = tmp_path / "a.cbf"
    path.write_bytes(b"x")
    time.sleep(0.2)
    os.replace(path, tmp_path / "renamed.cbf")
    got = take_all(w, 0.3)
    assert w.moved_away(str(path))
    assert str(tmp_path / "renamed.cbf") in [a.path for a in got]


def test_scan_lists_matching_files_oldest_first(tmp_path):
    (tmp_path / "sub").mkdir()
    for i, name in enumerate(("b.cbf", "a.cbf", "sub/c.cbf", "x.txt")):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    flat = DirectoryWatcher(tmp_path, fast()).scan()
    assert [os.path.basename(p) for p, _, _ in flat] == ["b.cbf", "a.cbf"]
    deep = DirectoryWatcher(tmp_path, fast(recursive=True)).scan()
    assert [os.path.basename(p) for p, _, _ in deep] == ["b.cbf", "a.cbf", "c.cbf"]


@pytest.mark.parametrize("observer", ["inotify", "polling"])
def test_a_symbolic_link_loop_in_a_recursive_watch_gives_each_file_once(tmp_path, watched, observer):
    """``loop -> .`` and ``back -> ..`` under the watched directory: the polling observer walked into them (a trial: 41
    rows for one file, and with two links memory ran out); neither observer follows a link to a directory."""
    (tmp_path / "sub").mkdir()
    os.symlink(".", tmp_path / "loop")
    os.symlink("..", tmp_path / "sub" / "back")
    w = watched(recursive=True, observer=observer)
    time.sleep(0.2)
    write_frame(tmp_path / "new.cbf")
    write_frame(tmp_path / "sub" / "deep.cbf")
    got = take_all(w, 1.0, expect=2)
    assert sorted(os.path.relpath(a.path, tmp_path) for a in got) == ["new.cbf", os.path.join("sub", "deep.cbf")]


def test_recursive_watch_sees_subdirectories(tmp_path, watched):
    (tmp_path / "run1").mkdir()
    w = watched(recursive=True)
    write_frame(tmp_path / "run1" / "s.cbf")
    got = take_all(w, 0.3, expect=1)
    assert [os.path.basename(a.path) for a in got] == ["s.cbf"]


def test_recursive_watch_sees_the_files_of_a_directory_moved_in(tmp_path, tmp_path_factory, watched):
    """A scan's directory written elsewhere and moved into the tree whole (``mv stage/scanB det/``): inotify reports
    the directory, not its files, which used to wait for the next restart."""
    stage = tmp_path_factory.mktemp("stage") / "scanB"
    (stage / "deeper").mkdir(parents=True)
    for name in ("b1.cbf", "b2.cbf", "deeper/b3.cbf", "notes.txt"):
        (stage / name).write_bytes(b"x")
    w = watched(recursive=True)
    os.rename(stage, tmp_path / "scanB")
    got = take_all(w, 0.3, expect=3)
    assert sorted(os.path.relpath(a.path, tmp_path) for a in got) == ["scanB/b1.cbf", "scanB/b2.cbf",
                                                                      "scanB/deeper/b3.cbf"]
    write_frame(tmp_path / "scanB" / "b4.cbf")  # and it is watched from now on
    assert [os.path.basename(a.path) for a in take_all(w, 0.3, expect=1)] == ["b4.cbf"]


def test_recursive_watch_leaves_hidden_directories_to_their_rename_into_place(tmp_path, watched):
    """A writer filling ``.tmp1/`` and renaming it ``scan1`` when done: its frames are read once, under ``scan1/``
    (a trial saw rows under both names), and neither a scan nor ``classify`` takes hidden directories."""
    w = watched(recursive=True)
    (tmp_path / ".tmp1").mkdir()
    write_frame(tmp_path / ".tmp1" / "e_01.cbf")
    assert take_all(w, 0.3) == []
    assert DirectoryWatcher(tmp_path, fast(recursive=True)).scan() == []
    os.rename(tmp_path / ".tmp1", tmp_path / "scan1")
    assert [os.path.relpath(a.path, tmp_path) for a in take_all(w, 0.3, expect=1)] == ["scan1/e_01.cbf"]


def test_not_a_directory_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileNotFoundError, match="file: not a directory"):
        DirectoryWatcher(tmp_path / "file", fast())
    with pytest.raises(FileNotFoundError, match="missing/run: no such directory, nor its parent"):
        DirectoryWatcher(tmp_path / "missing" / "run", fast())


def test_a_directory_not_there_yet_is_waited_for(tmp_path, watched, caplog):
    """A start while the directory is absent (a share not mounted yet, ``mv det run42; mkdir det`` at a restart)
    ended with exit 2, and the service unit does not restart that: it now waits for the directory to appear."""
    det = tmp_path / "det"
    w = watched(directory=det)
    assert "does not exist (yet): waiting for it to appear" in caplog.text
    assert w.scan() == []
    det.mkdir()
    write_frame(det / "a.cbf")
    deadline = time.monotonic() + 10
    while w.rescan_reason() is None and time.monotonic() < deadline:
        w.take(1, 0.05)
    assert [os.path.basename(p) for p, _, _ in w.scan()] == ["a.cbf"]
    write_frame(det / "b.cbf")
    assert [os.path.basename(a.path) for a in take_all(w, 0.3, expect=1)] == ["b.cbf"]


MAX_WATCHES = "/proc/sys/fs/inotify/max_user_watches"


@pytest.fixture
def few_inotify_watches():
    """Lowers fs.inotify.max_user_watches to 1 (every inotify watch added meanwhile fails, those made stay) for the
    ``with`` block it gives, as briefly as may be: it is the whole machine's limit."""
    import contextlib

    if os.geteuid() != 0 or not os.access(MAX_WATCHES, os.W_OK):
        pytest.skip("needs root to lower fs.inotify.max_user_watches (running out cannot be provoked otherwise)")
    old = open(MAX_WATCHES).read()

    @contextlib.contextmanager
    def lowered():
        try:
            with open(MAX_WATCHES, "w") as limit:
                limit.write("1\n")
            yield
        finally:
            with open(MAX_WATCHES, "w") as limit:
                limit.write(old)

    return lowered


def test_out_of_inotify_watches_the_watcher_polls_and_no_file_is_lost(tmp_path, watched, caplog, few_inotify_watches):
    """A recursive watch of a tree larger than fs.inotify.max_user_watches ended the service with a traceback at
    start; a directory made below it later, when the limit was reached, was left unwatched (watchdog only logs
    "Unable to watch") and its frames got no row until a restart. Both now poll instead, said once, and rescan."""
    (tmp_path / "old").mkdir()
    with few_inotify_watches():
        w = watched(recursive=True)  # the root cannot be watched at all: polling from the start
    assert w.settings.observer == "polling" and "polling it every" in caplog.text
    write_frame(tmp_path / "old" / "a.cbf")
    assert [os.path.basename(a.path) for a in take_all(w, 0.3, expect=1)] == ["a.cbf"]

    other = tmp_path / "second"
    other.mkdir()
    caplog.clear()
    w2 = watched(other, recursive=True)
    assert w2.settings.observer == "inotify"
    with few_inotify_watches():
        (other / "new").mkdir()  # made while inotify is out of watches: not watched
        write_frame(other / "new" / "b.cbf")  # no event: found by the rescan
        deadline = time.monotonic() + PATIENCE_S
        while w2.settings.observer == "inotify" and time.monotonic() < deadline:
            w2.take(100, 0.05)  # the watcher looks at its directory (and switches) while taking
    assert w2.settings.observer == "polling" and caplog.text.count("inotify cannot watch it all") == 1
    assert "Unable to watch" not in caplog.text
    assert w2.rescan_reason() == "polling"  # the daemon rescans against the log: b.cbf gets its row
    write_frame(other / "new" / "c.cbf")
    assert [os.path.basename(a.path) for a in take_all(w2, 0.3, expect=1)] == ["c.cbf"]  # the poll finds it
