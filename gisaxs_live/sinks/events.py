"""The class-change events sink: ``ChangeDetector`` over every result, and for each event a row in
``<log stem>.events.csv`` beside the CSV log (written whole, as the log's rows), a WARNING log line (the
journal under systemd), the listeners (the dashboard's highlighted line) and the optional ``on_event``
command (``OnEventRunner``: a background thread, with a timeout; its failures are logged, never raised).

Not critical: should events.csv fail to take a row, that is logged and the monitor goes on.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from ..config import Events
from ..events import ChangeDetector, Event
from . import Update
from .csvlog import SideLog, escape_source

log = logging.getLogger(__name__)

EVENT_COLUMNS = ["time_utc", "source", "frame", "from", "to", "p_from", "p_to"]


def events_path(csv_path: str | Path) -> Path:
    """``DIR/NAME.events.csv`` for the CSV log ``DIR/NAME.csv``."""
    path = Path(csv_path)
    return path.with_name(f"{path.stem}.events.csv")


def event_env(event: Event) -> dict[str, str]:
    """The GISAXS_EVENT_* environment variables of ``event`` (probabilities 0..1, 4 decimals)."""
    return {"GISAXS_EVENT_TIME": event.time_utc, "GISAXS_EVENT_SOURCE": event.source,
            "GISAXS_EVENT_FRAME": str(event.frame), "GISAXS_EVENT_FROM": event.from_family,
            "GISAXS_EVENT_TO": event.to_family, "GISAXS_EVENT_P_FROM": f"{event.p_from:.4f}",
            "GISAXS_EVENT_P_TO": f"{event.p_to:.4f}"}


class EventLog:
    """Appends one row per event to ``path`` (header first when new; a rotated file is followed, ``SideLog``);
    opening raises a ValueError naming the file and the cause, ``write`` an OSError."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._log = SideLog(self.path, EVENT_COLUMNS, "an events file")

    def write(self, event: Event) -> None:
        row = [event.time_utc, escape_source(event.source), str(event.frame), event.from_family, event.to_family,
               f"{event.p_from:.4f}", f"{event.p_to:.4f}"]
        self._log.write_rows([row])

    def close(self) -> None:
        self._log.close()


class OnEventRunner:
    """Runs ``argv`` once per event, one at a time, in a background thread, with the event in its environment;
    a command still running after ``timeout_s`` (s) is killed with its process group. ``close`` waits for the
    queued commands at most ``timeout_s`` + 1 s."""

    def __init__(self, argv: Sequence[str], timeout_s: float) -> None:
        self.argv = list(argv)
        self.timeout_s = timeout_s
        self._queue: queue.Queue[Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="on_event", daemon=True)
        self._thread.start()

    def submit(self, event: Event) -> None:
        """Queue ``event``; returns at once."""
        self._queue.put(event)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(self.timeout_s + 1.0)
        if self._thread.is_alive():
            log.warning("on_event: commands still queued at exit were not run")

    def _work(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._run(event)
            except Exception:  # never let one event's failure stop the commands of the next ones
                log.exception("on_event: running %s failed", self.argv[0])

    def _run(self, event: Event) -> None:
        name = self.argv[0]
        try:
            proc = subprocess.Popen(self.argv, env={**os.environ, **event_env(event)}, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                    errors="replace", start_new_session=True)
        except OSError as exc:
            log.error("on_event: cannot run %s (%s)", name, exc.strerror or exc)
            return
        try:
            _, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its children too: they would hold the pipe open
            except ProcessLookupError:
                pass  # it ended just now
            proc.communicate()
            log.error("on_event: %s ran past its %g s timeout and was stopped", name, self.timeout_s)
            return
        if proc.returncode:
            last = (err.strip().splitlines() or [""])[-1]
            log.error("on_event: %s failed with exit status %d%s", name, proc.returncode,
                      f": {last}" if last else "")


class EventsSink:
    """Non-critical sink: detects class changes in every update's results and reports each event."""

    critical = False

    def __init__(self, csv_path: str | Path, settings: Events,
                 listeners: Sequence[Callable[[Event], None]] = (),
                 series_of: Callable[[str], str] | None = None) -> None:
        """``series_of``: a row's source → its series; the detector starts afresh at each new one (a stream's
        series; ``ChangeDetector``)."""
        self.detector = ChangeDetector(settings.hold_frames, settings.margin, series_of)
        self.log = EventLog(events_path(csv_path))
        self.listeners = list(listeners)
        self.runner = OnEventRunner(settings.on_event, settings.on_event_timeout_s) if settings.on_event else None

    def show_on(self, console: object) -> None:
        """Have ``console`` (a monitor's console sink) show each event, if it can (the dashboard)."""
        show = getattr(console, "show_event", None)
        if show is not None:
            self.listeners.append(show)

    def update(self, update: Update) -> None:
        for result in update.results:
            event = self.detector.feed(result)
            if event is not None:
                self._report(event)

    def _report(self, event: Event) -> None:
        try:
            self.log.write(event)
        except OSError as exc:
            log.error("%s: cannot write the event (%s)", self.log.path, exc.strerror or exc)
        log.warning("%s", event.describe())
        if self.runner is not None:
            self.runner.submit(event)
        for listener in self.listeners:
            listener(event)

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
        self.log.close()
