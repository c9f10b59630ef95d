"""A watched detector directory: files become *arrivals* once they are complete.

Detectors write files in place, in stages, or write a temporary file and rename it into place. With
``inotify`` a file is complete on close-after-write (``FileClosedEvent``) or when renamed into place
(``FileMovedEvent`` destination), never on create. With ``polling`` (NFS, GPFS: no close events) a
created or modified file is complete once its size and mtime are unchanged for ``settle_s``.

As in watchdog's own design the event handler only queues; one worker calls ``take`` and reads the
files. A file that does not decode yet is handed back with ``retry`` and offered again once it has
been stable for ``retry_interval_s``, at most ``read_retries`` times.

Nothing found is ever thrown away; the files on disk are their own spill. When the events of some
files are missing (inotify's kernel queue overflowed), when a file is found while ``queue_size``
files already wait, or when the watched directory that had gone away is back, the watcher asks for a
*rescan*: ``rescan_reason`` says so once, and the worker compares the directory with its log and feeds
back what has no row yet. Each event is logged once per occurrence.

The watched directory can go away while the daemon runs: deleted, unmounted (a network share), moved
away and replaced by a new one of the same name (a new run's directory), or a symbolic link repointed
(``current -> run42``). inotify follows the old directory, and watchdog reports neither a move nor a
replacement, so every ``poll_interval_s`` the watcher also checks that its path still names the directory it
watches (device and inode). Gone or replaced, the
directory is an outage, logged once: the observer stops, the path is looked at every ``poll_interval_s``,
and once a directory is there again it is watched and rescanned against the log.

A path that got a final row in this run is offered once; a later close event of it is ignored. A path
whose row was an error is not remembered: its next close (a writer that appends in several steps,
a network copy) is news, and so is a close that came while the worker held it: its error row is
followed by a new read at once.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from stat import S_ISDIR, S_ISLNK

from watchdog.events import (DirDeletedEvent, DirMovedEvent, EventsLostEvent, FileAttribEvent, FileClosedEvent,
                             FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileSystemEvent,
                             FileSystemEventHandler)
from watchdog.observers.inotify import InotifyFullEmitter, InotifyObserver
from watchdog.observers.inotify_c import InotifyConstants, Mask
from watchdog.observers.polling import PollingObserverVFS

from ..causes import in_words
from ..config import Watch
from ..sinks.csvlog import escape_source

log = logging.getLogger(__name__)

#: paths remembered as handled in this run (to ignore a repeated close event) and as errored (a chmod is news), each
#: table its latest this many (about 150 B each)
REMEMBERED = 4096
#: s: files whose settle ends this close together were found by one poll (its events come in one burst)
SAME_POLL_S = 0.05


#: inotify: a file created here but never closed after writing (a hard link made and its first name removed, an
#: O_TMPFILE linked in) is complete once unchanged for this many times ``watch.settle_s``; a writer's close completes
#: its file at once, and one that pauses longer than this mid-write gets an error row, then its row on the close
UNCLOSED_SETTLE_FACTOR = 10


@dataclass(frozen=True)
class Arrival:
    """A file to read: absolute ``path``, ``t`` when it was found complete (Unix s), read ``attempt``s."""

    path: str
    t: float
    attempt: int = 0


@dataclass
class _Pending:
    arrival: Arrival
    due: float                       # monotonic s
    interval: float                  # s of stability required
    stat: tuple[int, int, int] | None  # ``_signature`` when last looked at; None = not seen yet


class _Handler(FileSystemEventHandler):
    """Turns watchdog events into calls on the watcher; runs in watchdog's thread, only queues."""

    def __init__(self, watcher: "DirectoryWatcher") -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._handle(event)
        except Exception as exc:  # noqa: BLE001 - raised into watchdog, it would end its thread: no more events
            log.debug("handling %r raised", event, exc_info=exc)
            self.watcher.event_failed(exc)

    def _handle(self, event: FileSystemEvent) -> None:
        w = self.watcher
        src, dest = os.fsdecode(event.src_path), os.fsdecode(event.dest_path)
        if isinstance(event, EventsLostEvent):
            w.events_lost()
        elif isinstance(event, FileClosedEvent):
            w.found(src, complete=True)
        elif isinstance(event, FileAttribEvent):  # inotify: a chmod, chown or touch
            w.attributes_changed(src)
        elif isinstance(event, FileMovedEvent):
            if src:
                w.moved(src)
            if dest:
                w.found(dest, complete=True)
        elif isinstance(event, (FileCreatedEvent, FileModifiedEvent)) and w.settings.observer == "polling":
            w.found(src, complete=False)
        elif isinstance(event, FileCreatedEvent):  # inotify
            if _is_link(src):
                w.found(src, complete=True)  # a link to an existing file is never written, nor closed
            else:  # its close completes it; one never closed here (linked then unlinked, O_TMPFILE) once it settles
                w.found(src, complete=False, settle_s=UNCLOSED_SETTLE_FACTOR * w.settings.settle_s)
        elif isinstance(event, DirDeletedEvent) and src == w.watched:
            w.gone()
        elif isinstance(event, DirMovedEvent) and dest and w.settings.recursive:
            w.moved_in(dest)


