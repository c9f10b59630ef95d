"""One ``logging`` line per frame: the dashboard's stand-in for services (journald) and pipes."""

from __future__ import annotations

import logging
import math

from ..classify.answer import SEPARATOR
from ..results import Result
from . import Update
from .csvlog import escape_source
from .text import probability

log = logging.getLogger("gisaxs_live.frames")


def result_line(r: Result) -> str:
    """One line for a frame's result: ``ok`` with its family, top-2 classes and the size net's D_y and aspect (a
    journal shows the growth), otherwise its status and message;
    the source as the CSV log writes it (a line break in a name cannot split the line)."""
    source = escape_source(r.source)
    name = source if r.frame <= 0 else f"{source} #{r.frame}"  # -1: a message that named no frame
    if r.status != "ok":
        return f"{name} {r.status}: {escape_source(r.message)} ({r.latency_ms:.0f} ms)"
    family, p_family = r.family()
    (t1, p1), (t2, p2) = r.ranked()[:2]
    ambiguous = f" [answer: {SEPARATOR.join(r.answer)}]" if len(r.answer) > 1 else ""
    return (f"{name} ok {family} {probability(p_family)} ({t1} {probability(p1)}, {t2} {probability(p2)}){ambiguous}"
            f"{_size(r)} ({r.latency_ms:.0f} ms)")


def _size(r: Result) -> str:
    """`` D_y 12.3 ± 0.4 nm, aspect 0.52 ± 0.05`` where the size net gave them, else ''."""
    size = r.size
    if size is None or not math.isfinite(size.D_y_nm):
        return ""
    text = f" D_y {size.D_y_nm:.1f} ± {size.D_y_err_nm:.1f} nm"
    return text + (f", aspect {size.aspect:.2f} ± {size.aspect_err:.2f}" if math.isfinite(size.aspect) else "")


class LogLines:
    """Logs each result (errors as warnings; ``ok`` with its family and top-2 classes) and each change of
    source or model state; non-critical."""

    critical = False

    def __init__(self) -> None:
        self._state = ("", "")

    def update(self, update: Update) -> None:
        state = (update.source, update.model)
        if state != self._state and any(state):
            log.info("source %s; model %s", update.source or "-", update.model or "-")
            self._state = state
        for r in update.results:
            log.log(logging.WARNING if r.status == "error" else logging.INFO, "%s", result_line(r))

    def close(self) -> None:
        """Nothing to release."""
