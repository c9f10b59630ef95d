"""A watched detector directory: files become *arrivals* once they are complete.

Detectors write files in place, in stages, or write a temporary file and rename it into place. With
``inotify`` a file is complete on close-after-write (``FileClosedEvent``) or when renamed into place
(``FileMovedEvent`` destination), never on create. With ``polling`` (NFS, GPFS: no close events) a
created or modified file is complete once its size and mtime are unchanged for ``settle_s``.

As in watchdog's own design the event handler only queues; one worker calls ``take`` and reads the
files. A file that does not decode yet is handed back with ``retry`` and offered again once it has
been stable for ``retry_interval_s``, at most ``read_retries`` times. At most ``queue_size`` files
wait; a file found beyond that is returned by ``take`` as *dropped*, so that the worker records it.
Each path is offered once per run (a second close event for a file already handled is ignored).
"""

from __future__ import annotations

import fnmatch
import os
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from pathlib import Path

from watchdog.events import DirDeletedEvent, FileClosedEvent, FileCreatedEvent, FileModifiedEvent, FileMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers.inotify import InotifyObserver
from watchdog.observers.polling import PollingObserver

from ..config import Watch

_REMEMBERED = 65536  # paths remembered as handled / moved away (about 100 B each)


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
    stat: tuple[int, int] | None     # (size B, mtime ns) when last looked at; None = not seen yet


class _Handler(FileSystemEventHandler):
    """Turns watchdog events into calls on the watcher; runs in watchdog's thread, only queues."""

    def __init__(self, watcher: "DirectoryWatcher") -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        w = self.watcher
        src, dest = os.fsdecode(event.src_path), os.fsdecode(event.dest_path)
        if isinstance(event, FileClosedEvent):
            w.found(src, complete=True)
        elif isinstance(event, FileMovedEvent):
            if src:
                w.moved(src)
            if dest:
                w.found(dest, complete=True)
        elif isinstance(event, (FileCreatedEvent, FileModifiedEvent)) and w.settings.observer == "polling":
            w.found(src, complete=False)
        elif isinstance(event, DirDeletedEvent) and src == w.root:
            w.failure = f"watched directory {w.root} was deleted"