class _AttributeEmitter(InotifyFullEmitter):
    """watchdog's inotify emitter, asking the kernel for attribute changes (IN_ATTRIB: chmod, chown, touch) where
    ``FileAttribEvent`` is among the kinds watched: watchdog 7 maps that kind to no inotify flag, so a chmod was
    never reported (``FileModifiedEvent`` would add IN_ATTRIB, and IN_MODIFY too: an event for every write)."""

    def get_event_mask_from_filter(self) -> Mask:
        mask = super().get_event_mask_from_filter()
        if self._event_filter is not None and FileAttribEvent in self._event_filter:
            mask = Mask(mask | InotifyConstants.IN_ATTRIB)
        return mask


class _InotifyObserver(InotifyObserver):
    """``InotifyObserver(generate_full_events=True)`` with ``_AttributeEmitter``."""

    def __init__(self) -> None:
        super().__init__(generate_full_events=True)
        self._emitter_class = _AttributeEmitter


class DirectoryWatcher:
    """Follows ``directory`` with the configured observer; thread-safe."""

    def __init__(self, directory: str | Path, settings: Watch) -> None:
        root = Path(directory).expanduser()
        if root.exists() and not root.is_dir():
            raise FileNotFoundError(f"{root}: not a directory")
        if not root.exists() and not root.parent.is_dir():
            raise FileNotFoundError(f"{root}: no such directory, nor its parent {root.parent}")
        self.root = os.path.abspath(root)  # a symbolic link stays one: repointed (current -> run42), it is followed
        self.watched = os.path.realpath(self.root)  # the directory it names, watched and scanned; rows name files in it
        self._identity = _identity(self.root)
        self.settings = settings
        self._cond = threading.Condition()
        self._ready: deque[Arrival] = deque()
        self._pending: dict[str, _Pending] = {}
        self._tracked: set[str] = set()  # ready, pending or taken, and not yet done
        # final row written in this run → the file's (inode, size, mtime) then: a close of the same content again is
        # no news, new content under the name (overwrite mode, a new run in a re-created directory) is
        self._handled: OrderedDict[str, tuple[int, int, int] | None] = OrderedDict()
        self._moved: set[str] = set()  # tracked paths renamed away before they were done
        # not tracked, their last row an error (the latest REMEMBERED) → their (mode, uid, gid) then: a change is news
        self._errored: OrderedDict[str, tuple[int, int, int] | None] = OrderedDict()
        # handed to the worker by take, not yet done or retried → the file's signature when taken (what was read)
        self._taken: dict[str, tuple[int, int, int] | None] = {}
        self._closed_while_taken: set[str] = set()  # taken paths written to again meanwhile
        self._previous: set[str] = set()  # directories watched before a link was repointed: scanned once more
        self._start_failed = False  # during this outage, watching the directory back failed (said once)
        self._rescan: set[str] = set()  # why a rescan is asked for, until the worker takes it
        self._gone_since: float | None = None  # monotonic s; the watched directory went away
        self._next_look = 0.0  # monotonic s: when to look at the directory's path again
        self._stopping = False
        self._left = 0
        self._observer = None
        self._short_of_inotify: OSError | None = None  # a directory below that inotify could not watch
        _INOTIFY_LIMIT_FILTER.watchers.add(self)
        if self._identity is None:  # its parent is there: a share not mounted yet, a run's directory not yet made
            self._gone_since = time.monotonic()
            log.warning("watched directory %s does not exist (yet): waiting for it to appear", self.root)

    @property
    def status(self) -> str:
        """One line: what is watched, and how."""
        how = self.settings.observer + (", recursive" if self.settings.recursive else "")
        if self.watched != self.root:
            how += f", {self.watched}"
        gone = "" if self._gone_since is None else f" · gone for {time.monotonic() - self._gone_since:.0f} s"
        return f"{self.root} ({how}){gone}"

    @property
    def depth(self) -> int:
        """Files waiting: found, not yet taken."""
        with self._cond:
            return len(self._ready) + len(self._pending)

    def matches(self, path: str) -> bool:
        """Whether the file name of ``path`` matches ``patterns`` and no ``ignore_patterns``, in any letter case
        (``*.cbf`` takes ``X.CBF``), and no directory between the watched one and it is hidden (a writer's
        ``.tmp/`` renamed into place when complete: its files are read under their final names, as ``classify``
        and ``reprocess`` skip hidden directories too)."""
        name = os.path.basename(path).lower()
        s = self.settings
        return (any(fnmatch.fnmatchcase(name, p.lower()) for p in s.patterns)
                and not any(fnmatch.fnmatchcase(name, p.lower()) for p in s.ignore_patterns)
                and not self._in_hidden_directory(path))

    def _in_hidden_directory(self, path: str) -> bool:
        folder = os.path.dirname(path)
        if not self.settings.recursive or not folder.startswith(self.watched + os.sep):
            return False
        return any(part.startswith(".") for part in folder[len(self.watched) + 1:].split(os.sep))

    def sees(self, path: Path) -> bool:
        """Whether ``path`` is a file this watcher takes: its name matches, and it lies in the watched directory
        (or below it, recursive)."""
        parent = Path(os.path.realpath(os.path.dirname(os.path.abspath(os.path.expanduser(path)))))
        root = Path(self.watched)
        return self.matches(str(path)) and (parent == root or (self.settings.recursive and root in parent.parents))

    def start(self) -> None:
        """Start observing (before scanning, so that nothing arriving in between is missed); a directory not there
        yet is watched once it appears (``_look_for_root``)."""
        if self._identity is None and self._gone_since is not None:
            return
        self._start_observer()

    def _start_observer(self) -> None:
        """Watch ``root`` with the configured observer; where inotify runs out of watches or instances (a recursive
        watch of a large tree, other programs' watches), poll instead, said once, for the rest of the run."""
        try:
            self._start_observer_of(self.settings)
        except OSError as exc:
            if self.settings.observer != "inotify" or exc.errno not in INOTIFY_LIMITS:
                raise
            self._poll_from_now(exc)
            self._start_observer_of(self.settings)

    def _poll_from_now(self, exc: OSError) -> None:
        """Poll instead of inotify for the rest of the run, said once: ``exc`` says which inotify limit was reached."""
        limit = INOTIFY_LIMITS[exc.errno]
        self.settings = replace(self.settings, observer="polling")
        also = " (or this process is out of file descriptors: ulimit -n)" if exc.errno == errno.EMFILE else ""
        log.warning("watched directory %s: inotify cannot watch it all (%s; fs.inotify.%s is %s%s): polling it every "
                    "%g s instead; raise the limit (sysctl fs.inotify.%s=N) and restart to watch it by events",
                    self.root, exc.strerror or exc, limit, _read_int(f"/proc/sys/fs/inotify/{limit}"), also,
                    self.settings.poll_interval_s, limit)

    def out_of_inotify(self, exc: OSError) -> None:
        """inotify could not watch a directory made below a recursive watch (``exc``: out of watches or
        instances): its files would get no row until a restart. At the next look the watcher polls instead and
        rescans (watchdog's thread calls this, and cannot stop its own observer)."""
        with self._cond:
            self._short_of_inotify = self._short_of_inotify or exc

    def _start_observer_of(self, s: Watch) -> None:
        if s.observer == "inotify":
            observer = _InotifyObserver()
            kinds = [FileClosedEvent, FileMovedEvent, FileCreatedEvent, FileAttribEvent, DirDeletedEvent, DirMovedEvent,
                     EventsLostEvent]
        else:
            # lstat: a symbolic link to a directory is not walked into (as inotify and os.walk): ``loop -> .`` made the
            # snapshot report a file under 40 names, and two such links walked without end until memory ran out
            observer = PollingObserverVFS(os.lstat, os.scandir, polling_interval=s.poll_interval_s)
            kinds = None
        watched = os.path.realpath(self.root)
        observer.schedule(_Handler(self), watched, recursive=s.recursive, event_filter=kinds)
        observer.daemon = True
        try:
            observer.start()  # inotify adds its watches here, in this thread: it raises OSError for a missing directory
        except BaseException:
            observer.stop()
            raise
        self.watched, self._observer = watched, observer

    def scan(self) -> list[tuple[str, float, float]]:
        """(path, mtime, ctime) of the matching files now present (Unix s; ctime: the inode's last change, which a copy
        that keeps the mtime, ``cp -p`` or ``rsync -a``, sets to when it arrived; in a subdirectory moved in whole,
        which leaves its files' ctimes as they were, no earlier than the move: ``_moved_in``), oldest mtime first: the
        order of acquisition (a dangling symbolic link by its own times, so that the worker can say what it is); once,
        also those of the directory a repointed link named before (its last files may have completed after the last
        look)."""
        found = []
        with self._cond:
            tops, self._previous = [self.watched, *sorted(self._previous)], set()
        moved_in: dict[str, float] = {}  # subdirectory → when it or one above it was moved in (or its mode changed)
        for folder, dirs, names in (entry for top in tops for entry in os.walk(top)):
            if not self.settings.recursive:
                dirs.clear()
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            since = moved_in.get(folder, 0.0)
            for d in dirs:
                moved_in[os.path.join(folder, d)] = max(since, _moved_in(os.path.join(folder, d)))
            for name in names:
                path = os.path.join(folder, name)
                if self.matches(path):
                    try:
                        stat = os.lstat(path)
                    except FileNotFoundError:
                        continue
                    except OSError:  # listed but not looked at (a directory without search permission): news, and
                        now = time.time()  # reading it says why it cannot be read, in its row
                        found.append((path, now, now))
                        continue
                    found.append((path, stat.st_mtime, max(stat.st_ctime, since)))
        return sorted(found, key=lambda item: (item[1], item[0]))

    def found(self, path: str, complete: bool, t: float | None = None, settle_s: float | None = None,
              scanned: bool = False) -> None:
        """A matching file appeared or changed; ``complete`` when closed after writing or renamed into place; else
        it is complete once its size and mtime stayed the same for ``settle_s`` (default ``watch.settle_s``).
        ``scanned``: found by a look at the directory (a start's or a rescan's backlog), not by an event: one already
        queued or being read is no news (as a close would be: read again after an error row)."""
        if not self.matches(path):
            return
        now = time.time() if t is None else t
        with self._cond:
            if self._stopping or (path in self._handled and not self._changed(path)):
                return
            if path in self._tracked:
                pending = self._pending.get(path)
                if pending is not None and complete:
                    del self._pending[path]
                    self._ready.append(pending.arrival)
                    self._cond.notify()
                elif path in self._taken and not scanned:
                    self._closed_while_taken.add(path)
                return
            if len(self._ready) + len(self._pending) >= self.settings.queue_size:
                self._ask_rescan("queue full", f"{self.settings.queue_size} files are waiting (watch.queue_size): "
                                 "newer files wait on disk and are classified when the queue frees up")
                return
            if path in self._handled:  # queued now: from here on it is no longer handled
                self._forget(path)
            arrival = Arrival(path, now)
            self._tracked.add(path)
            if complete:
                self._ready.append(arrival)
            else:
                settle_s = self.settings.settle_s if settle_s is None else settle_s
                self._pending[path] = _Pending(arrival, time.monotonic() + settle_s, settle_s, _signature(path))
            self._cond.notify()

    def attributes_changed(self, path: str) -> None:
        """inotify: the mode, owner, times or extended attributes of ``path`` changed. A file whose last row is an
        error and whose mode or owner is not what it was then is read again (the chmod may be what makes it
        readable), once it is stable for ``settle_s`` (a writer may set the mode before its last close); for any
        other file, and for the same mode set again (a periodic ``chmod -R``), a touch or an xattr, it is no news."""
        now = _mode_and_owner(path)
        with self._cond:
            if path not in self._errored or path in self._tracked or now is None or self._errored[path] == now:
                return
            self._errored[path] = now
        self.found(path, complete=False)

    def errored_before(self, paths: Iterable[str]) -> None:
        """``paths`` have an error as their last row in the log (a start's or a rescan's look at it)."""
        modes = {path: _mode_and_owner(path) for path in paths}  # stat'ed before the lock
        with self._cond:
            for path, mode in modes.items():
                if path not in self._tracked:
                    remember(self._errored, path, mode)

    def rewritten(self, path: str) -> bool:
        """Whether ``path`` got its final row in this run and holds other content now (another inode, size or
        mtime): written again under the same name. It is then forgotten as handled: the caller plans it."""
        with self._cond:
            if path in self._handled and self._changed(path):
                self._forget(path)
                return True
            return False

    def _changed(self, path: str) -> bool:
        """Whether the handled ``path`` holds other content than when it was read (False where it is gone)."""
        now = _signature(path)
        return now is not None and now != self._handled[path]

    def _forget(self, path: str) -> None:
        del self._handled[path]
        log.info("%s: written again after its row (new content under the same name): classified again",
                 escape_source(path))

    def moved_in(self, directory: str) -> None:
        """A directory was moved into the watched tree (recursive): its files are complete, and inotify reports
        nothing else about them."""
        for folder, _, names in os.walk(directory):
            for name in sorted(names):
                self.found(os.path.join(folder, name), complete=True)

    def events_lost(self) -> None:
        """inotify's kernel queue overflowed: the events of some files are gone."""
        limit = _read_int("/proc/sys/fs/inotify/max_queued_events")
        with self._cond:
            self._ask_rescan("events lost", f"inotify lost events for {self.root} (its queue overflowed, "
                             f"fs.inotify.max_queued_events = {limit}): rescanning it against the log")
            self._cond.notify()

    def gone(self) -> None:
        """The watched directory went away (deleted, unmounted, moved away or replaced): an outage that lasts
        until a directory is there again (``_look_for_root``)."""
        with self._cond:
            if self._gone_since is None:
                self._gone_since = time.monotonic()
                log.warning("watched directory %s is gone (deleted, unmounted, moved away and replaced, or its link "
                            "repointed?); waiting for it to come back", self.root)
            self._cond.notify()

    def rescan_reason(self) -> str | None:
        """Why the directory must be compared with the log again (once per request), or None."""
        with self._cond:
            reasons, self._rescan = self._rescan, set()
            return ", ".join(sorted(reasons)) or None

    def moved(self, path: str) -> None:
        """``path`` was renamed away: forget it if it was waiting; ``moved_away`` tells the worker."""
        with self._cond:
            if path not in self._tracked:
                return
            if self._pending.pop(path, None) is not None:
                self._tracked.discard(path)
            else:
                self._moved.add(path)

    def moved_away(self, path: str) -> bool:
        """Whether ``path``, taken by the worker, was renamed away since (its frame lives on under the new name)."""
        with self._cond:
            return path in self._moved

    def take(self, limit: int, timeout: float) -> list[Arrival]:
        """Up to ``limit`` complete arrivals, oldest first; waits up to ``timeout`` s for the first."""
        deadline = time.monotonic() + timeout
        while True:
            self._settle()
            self._look_for_root()
            with self._cond:
                taken = [self._ready.popleft() for _ in range(min(limit, len(self._ready)))]
                self._taken.update((a.path, None) for a in taken)
            if taken:  # what is read: a later close that changes the file is news (``done``)
                signatures = {a.path: _signature(a.path) for a in taken}
                with self._cond:
                    self._taken.update((path, sig) for path, sig in signatures.items() if path in self._taken)
                return taken
            with self._cond:
                if self._ready:  # came while the lock was let go
                    continue
                now = time.monotonic()
                if now >= deadline or (self._stopping and not self._pending):
                    return []
                due = min(min((p.due for p in self._pending.values()), default=deadline), self._next_look)
                self._cond.wait(max(min(deadline, due) - now, 0.0))

    def retry(self, arrival: Arrival, after_s: float | None = None) -> bool:
        """Offer ``arrival`` again once stable for ``retry_interval_s`` (or ``after_s``); False when its retries are
        used up.

        While stopping the file is left, unrecorded, for the next start (True)."""
        stat = _signature(arrival.path)
        with self._cond:
            self._taken.pop(arrival.path, None)
            if self._stopping:
                self._tracked.discard(arrival.path)
                self._closed_while_taken.discard(arrival.path)
                self._left += 1
                return True
            if arrival.attempt >= self.settings.read_retries:
                return False
            self._closed_while_taken.discard(arrival.path)  # read again anyway
            interval = self.settings.retry_interval_s if after_s is None else after_s
            self._pending[arrival.path] = _Pending(replace(arrival, attempt=arrival.attempt + 1),
                                                   time.monotonic() + interval, interval, stat)
            self._cond.notify()
            return True

    def done(self, paths: Iterable[str], errored: Iterable[str] = ()) -> None:
        """The rows for ``paths`` are written; ``errored`` ones (among them) ended in an error row, so that
        their next close is news. The others are not offered again in this run."""
        errored = set(errored)
        paths = list(paths)
        now = {path: _signature(path) for path in paths}  # stat'ed before the lock (a slow network file system)
        modes = {path: _mode_and_owner(path) for path in errored}
        with self._cond:
            for path in paths:
                self._moved.discard(path)
                read = self._taken.pop(path, None)
                if path in self._closed_while_taken:
                    self._closed_while_taken.discard(path)
                    changed = now[path] is not None and now[path] != read
                    if (path in errored or changed) and not self._stopping:  # written to since it was read: again
                        self._ready.append(Arrival(path, time.time()))
                        self._cond.notify()
                        continue
                self._tracked.discard(path)
                if path in errored:
                    remember(self._errored, path, modes.get(path))
                else:
                    self._errored.pop(path, None)
                    remember(self._handled, path, read)

    def stop(self) -> int:
        """Stop observing. Complete files already found are still handed out by ``take``; files not yet
        complete are left for the next start. Returns how many were left (including later retries)."""
        self._stop_observer()
        with self._cond:
            self._stopping = True
            self._left += len(self._pending)
            self._tracked.difference_update(self._pending)
            self._pending.clear()
            self._cond.notify_all()
            return self._left

    @property
    def left(self) -> int:
        """Files left unread by ``stop`` (not complete yet, or retried while stopping)."""
        with self._cond:
            return self._left

    def _stop_observer(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join()

    def event_failed(self, exc: Exception) -> None:
        """Handling an event raised (a bug): what it was about is found by a rescan."""
        with self._cond:
            self._ask_rescan("event failed", f"an event in {self.root} could not be handled ({in_words(exc)}): "
                             "rescanning the directory against the log")

    def _observing(self) -> bool:
        """Whether watchdog's threads (the observer's and its emitters') all still run: one that ended on a failure
        of its own would leave the directory unwatched without a word."""
        observer = self._observer
        return observer is None or (observer.is_alive() and all(e.is_alive() for e in observer.emitters))

    def _watch_again(self, reason: str, message: str) -> None:
        """The observer stopped (by itself, or to poll instead): a new one, and a rescan for what arrived meanwhile
        (``message`` said once; tried again at the next look if it cannot start)."""
        self._stop_observer()
        try:
            self._start_observer()
        except OSError as exc:
            log.warning("watched directory %s: watching it stopped, and it cannot be watched again yet (%s)",
                        self.root, exc.strerror or exc)
            return
        with self._cond:
            self._ask_rescan(reason, message)

    def _ask_rescan(self, reason: str, message: str) -> None:
        """Ask for a rescan (caller holds the lock); logs ``message`` unless one for ``reason`` is waiting."""
        if reason not in self._rescan:
            log.warning("%s", message)
        self._rescan.add(reason)

    def _look_for_root(self) -> None:
        """Every ``poll_interval_s``: while the directory is there, whether its path still names the directory
        watched (else it is ``gone``); while it is gone, whether one is back, and if so watch it and ask for a
        rescan (files may have come and changed meanwhile)."""
        with self._cond:
            now = time.monotonic()
            if self._stopping or now < self._next_look:
                return
            self._next_look = now + self.settings.poll_interval_s
            away = self._gone_since is not None
        identity = _identity(self.root)
        if not away:
            if identity != self._identity:
                self.gone()
                self._stop_observer()
            elif self._short_of_inotify is not None and self.settings.observer == "inotify":
                self._poll_from_now(self._short_of_inotify)  # _watch_again stops the inotify observer first
                self._watch_again("polling", f"{self.root}: rescanning it against the log for what arrived in the "
                                  "directories inotify did not watch")
            elif not self._observing():
                self._watch_again("watch stopped", f"watching {self.root} had stopped: watching it again, and "
                                  "rescanning it against the log")
            return
        if identity is None:
            return
        self._stop_observer()
        previous = self.watched
        try:
            self._start_observer()
        except OSError as exc:  # gone again at once, a stale NFS handle, too many inotify watches: try again later
            if not self._start_failed:
                log.warning("watched directory %s: cannot watch it yet (%s); trying again every %g s", self.root,
                            exc.strerror or exc, self.settings.poll_interval_s)
            self._start_failed = True
            return
        self._start_failed = False
        self._identity = identity
        with self._cond:
            if previous != self.watched:  # a link repointed: files completed there since the last look get rows too
                self._previous.add(previous)
            outage, self._gone_since = time.monotonic() - self._gone_since, None
            target = "" if self.watched == self.root else f" (now {self.watched})"
            self._ask_rescan("back", f"watched directory {self.root} is back after {outage:.1f} s{target}: watching "
                             "it again, and rescanning it against the log")

    def _settle(self) -> None:
        """Move pending files that are due and stable (same inode, size and mtime as last time) to ready, oldest
        first: a poll finds several new files at once and reports them in no particular order, so those due within
        ``SAME_POLL_S`` are taken together."""
        now = time.monotonic()
        with self._cond:
            if not any(p.due <= now for p in self._pending.values()):
                return
            due = [(path, p) for path, p in self._pending.items() if p.due <= now + SAME_POLL_S]
        due.sort(key=lambda item: (item[1].stat[2] if item[1].stat else 0, item[0]))  # by mtime
        for path, p in due:
            stat = _signature(path)
            with self._cond:
                if self._pending.get(path) is not p:
                    continue
                if stat is None or stat == p.stat:  # gone: the worker reports it
                    del self._pending[path]
                    self._ready.append(p.arrival)
                else:
                    p.stat, p.due = stat, time.monotonic() + p.interval


#: errno of an inotify start that ran out of a per-user limit → the limit's name under /proc/sys/fs/inotify
INOTIFY_LIMITS = {errno.ENOSPC: "max_user_watches", errno.EMFILE: "max_user_instances"}


class _InotifyLimitFilter(logging.Filter):
    """watchdog's inotify emitter logs "Unable to watch" and goes on when a directory made below a recursive watch
    cannot be watched (out of watches or instances): that record is taken from its log and handed to the watcher
    of the tree (``out_of_inotify``), which says it once in its own words."""

    def __init__(self) -> None:
        super().__init__()
        self.watchers: weakref.WeakSet[DirectoryWatcher] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if not (record.msg == "Unable to watch %r: %s" and len(args) == 2 and isinstance(args[1], OSError)
                and args[1].errno in INOTIFY_LIMITS):
            return True
        path = os.fsdecode(args[0])
        told = False
        for watcher in list(self.watchers):
            if path == watcher.watched or path.startswith(watcher.watched + os.sep):
                watcher.out_of_inotify(args[1])
                told = True
        return not told


_INOTIFY_LIMIT_FILTER = _InotifyLimitFilter()
_WATCHDOG_INOTIFY_LOG = logging.getLogger("watchdog.observers.inotify")
_WATCHDOG_INOTIFY_LOG.addFilter(_INOTIFY_LIMIT_FILTER)
_WATCHDOG_INOTIFY_LOG.setLevel(logging.WARNING)  # the filter sees its warnings even where "watchdog" is quietened


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the directory ``path`` names (following symbolic links); None if it names none."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino) if S_ISDIR(stat.st_mode) else None


def _is_link(path: str) -> bool:
    """Whether ``path`` is a symbolic link or a further hard link (``ln``, ``ln -s``): a name for content that is
    already there, which inotify reports as created only."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return S_ISLNK(st.st_mode) or st.st_nlink > 1


def _moved_in(directory: str) -> float:
    """When the directory was moved (renamed) or its mode changed, as far as its inode tells (Unix s): its ctime where
    that is later than its mtime (a change of its entries sets both); 0 otherwise, or where it cannot be looked at."""
    try:
        stat = os.stat(directory)
    except OSError:
        return 0.0
    return stat.st_ctime if stat.st_ctime > stat.st_mtime else 0.0


def remember(table: OrderedDict, path: str, value: object) -> None:
    """``table[path] = value`` as its newest entry, the oldest dropped beyond ``REMEMBERED``."""
    table[path] = value
    table.move_to_end(path)
    if len(table) > REMEMBERED:
        table.popitem(last=False)


def _stat(path: str) -> os.stat_result | None:
    """``os.stat`` of ``path``; None if it cannot be stat'ed."""
    try:
        return os.stat(path)
    except OSError:
        return None


def _signature(path: str) -> tuple[int, int, int] | None:
    """(inode, size, mtime ns) of the file ``path``; None if it cannot be stat'ed."""
    st = _stat(path)
    return None if st is None else (st.st_ino, st.st_size, st.st_mtime_ns)


def _mode_and_owner(path: str) -> tuple[int, int, int] | None:
    """(mode, uid, gid) of the file ``path``; None if it cannot be stat'ed."""
    st = _stat(path)
    return None if st is None else (st.st_mode, st.st_uid, st.st_gid)


def _read_int(path: str) -> int | str:
    try:
        return int(Path(path).read_text())
    except (OSError, ValueError):
        return "unknown"
