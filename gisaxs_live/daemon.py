"""The live path: watched directory → read → classify (batched) → sinks, until stopped.

One worker (the calling thread) takes complete files from the watcher, up to ``batch_size`` at once
when they queue up, reads them (``sources.files.FileFrames``, one reader thread per core: fabio's
decoding releases the GIL), classifies all their frames in one
call of the injected ``classify(frames) -> list[Result]``, and sends the results, in arrival order, to
the sinks: the CSV log first (critical: its failure stops the daemon with exit status 1), then the
dashboard or log lines (non-critical). The readers start on the next batch before the worker
classifies the current one, so that decoding goes on while the CNN runs and the rows are written; no
batch waits for files that have not arrived (with none more, the current batch is classified at
once). Every file gets rows: a file that cannot be read (after the watcher's retries) or was deleted
before it was read gets an ``error`` row naming the cause. The classifier is loaded after the watcher
has started, so nothing arriving during the (slow) model load is missed.

The last row for a source is its answer. A file whose row is an ``error`` and that changes afterwards
(a writer that closes it several times, a slow network copy) is read again, and its new rows
supersede the error. A file closed again with the same first frame was appended to (a stack written frame by
frame): only its new frames get rows. After a restart the log gives how many frames of a file have rows: one written
again since with more frames was appended to, and one with as many or fewer was written anew.

Start-up (``plan_backlog``): the directory is scanned after the watcher has started. Files whose last
row in the CSV log is final (not an error, or an error written after the file last changed) are not
classified again, unless written again more than ``resume_grace_s`` after that row (changed after it within that
grace, they are read for their frames beyond those with rows: a stack appended to while down); a rescan while running
also takes the files whose inode, size or mtime changed since their row (``DirectoryWatcher.rewritten``: a detector's
overwrite mode, a new run in a re-created directory). With ``backlog`` every other file present is
classified, oldest first; without it only files that arrived since the log began (its first row's arrival
time, or the file's mtime if it has no rows yet), less ``resume_grace_s``: those that arrived while
the daemon was down or were in flight when it stopped. A file's arrival is the later of its mtime and its
ctime, so that one copied in with its original mtime (``cp -p``, ``rsync -a``) counts as arrived. A first
start without ``backlog`` therefore skips what is already there (but for the last ``resume_grace_s``), and a
restart misses nothing. The backlog is fed to the watcher as its queue drains, so it never overflows the
queue; its first part before the model loads, so that it is classified before what arrives meanwhile.

Rescans: when the watcher asks (inotify lost events, the queue was full, the watched directory is back),
the same plan is made again once the queue is at most half full: files are their own spill, and every
file present ends with exactly one final row.

Stopping (``request_stop``, e.g. on SIGTERM): the watcher stops, every complete file already found is
classified and logged, files still being written are left for the next start, and ``run`` returns 0. A file still
being read ``STOP_READ_WAIT_S`` after the request (thousands of frames) is left for the next start too, without a row.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import signal
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .causes import in_words
from .frame import Frame
from .readers import ReaderPool
from .results import Result, latency_ms, utc_now
from .sinks import Sink, Update, close_all, emit
from .sinks.csvlog import CsvLog, LogError, Resume, escape_source, resume_point, with_retry
from .sinks.text import listed
from .sources.eiger import read_through_data_files
from .sources.files import FileFrames
from .sources.watch import REMEMBERED, Arrival, DirectoryWatcher, remember

log = logging.getLogger(__name__)

Classify = Callable[[Sequence[Frame]], list[Result]]


class FileRead(NamedTuple):
    """A reader's outcome for one file (``_read``): the frames to classify, the problem that ended reading (None if
    none), how many frames were read, and the digest of the first frame's pixels (``first_frame_digest``; None for
    a single-frame file not read before as a multi-frame one)."""

    frames: list[Frame]
    problem: str | None
    n_read: int
    first: bytes | None = None


#: a read still going on when a stop has waited ``STOP_READ_WAIT_S`` for it: its file gets no row
LEFT_AT_STOP = FileRead([], None, 0)

#: a batch of arrivals and, per arrival, its reader's ``_read``
Reading = tuple[Sequence[Arrival], list["Future[FileRead]"]]


#: at a start, at least this many files with a row, and most of them, modified well after it: a clock skew
SKEWED_AT_LEAST = 4
#: how long one file's reading may go without reading a frame (s) before the worker gives it up with an error row and
#: goes on with a new reader thread (a reader that never returns, e.g. a library looping on a damaged file, would
#: otherwise stall every frame behind it); its thread is left behind, a daemon thread that does not keep the process
#: from exiting. A file of many frames reads as long as it needs (5,000 frames: about 2 minutes on 2 cores)
READ_TIMEOUT_S = 120.0
#: how often (s) the worker, waiting for a read, looks whether it has run too long
READ_POLL_S = 0.5
#: how long (s) after a stop is requested a read still going on is waited for (a file of thousands of frames reads
#: for minutes): then its file is left, without a row, for the next start, and the monitor stops well within the
#: systemd unit's TimeoutStopSec (120 s), its other rows written
STOP_READ_WAIT_S = 30.0


def plan_backlog(files: Sequence[tuple[str, float, float]], resume: Resume, backlog: bool, grace_s: float,
                 rewritten: Callable[[str], bool] = lambda path: False) -> list[str]:
    """Paths among ``files`` ((path, mtime, ctime) Unix s, as ``DirectoryWatcher.scan``, oldest first) that a
    starting daemon classifies: without a final row, or written again after it (its mtime and its ctime, the inode's
    last change, both more than ``grace_s`` later, the file system's clock skew; or ``rewritten``: known to hold new
    content). The ctime keeps a file whose mtime a writer's clock put in the future (set before its row, as the
    rename into place) from counting as written after its row at every start; a chmod after the row alone changes
    only the ctime, and is no news either. Without ``backlog``, of the files without a row those that arrived since
    the log began: a file arrives with the later of its mtime and ctime (a copy that kept an older mtime, ``cp -p``,
    by its ctime). A file whose last row is an error is judged by that arrival (a chmod may be what made it
    readable). A file changed after its row within the grace (``changed_since_row``) is read again too, for the frames
    beyond those with rows."""
    late = {path for path, mtime, ctime in files
            if path in resume.logged and _written_again(resume, path, mtime, ctime, grace_s)}
    if _skewed(late, resume):
        log.warning("%d of the %d files with a row were modified more than watch.resume_grace_s (%g s) after it: "
                    "taken for the file server's clock running ahead of this host's, not for new content (raise "
                    "resume_grace_s or mend the clocks; if they were written again while the monitor was down, a "
                    "detector in overwrite mode, classify them with gisaxs-live reprocess DIR --csv LOG)",
                    len(late), len(resume.logged), grace_s)
        late = set()
    changed = changed_since_row(files, resume, late)
    arrivals = [(path, mtime, max(mtime, ctime)) for path, mtime, ctime in files]
    todo = [(path, arrival) for path, mtime, arrival in arrivals
            if not resume.done(path, mtime if path in resume.logged else arrival) or path in late | changed
            or rewritten(path)]
    if backlog:
        return [path for path, _ in todo]
    if resume.since is None:
        return []
    return [path for path, arrival in todo
            if (arrival >= resume.since - grace_s and path not in resume.rotated_logged) or path in resume.retry]


def _written_again(resume: Resume, path: str, mtime: float, ctime: float, grace_s: float) -> bool:
    """Whether ``path``, with a final row, was written again more than ``grace_s`` after it: its mtime and its ctime
    both (see ``plan_backlog``)."""
    return not (resume.done(path, mtime, grace_s) or resume.done(path, ctime, grace_s))


def _skewed(paths: set[str], resume: Resume) -> bool:
    """Whether ``paths``, files with a row changed after it, are so many of them (at least ``SKEWED_AT_LEAST``, more
    than half) that the clocks' skew is the likelier cause, not new content."""
    return len(paths) >= SKEWED_AT_LEAST and 2 * len(paths) > len(resume.logged)


