"""One ``logging`` line per frame: the dashboard's stand-in for services (journald) and pipes."""

from __future__ import annotations

import logging

from ..classify.answer import SEPARATOR
from . import Update
from .csvlog import escape_source
from .text import probability

log = logging.getLogger("gisaxs_live.frames")


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
            source = escape_source(r.source)  # as the CSV log writes it: a line break in a name cannot split the line
            name = source if not r.frame else f"{source} #{r.frame}"
            if r.status == "ok":
                family, p_family = r.family()
                (t1, p1), (t2, p2) = r.ranked()[:2]
                ambiguous = f" [answer: {SEPARATOR.join(r.answer)}]" if len(r.answer) > 1 else ""
                log.info("%s ok %s %s (%s %s, %s %s)%s (%.0f ms)", name, family, probability(p_family), t1,
                         probability(p1), t2, probability(p2), ambiguous, r.latency_ms)
            else:
                level = logging.WARNING if r.status == "error" else logging.INFO
                log.log(level, "%s %s: %s (%.0f ms)", name, r.status, escape_source(r.message), r.latency_ms)

    def close(self) -> None:
        """Nothing to release."""
