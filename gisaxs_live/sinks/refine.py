"""The live refinement sink (``watch --refine``): the newest ``ok`` frame is fitted by the bundled simulator, one
frame at a time, by ONE background thread that hands it to a fitting process (``refine.process.FitProcess``: the
frame read again from its file, the row's top-1 class fitted from the size net's estimate, at the lowest CPU
priority, no GIL shared with the live path), one row per fit in ``<log stem>.refine.csv`` beside the CSV log.

``update`` only hands over the newest ``ok`` result and returns at once: it never waits for a fit, so the rows
are never held up. A fit takes 0.2-2 s on one core; when frames come faster, only the newest one waiting is
kept and the others are skipped (counted, logged every ``SKIP_LOG_EVERY`` and at close), never queued. A frame
that cannot be fitted (its file gone or changed, no usable signal, a fit that did not converge) is one WARNING
line; a fit that did not converge still gets its row (``converged`` 0). ``close`` lets the current fit finish,
at most ``CLOSE_TIMEOUT_S``, then ends the fitting process; a frame still waiting is skipped.

Not critical: a refine log that cannot take a row is logged and the monitor goes on.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Protocol

from ..refine.frame import ALL_PARAMETERS
from ..refine.process import Outcome
from ..results import Result, utc_now
from . import Update
from .csvlog import SideLog, escape_source

log = logging.getLogger(__name__)

#: the columns of the releases before ``at_limits`` and ``message``: a log begun by one is continued with them
REFINE_COLUMNS_BEFORE = ["time_utc", "source", "frame", "class", *ALL_PARAMETERS,
                         *(f"{k}_err" for k in ALL_PARAMETERS), "chi2_red", "converged", "seconds"]
REFINE_COLUMNS = [*REFINE_COLUMNS_BEFORE, "at_limits", "message"]
#: a line on the skipped frames after every this many
SKIP_LOG_EVERY = 100
#: how long ``close`` waits for the fit in progress (s)
CLOSE_TIMEOUT_S = 5.0
#: ... and then for the thread, once the fitting process is killed (s)
KILLED_WAIT_S = 2.0


class Fitter(Protocol):
    """What fits the frames (``refine.process.FitProcess``)."""

    def fit(self, source: str, frame_id: int, shape_class: str, size: Any) -> Outcome: ...

    def kill(self) -> None: ...

    def close(self) -> None: ...


def refine_path(csv_path: str | Path) -> Path:
    """``DIR/NAME.refine.csv`` for the CSV log ``DIR/NAME.csv``."""
    path = Path(csv_path)
    return path.with_name(f"{path.stem}.refine.csv")


class RefineLog:
    """Appends one whole row per fit to ``path`` (header first when new; a rotated file is followed, ``SideLog``);
    opening raises a ValueError naming the file and the cause, ``write`` an OSError."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._log = SideLog(self.path, REFINE_COLUMNS, "a refine log", earlier=[REFINE_COLUMNS_BEFORE])

    def write(self, row: dict[str, str]) -> None:
        """``row`` (``FrameFit.row``) under the columns, stamped now; parameters the class lacks stay empty."""
        self._log.write_records([{**row, "time_utc": utc_now(), "source": escape_source(row["source"])}])

    def close(self) -> None:
        self._log.close()


class RefineSink:
    """Non-critical sink: fits the newest ``ok`` frame whenever the last fit is done. ``seen`` ok frames =
    ``refined`` + ``failed`` + ``skipped`` (+ 1 abandoned at close, if any)."""

    critical = False

    def __init__(self, csv_path: str | Path, fitter: Fitter) -> None:
        self.fitter = fitter
        self.log = RefineLog(refine_path(csv_path))
        self.seen = self.refined = self.failed = self.skipped = 0
        self._pending: Result | None = None
        self._current: Result | None = None
        self._closing = self._abandoned = False
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
        if self._thread.is_alive():
            self._abandoned = True
            if current is not None:
                log.warning("refine: %s frame %d: the fit still running after %g s was abandoned", current.source,
                            current.frame, CLOSE_TIMEOUT_S)
            self.fitter.kill()
            self._thread.join(KILLED_WAIT_S)
        self.fitter.close()
        log.info("refine: %d of %d ok frames refined (%s), %d failed, %d skipped while a fit ran", self.refined,
                 self.seen, self.log.path, self.failed, self.skipped)

    def _work(self) -> None:
        try:
            while (result := self._next()) is not None:
                self._refine(result)
        finally:
            self.log.close()

    def _next(self) -> Result | None:
        """The frame to fit next, None once closing (a frame still waiting counts as skipped)."""
        with self._wake:
            self._current = None
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
        ranked = result.ranked()
        outcome = (self.fitter.fit(result.source, result.frame, ranked[0][0], result.size) if ranked
                   else Outcome(None, False, "the row has no class"))
        if self._abandoned:
            return  # close gave up on this fit and ended the fitting process
        if outcome.row is not None:
            try:
                self.log.write(outcome.row)
            except OSError as exc:
                log.error("%s: cannot write the fit of %s (%s)", self.log.path, name, exc.strerror or exc)
        with self._wake:
            if outcome.converged:
                self.refined += 1
            else:
                self.failed += 1
        if outcome.converged:
            log.debug("refine: %s: %s", name, outcome.message)
        else:
            log.warning("refine: %s: not refined: %s", name, outcome.message)
