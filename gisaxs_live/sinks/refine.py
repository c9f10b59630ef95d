"""The live refinement sink (``watch --refine``): the newest ``ok`` frame is fitted by the bundled simulator in ONE
background thread (``refine.frame.FrameFitter``: the frame read again from its file, the top-1 class fitted from
the size net's estimate), one row per fit in ``<log stem>.refine.csv`` beside the CSV log.

``update`` only hands over the newest ``ok`` result and returns at once: it never waits for a fit, so the rows
are never held up. A fit takes 0.2-2 s on one core; when frames come faster, only the newest one waiting is
kept and the others are skipped (counted, logged every ``SKIP_LOG_EVERY`` and at close), never queued. The
thread runs at nice ``WORKER_NICE`` (Linux), so the live path gets the CPU first. A frame that cannot be fitted
(its file gone or changed, no usable signal, a fit that did not converge) is one WARNING line; a fit that did
not converge still gets its row (``converged`` 0). ``close`` lets the current fit finish, at most
``CLOSE_TIMEOUT_S``; a frame still waiting is skipped.

Not critical: a refine log that cannot take a row is logged and the monitor goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from ..frame import Frame
from ..refine.frame import ALL_PARAMETERS, FrameFitter, NotFitted
from ..results import Result, utc_now
from ..sources.files import read_file
from . import Update
from .csvlog import _write_whole, escape_source, format_rows

log = logging.getLogger(__name__)

REFINE_COLUMNS = ["time_utc", "source", "frame", "class", *ALL_PARAMETERS, *(f"{k}_err" for k in ALL_PARAMETERS),
                  "chi2_red", "converged", "seconds"]
#: a line on the skipped frames after every this many
SKIP_LOG_EVERY = 100
#: how long ``close`` waits for the fit in progress (s)
CLOSE_TIMEOUT_S = 5.0
#: the worker thread's nice value (0 = as the live path)
WORKER_NICE = 10


def refine_path(csv_path: str | Path) -> Path:
    """``DIR/NAME.refine.csv`` for the CSV log ``DIR/NAME.csv``."""
    path = Path(csv_path)
    return path.with_name(f"{path.stem}.refine.csv")


class RefineLog:
    """Appends one whole row per fit to ``path`` (header first when new); opening raises a ValueError naming the
    file and the cause, ``write`` an OSError."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        header = format_rows([REFINE_COLUMNS])
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            if os.fstat(self._fd).st_size == 0:
                _write_whole(self._fd, header.encode())
            elif os.pread(self._fd, len(header), 0) != header.encode():
                os.close(self._fd)
                raise ValueError(f"{self.path}: its columns are not those of a refine log; move it away or give "
                                 "another --csv")
        except OSError as exc:
            raise ValueError(f"{self.path}: cannot write the refine log ({exc.strerror or exc})") from None

    def write(self, row: dict[str, str]) -> None:
        """``row`` (``FrameFit.row``) under the columns, stamped now; parameters the class lacks stay empty."""
        stamped = {**row, "time_utc": utc_now(), "source": escape_source(row["source"])}
        _write_whole(self._fd, format_rows([[stamped.get(k, "") for k in REFINE_COLUMNS]]).encode())

    def close(self) -> None:
        os.close(self._fd)


class RefineSink:
    """Non-critical sink: fits the newest ``ok`` frame in a background thread whenever the last fit is done.
    ``seen`` ok frames = ``refined`` + ``failed`` + ``skipped`` (+ 1 abandoned at close, if any)."""

    critical = False

    def __init__(self, csv_path: str | Path, fitter: FrameFitter) -> None:
        self.fitter = fitter
        self.log = RefineLog(refine_path(csv_path))
        self.seen = self.refined = self.failed = self.skipped = 0
        self._pending: Result | None = None
        self._current: Result | None = None
        self._closing = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="refine", daemon=True)
        self._thread.start()

    def update(self, update: Update) -> None:
        ok = [r for r in update.results if r.status == "ok"]
        if not ok:
            return
        with self._wake:
            dropped = len(ok) - 1 + (self._pending is not None)
            before = self.skipped
            self.seen += len(ok)
            self.skipped += dropped
            self._pending = ok[-1]
            self._wake.notify()
        if self.skipped // SKIP_LOG_EVERY > before // SKIP_LOG_EVERY:
            log.info("refine: %d frames skipped so far, fits being slower than the frames (%d refined, %d failed)",
                     self.skipped, self.refined, self.failed)

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(CLOSE_TIMEOUT_S)
        current = self._current
        if self._thread.is_alive() and current is not None:
            log.warning("refine: %s frame %d: the fit still running after %g s was abandoned", current.source,
                        current.frame, CLOSE_TIMEOUT_S)
        log.info("refine: %d of %d ok frames refined (%s), %d failed, %d skipped while a fit ran", self.refined,
                 self.seen, self.log.path, self.failed, self.skipped)

    def _work(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        except (AttributeError, OSError):
            pass  # not Linux, or not allowed: the fit runs at the live path's priority
        try:
            while (result := self._next()) is not None:
                self._refine(result)
                self._current = None
        finally:
            self.log.close()

    def _next(self) -> Result | None:
        """The frame to fit next, None once closing (a frame still waiting counts as skipped)."""
        with self._wake:
            while self._pending is None and not self._closing:
                self._wake.wait()
            if self._closing:
                self.skipped += self._pending is not None
                self._pending = None
                return None
            self._current, self._pending = self._pending, None
            return self._current

    def _refine(self, result: Result) -> None:
        name = f"{result.source} frame {result.frame}"
        try:
            ranked = result.ranked()
            if not ranked:
                raise NotFitted("the row has no class")
            done = self.fitter.fit(reread(result), ranked[0][0], result.size)
        except NotFitted as exc:
            self._count(failed=True)
            log.warning("refine: %s: not refined: %s", name, exc)
            return
        except Exception:  # a bug must not end the thread: the next frames are still fitted
            self._count(failed=True)
            log.exception("refine: %s: the fit failed", name)
            return
        try:
            self.log.write(done.row(result.source, result.frame))
        except OSError as exc:
            log.error("%s: cannot write the fit of %s (%s)", self.log.path, name, exc.strerror or exc)
        self._count(failed=not done.fit.converged)
        if done.fit.converged:
            log.debug("refine: %s: %s", name, done.describe())
        else:
            log.warning("refine: %s: not refined: the fit did not converge (%s)", name, done.fit.message)

    def _count(self, failed: bool) -> None:
        with self._wake:
            if failed:
                self.failed += 1
            else:
                self.refined += 1


def reread(result: Result) -> Frame:
    """The frame of ``result`` read again from its file (watch rows' ``source``); NotFitted says why not."""
    frames, problem = read_file(result.source, time.time())
    for frame in frames:
        if frame.frame_id == result.frame:
            return frame
    raise NotFitted(problem or f"{result.source} no longer holds frame {result.frame}")