def changed_since_row(files: Sequence[tuple[str, float, float]], resume: Resume, late: set[str]) -> set[str]:
    """Files with a final row, not ``late``, whose mtime and ctime are both later than that row, though within the
    grace: changed while the monitor was down (a stack appended to), or no more than the clocks' skew. Read again for
    their new frames alone (``TOP_UP``). Where they are most of the files with a row, taken for the skew: none."""
    changed = {path for path, mtime, ctime in files if path in resume.logged and path not in late
               and min(mtime, ctime) > resume.logged_at.get(path, math.inf)}
    return set() if _skewed(changed, resume) else changed


class Daemon:
    """Runs the live path in ``run``; ``request_stop`` may be called from any thread or a signal handler."""

    def __init__(self, watcher: DirectoryWatcher, load_classifier: Callable[[], Classify], csv_log: CsvLog,
                 sinks: Sequence[Sink] = (), tick_s: float = 0.25) -> None:
        self.watcher = watcher
        self.load_classifier = load_classifier
        self.csv_log = csv_log
        self.sinks: list[Sink] = [csv_log, *sinks]
        self.tick_s = tick_s
        self.rows = 0  # rows written by this run
        self.rescans = 0  # rescans of the directory against the log after start-up
        self.model = "not loaded"
        self._stop = threading.Event()
        self._stop_at = math.inf  # monotonic s when a stop was requested
        self._backlog: deque[str] = deque()
        self._done_since_plan: set[str] = set()  # files given rows since the backlog was planned, while it is fed
        self._all = False  # --backlog: also files older than the log
        self._all_until_fed = False  # a directory back after an outage: all its files without a row, until fed
        self._retry: set[str] = set()  # --retry-errors: errored files at start, read again until done
        self._logged_frames: dict[str, int] = {}  # path → frames of it already logged before its last (error) row
        # files whose rows are all final (the latest REMEMBERED) → (frames with rows, digest of the first: or None where
        # only the log says how many, a file planned at a start; TOP_UP for one changed within the grace)
        self._multi_frame: OrderedDict[str, tuple[int, bytes | None]] = OrderedDict()
        self._readers = ReaderPool(os.cpu_count() or 1)

    def request_stop(self) -> None:
        self._stop_at = time.monotonic()
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, backlog: bool = False, retry_errors: bool = False) -> int:
        """Watch, classify and log until stopped; 0 after a clean stop, 1 if the log or source failed. ``backlog``:
        classify every file present that the log lacks; ``retry_errors``: at start, also those whose last row is
        an error."""
        settings = self.watcher.settings
        self._all = backlog
        try:
            self.watcher.start()
            log.info("watching %s for %s (ignoring %s)", self.watcher.status, " ".join(settings.patterns),
                     " ".join(settings.ignore_patterns) or "nothing")
            present, older = self._plan(retry_errors=retry_errors)
            if retry_errors:
                log.info("--retry-errors: %d files whose last row is an error are classified again",
                         len(self._retry))
            log.info("%d files present, %d to classify first%s", present, len(self._backlog),
                     f" ({older} without a row, there before the log began, are left: start with --backlog to "
                     "classify them)" if older else "")
            if not present:
                self._say_if_nothing_matches()
            self._feed_backlog()  # queued ahead of what arrives while the model loads: rows in order of arrival
            self.model = "loading"
            self._emit(())
            classify = self.load_classifier()
            self.model = "ready"
            return run_guarded(lambda: self._loop(classify, settings.batch_size))
        except LogError as exc:
            log.critical("stopping: %s", exc)
            return 1
        finally:
            self.watcher.stop()
            try:
                close_all(self.sinks)
            except LogError as exc:
                log.critical("%s", exc)

    def _say_what_is_left(self, found: int, planned: int) -> None:
        """At a stop: the files found but not read, and the backlog not yet queued. Of the latter, a plain start
        takes only those modified since the log began: after ``--backlog``, or a directory back after an outage,
        it needs ``--backlog``."""
        everything = self._all or self._all_until_fed
        if found or (planned and not everything):
            log.warning("%d files found but not read (still being written, or not yet queued) are left for the next "
                        "start", found + (0 if everything else planned))
        if planned and everything:
            log.warning("%d files of the %s not yet read are left: start with --backlog%s to classify them (a start "
                        "without it takes only the files modified since the log began)", planned,
                        *(("--backlog", " again") if self._all else ("directory that came back", "")))

    def _say_if_nothing_matches(self) -> None:
        """Warn when the directory holds files but none matches the patterns (``*.tif`` for ``.cbf`` files, say); CSV
        files (this log, its events) and hidden ones do not count."""
        settings = self.watcher.settings
        try:
            with os.scandir(self.watcher.watched) as entries:
                names = [e.name for e in entries
                         if not e.name.startswith(".") and not e.name.endswith(".csv") and e.is_file()]
        except OSError:
            return
        if names:
            log.warning("none of the %d files in %s matches watch.patterns (%s), e.g. %s: are those frames?",
                        len(names), self.watcher.root, " ".join(settings.patterns), escape_source(sorted(names)[0]))

    def _plan(self, everything: bool = False, retry_errors: bool = False) -> tuple[int, int]:
        """Compare the directory with the log: the backlog becomes every file without a final row (see
        ``plan_backlog``; with ``everything``, old ones too, as ``--backlog``; with ``retry_errors``, those whose
        last row is an error too). Returns how many files are present, and how many of them without a row are left
        out of the backlog (older than the log: ``--backlog`` would take them)."""
        # a later rescan (queue full, lost events) before a returned directory's backlog is fed keeps taking its old
        # files: they would be dropped from the plan, and as older than the log no later start would take them
        self._all_until_fed = everything or (self._all_until_fed and bool(self._backlog))
        everything = everything or self._all_until_fed
        files = self.watcher.scan()
        resume = resume_point(self.csv_log.path, {path for path, _, _ in files}, retry_errors, rotated=True)
        if retry_errors:
            self._retry = set(resume.retry)
        elif self._retry:  # a rescan: those not yet done are still to be read again
            resume = with_retry(resume, self._retry)
        self._logged_frames.update((path, n) for path, n in resume.error_frames.items() if n)
        self.watcher.errored_before(resume.errors)
        self._backlog = deque(plan_backlog(files, resume, self._all or everything,
                                           self.watcher.settings.resume_grace_s, self.watcher.rewritten))
        self._remember_logged(files, resume, set(self._backlog))
        self._done_since_plan.clear()
        planned, known = set(self._backlog), resume.logged | resume.errors.keys() | resume.rotated_logged
        return len(files), sum(path not in planned and path not in known for path, _, _ in files)

    def _remember_logged(self, files: Sequence[tuple[str, float, float]], resume: Resume, planned: set[str]) -> None:
        """How many frames of each file present have rows, from the log, for those this run has not read: read again,
        one with more frames was appended to and gives rows for its new frames alone. A file ``planned`` for a change
        within the grace (``changed_since_row``) gives only frames beyond those with rows (``TOP_UP``). The planned
        ones first; then the newest others, in the room left (at most ``REMEMBERED`` in all), as the oldest entries: no
        file this run has read is forgotten for them."""
        grace = self.watcher.settings.resume_grace_s
        for path, mtime, ctime in files:
            if path in planned and path in resume.logged_frames and path not in self._multi_frame:
                top_up = not (_written_again(resume, path, mtime, ctime, grace) or self.watcher.rewritten(path))
                remember(self._multi_frame, path, (resume.logged_frames[path], TOP_UP if top_up else None))
        for path, _, _ in reversed(files):  # newest first
            if len(self._multi_frame) >= REMEMBERED:
                break
            if path in resume.logged_frames and path not in self._multi_frame:
                self._multi_frame[path] = (resume.logged_frames[path], None)
                self._multi_frame.move_to_end(path, last=False)

    def _loop(self, classify: Classify, batch_size: int) -> int:
        stopping = False
        reading: Reading | None = None  # the batch being read, classified in the next pass
        while True:
            if not stopping and self._stop.is_set():
                stopping = True
                self._say_what_is_left(self.watcher.stop(), len(self._backlog))
                self._backlog.clear()
            if not stopping:
                self._rescan_if_asked()
                self._feed_backlog()
            arrivals = self.watcher.take(batch_size, 0.0 if reading else self.tick_s)
            if stopping and not arrivals and reading is None:
                return 0
            logged = self._logged_frames
            ahead: Reading = (arrivals, [self._readers.submit(_read, a, classify, logged.get(a.path, 0),
                                                              self._multi_frame.get(a.path), self.watcher.sees,
                                                              self._readers.progress)
                                         for a in arrivals])
            results, done, errored = self._process(reading, classify) if reading else ([], [], set())
            self._emit(results)
            self.rows += len(results)
            self.watcher.done(done, errored)
            self._retry.difference_update(done)
            if self._backlog:
                self._done_since_plan.update(done)
            else:
                self._done_since_plan.clear()
            reading = ahead if arrivals else None

    def _half_queue(self) -> int:
        return max(1, self.watcher.settings.queue_size // 2)

    def _rescan_if_asked(self) -> None:
        """A rescan the watcher asked for, once its queue is at most half full."""
        if self.watcher.depth > self._half_queue():
            return
        reason = self.watcher.rescan_reason()
        if reason is None:
            return
        # the directory back after an outage may be another one (a new run's, a repointed link): all of its files
        # without a row are news, whatever their mtimes (copied with them kept, cp -p or rsync -a)
        present, _ = self._plan(everything="back" in reason)
        self.rescans += 1
        log.info("rescan (%s): %d files present, %d without a final row are classified", reason, present,
                 len(self._backlog))

    def _feed_backlog(self) -> None:
        """Hand backlog files to the watcher as its queue drains: one unchanged for ``settle_s`` is complete at once,
        a newer one (still being written?) waits until its size and mtime settle. One given its row since the plan
        is passed over: fed again, an errored one would be read again and get a second error row."""
        settle_s = self.watcher.settings.settle_s
        while self._backlog and self.watcher.depth < self._half_queue():
            path = self._backlog.popleft()
            if path in self._done_since_plan:  # planned without a row, given one since (it came by an event)
                continue
            try:
                complete = time.time() - os.stat(path).st_mtime > settle_s
            except OSError:
                complete = True  # gone or unreadable: reading it says which, in its row
            self.watcher.found(path, complete=complete, scanned=True)

    def _emit(self, results: Sequence[Result]) -> None:
        source = self.watcher.status + (" · stopping" if self._stop.is_set() else "")
        emit(self.sinks, Update(tuple(results), self.watcher.depth + len(self._backlog),
                                self.watcher.settings.queue_size, source, self.model))

    def _process(self, reading: Reading, classify: Classify) -> tuple[list[Result], list[str], set[str]]:
        """Rows for the arrivals of ``reading`` once read, the paths now finished, and those among them whose
        last row is an error."""
        done: list[str] = []
        slots: list[Result | slice] = []
        frames: list[Frame] = []
        read_whole: dict[str, FileRead] = {}
        arrivals, reads = reading
        for a, read in zip(arrivals, reads):
            outcome, final = self._read_result(a, read)
            if outcome is LEFT_AT_STOP:
                continue
            got, problem, n_read = outcome.frames, outcome.problem, outcome.n_read
            if problem is not None and not n_read and not final:
                if not os.path.lexists(a.path):
                    if self.watcher.moved_away(a.path):
                        done.append(a.path)  # renamed: its frame comes under the new name
                        continue
                    if self.watcher.settings.observer == "polling" and self.watcher.retry(
                            a, after_s=1.5 * self.watcher.settings.poll_interval_s):
                        continue  # a poll tells a rename from a deletion only at the next look
                    problem = f"{a.path}: deleted before it was read"
                elif self.watcher.retry(a):
                    continue
            done.append(a.path)
            slots.append(slice(len(frames), len(frames) + len(got)))
            frames.extend(got)
            if problem is not None:
                slots.append(_error(a, n_read, problem))
            else:
                read_whole[a.path] = outcome
        classified = _classify(classify, frames)
        results: list[Result] = []
        for slot in slots:
            results.extend(classified[slot] if isinstance(slot, slice) else [slot])
        last = {r.source: r for r in results}
        for source, r in last.items():  # a file read again after an error row gives rows from that row's frame on
            if r.status == "error" and r.frame:
                self._logged_frames[source] = r.frame
            else:
                self._logged_frames.pop(source, None)
        errored = {source for source, r in last.items() if r.status == "error"}
        for source, outcome in read_whole.items():  # one appended to later gives rows for its new frames alone
            if outcome.n_read and source not in errored:
                remember(self._multi_frame, source, (outcome.n_read, outcome.first))
            else:
                self._multi_frame.pop(source, None)
        return results, done, errored

    def _read_result(self, arrival: Arrival, read: Future) -> tuple[FileRead, bool]:
        """``_read``'s outcome for ``arrival``, and whether a problem is final (not worth a retry): reading that
        raised is a problem about the file; reading that has gone more than ``READ_TIMEOUT_S`` without a frame
        (counted from its start or its last frame, not from its queueing) is given up, its thread left behind and
        replaced. A read still going on ``STOP_READ_WAIT_S`` after a stop was requested is ``LEFT_AT_STOP``."""
        while True:
            try:
                return read.result(timeout=READ_POLL_S), False
            except TimeoutError:
                started = self._readers.started(read)
                if time.monotonic() - self._stop_at > STOP_READ_WAIT_S:  # running, or queued behind such a read
                    log.warning("%s: not read %g s after the stop: left, without a row, for the next start%s",
                                escape_source(arrival.path), STOP_READ_WAIT_S,
                                " (with --backlog again, if it is older than the log)" if self._all else "")
                    return LEFT_AT_STOP, False
                if started is None or time.monotonic() - started <= READ_TIMEOUT_S:
                    continue
                log.error("%s: reading it went on for more than %g s without a frame: given up, a new reader thread "
                          "goes on", escape_source(arrival.path), READ_TIMEOUT_S)
                self._readers.replace_one()
                problem = (f"{arrival.path}: not read: reading it went on for more than {READ_TIMEOUT_S:g} s without "
                           "a frame and was given up")
                return FileRead([], problem, 0), True
            except Exception as exc:  # noqa: BLE001 - a reader's surprise: this file's error row
                log.debug("%s: reading raised %r", arrival.path, exc)
                return FileRead([], f"{arrival.path}: cannot be read ({in_words(exc)})", 0), True


def _read(arrival: Arrival, classify: Classify, logged: int, multi_frame: tuple[int, bytes | None] | None,
          sees: Callable[[Path], bool], progress: Callable[[], None] = lambda: None) -> FileRead:
    """The frames of ``arrival`` (``FileFrames``, decoded one at a time), on a reader thread: its frames from frame
    ``logged`` on (those before have rows, written before an error row of the file), the problem that ended reading,
    and how many frames were read. ``multi_frame``: (frames logged, first frame's digest) of a file read whole before:
    if its first frame is the same and it now holds at least as many, it was appended to, and only its new frames are
    given; with no digest (the count from the log, at a start), if it holds more. A classifier that offers
    ``prepare_early`` (``pipeline.Classifier``) preprocesses each frame there as it is decoded, while its pixels are
    in the CPU cache, and the frame given holds no pixels: a file of 1,000 frames is not held whole. An Eiger master
    file whose data files the watcher ``sees`` gives no frame: their images are read from those as each is
    written. ``progress()`` after each frame: the read is not stuck (``READ_TIMEOUT_S``)."""
    data_files = read_through_data_files(arrival.path, sees)
    if data_files:
        missing = [p.name for p in data_files if not p.exists()]
        log.log(logging.WARNING if missing else logging.INFO,
                "%s: Eiger master file, not read: its images are classified from its data files (%s)%s",
                escape_source(arrival.path), listed([p.name for p in data_files]),
                f"; not there yet: {listed(missing)}" if missing else "")
        return FileRead([], None, 0)
    reading = FileFrames(arrival.path, arrival.t)
    frames = iter(reading)
    frame = next(frames, None)
    first = first_frame_digest(frame)
    if multi_frame is not None and _appended(multi_frame, first, reading.available or 0):
        logged = max(logged, multi_frame[0])
    prepare_early: Callable[[Frame], Frame] = getattr(classify, "prepare_early", lambda f: f)
    got = []
    while frame is not None:
        progress()
        if frame.frame_id >= logged:
            got.append(prepare_early(frame))
        frame = next(frames, None)
    return FileRead(got, reading.problem, reading.count, first)


#: the digest of a file's first frame, in ``Daemon._multi_frame``, of a file read again at a start for frames beyond
#: those with rows alone (``changed_since_row``)
TOP_UP = b"top up"


def _appended(before: tuple[int, bytes | None], first: bytes | None, n_now: int) -> bool:
    """Whether a file with ``before`` = (frames with rows, digest of its first frame, None, or ``TOP_UP``) and now
    ``n_now`` frames (``FileFrames.available``), the first with digest ``first``, was appended to rather than written
    anew."""
    frames, digest = before
    if digest == TOP_UP:
        return True
    if digest is None:
        return n_now > frames
    return first == digest and n_now >= frames


#: pixels of the first frame that its digest reads at most (evenly strided): a 4-MB frame's every pixel would cost
#: milliseconds of every file's CPU, and no two frames of counts agree on 65,536 pixels by chance
DIGEST_PIXELS = 1 << 16


def first_frame_digest(frame: Frame | None) -> bytes | None:
    """A 128-bit BLAKE2 digest of a file's first ``frame``'s shape, type and pixels (at most ``DIGEST_PIXELS`` of
    them, evenly strided; None if there is no frame 0): a file closed again with the same one was appended to, not
    written anew."""
    if frame is None or frame.frame_id != 0:
        return None
    data = np.asarray(frame.data)
    sample = np.ascontiguousarray(data.reshape(-1)[::max(1, data.size // DIGEST_PIXELS)])
    digest = hashlib.blake2b(f"{data.shape} {data.dtype}".encode(), digest_size=16)
    digest.update(sample)
    return digest.digest()


def _classify(classify: Classify, frames: list[Frame]) -> list[Result]:
    """``classify(frames)``; should it fail or miscount (a bug), every frame gets an error row instead."""
    if not frames:
        return []
    try:
        results = list(classify(frames))
        if len(results) != len(frames):
            raise RuntimeError(f"classifier returned {len(results)} results for {len(frames)} frames")
        return results
    except Exception as exc:
        log.exception("classifying %d frames failed", len(frames))
        return [Result(f.source, f.frame_id, "error", latency_ms=latency_ms(f.t), time_utc=utc_now(),
                       message=f"classifier failed: {in_words(exc)}") for f in frames]


def run_guarded(loop: Callable[[], int], before_stopping: Callable[[], None] | None = None) -> int:
    """``loop()``, a monitor's own loop (``watch``, ``stream``); a LogError is passed on, and any other failure
    (a bug) ends it with exit status 1 after ``before_stopping``: one line in words, the traceback at debug level.
    A service manager restarts it, and the restart resumes where the log ends (status 2, a configuration error,
    would not be restarted)."""
    try:
        return loop()
    except LogError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug: exit 1, so that a service is restarted and resumes
        if before_stopping is not None:
            before_stopping()
        log.critical("stopping after an unforeseen failure (%s): a restart resumes where the log ends", in_words(exc))
        log.debug("the unforeseen failure", exc_info=exc)
        return 1


def _error(arrival: Arrival, frame_id: int, message: str) -> Result:
    return Result(arrival.path, frame_id, "error", latency_ms=latency_ms(arrival.t), message=message,
                  time_utc=utc_now())


def handle_signals(daemon: Daemon, csv_log: CsvLog) -> None:
    """SIGTERM, SIGINT: stop cleanly (a second SIGINT aborts at once), also for one received while the command
    started (``early_stop``); SIGHUP: reopen the CSV log. Call from the main thread."""
    from .early_stop import taken

    def stop(signum: int, _frame: object = None) -> None:
        log.info("%s: finishing the frames already found", signal.Signals(signum).name)
        daemon.request_stop()
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, lambda _s, _f: csv_log.request_reopen())
    early = taken()
    if early is not None:
        stop(early)