class DirectoryWatcher:
    """Follows ``directory`` with the configured observer; thread-safe."""

    def __init__(self, directory: str | Path, settings: Watch) -> None:
        root = Path(directory).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: not a directory")
        self.root = str(root.resolve())
        self.settings = settings
        self.failure: str | None = None
        self._cond = threading.Condition()
        self._ready: deque[Arrival] = deque()
        self._pending: dict[str, _Pending] = {}
        self._dropped: list[Arrival] = []
        self._tracked: set[str] = set()  # ready, pending, taken or dropped, and not yet done
        self._handled: OrderedDict[str, None] = OrderedDict()
        self._moved: OrderedDict[str, None] = OrderedDict()
        self._stopping = False
        self._left = 0
        self._observer = None

    @property
    def status(self) -> str:
        """One line: what is watched, and how."""
        how = self.settings.observer + (", recursive" if self.settings.recursive else "")
        return f"{self.root} ({how})"

    @property
    def depth(self) -> int:
        """Files waiting: found, not yet taken."""
        with self._cond:
            return len(self._ready) + len(self._pending)

    def matches(self, path: str) -> bool:
        name = os.path.basename(path)
        s = self.settings
        return (any(fnmatch.fnmatchcase(name, p) for p in s.patterns)
                and not any(fnmatch.fnmatchcase(name, p) for p in s.ignore_patterns))

    def start(self) -> None:
        """Start observing (before scanning, so that nothing arriving in between is missed)."""
        s = self.settings
        if s.observer == "inotify":
            observer = InotifyObserver(generate_full_events=True)
            kinds = [FileClosedEvent, FileMovedEvent, DirDeletedEvent]
        else:
            observer = PollingObserver(timeout=s.poll_interval_s)
            kinds = None
        observer.schedule(_Handler(self), self.root, recursive=s.recursive, event_filter=kinds)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def scan(self) -> list[tuple[str, float]]:
        """(path, mtime Unix s) of the matching files now present, oldest first."""
        found = []
        for folder, dirs, names in os.walk(self.root):
            if not self.settings.recursive:
                dirs.clear()
            for name in names:
                path = os.path.join(folder, name)
                if self.matches(path):
                    try:
                        found.append((path, os.stat(path).st_mtime))
                    except FileNotFoundError:
                        continue
        return sorted(found, key=lambda item: (item[1], item[0]))

    def found(self, path: str, complete: bool, t: float | None = None) -> None:
        """A matching file appeared or changed; ``complete`` when closed after writing or renamed into place."""
        if not self.matches(path):
            return
        now = time.time() if t is None else t
        with self._cond:
            if self._stopping or path in self._handled:
                return
            if path in self._tracked:
                pending = self._pending.get(path)
                if pending is not None and complete:
                    del self._pending[path]
                    self._ready.append(pending.arrival)
                    self._cond.notify()
                return
            arrival = Arrival(path, now)
            self._tracked.add(path)
            if len(self._ready) + len(self._pending) >= self.settings.queue_size:
                self._dropped.append(arrival)
            elif complete:
                self._ready.append(arrival)
            else:
                self._pending[path] = _Pending(arrival, time.monotonic() + self.settings.settle_s,
                                               self.settings.settle_s, _stat(path))
            self._cond.notify()

    def moved(self, path: str) -> None:
        """``path`` was renamed away: forget it if it was waiting; ``moved_away`` tells the worker."""
        with self._cond:
            _remember(self._moved, path)
            if self._pending.pop(path, None) is not None:
                self._tracked.discard(path)

    def moved_away(self, path: str) -> bool:
        """Whether ``path`` was renamed away during this run (its frame lives on under the new name)."""
        with self._cond:
            return path in self._moved

    def take(self, limit: int, timeout: float) -> tuple[list[Arrival], list[Arrival]]:
        """Up to ``limit`` complete arrivals, oldest first, and the dropped ones; waits up to ``timeout`` s
        for the first."""
        deadline = time.monotonic() + timeout
        while True:
            self._settle()
            with self._cond:
                if self._ready or self._dropped:
                    batch = [self._ready.popleft() for _ in range(min(limit, len(self._ready)))]
                    dropped, self._dropped = self._dropped, []
                    return batch, dropped
                now = time.monotonic()
                due = min((p.due for p in self._pending.values()), default=deadline)
                wait = min(deadline, due) - now
                if now >= deadline or (self._stopping and not self._pending):
                    return [], []
                self._cond.wait(max(wait, 0.0))

    def retry(self, arrival: Arrival) -> bool:
        """Offer ``arrival`` again once stable for ``retry_interval_s``; False when its retries are used up.

        While stopping the file is left, unrecorded, for the next start (True)."""
        stat = _stat(arrival.path)
        with self._cond:
            if self._stopping:
                self._tracked.discard(arrival.path)
                self._left += 1
                return True
            if arrival.attempt >= self.settings.read_retries:
                return False
            interval = self.settings.retry_interval_s
            self._pending[arrival.path] = _Pending(replace(arrival, attempt=arrival.attempt + 1),
                                                   time.monotonic() + interval, interval, stat)
            self._cond.notify()
            return True

    def done(self, paths: list[str]) -> None:
        """The rows for ``paths`` are written: never offer them again in this run."""
        with self._cond:
            for path in paths:
                self._tracked.discard(path)
                _remember(self._handled, path)

    def stop(self) -> int:
        """Stop observing. Complete files already found are still handed out by ``take``; files not yet
        complete are left for the next start. Returns how many were left (including later retries)."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
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

    def _settle(self) -> None:
        """Move pending files that are due and stable (same size and mtime as last time) to ready."""
        now = time.monotonic()
        with self._cond:
            due = [(path, p) for path, p in self._pending.items() if p.due <= now]
        for path, p in due:
            stat = _stat(path)
            with self._cond:
                if self._pending.get(path) is not p:
                    continue
                if stat is None or stat == p.stat:  # gone: the worker reports it
                    del self._pending[path]
                    self._ready.append(p.arrival)
                else:
                    p.stat, p.due = stat, time.monotonic() + p.interval


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _remember(memory: OrderedDict[str, None], path: str) -> None:
    memory[path] = None
    memory.move_to_end(path)
    if len(memory) > _REMEMBERED:
        memory.popitem(last=False)
