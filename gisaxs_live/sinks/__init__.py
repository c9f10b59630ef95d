"""Where results go. After each batch (and on idle ticks) the daemon sends every sink an ``Update``.

As in bluesky's callbacks, a sink is critical or not: a critical sink's exception (the CSV log) stops
the daemon; a non-critical one's (the dashboard, log lines) is logged and that update skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ..results import Result

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Update:
    """The daemon's news: new ``results`` (may be empty), files waiting (``queue_depth`` of at most
    ``queue_limit``), and one-line ``source`` and ``model`` states."""

    results: tuple[Result, ...] = ()
    queue_depth: int = 0
    queue_limit: int = 0
    source: str = ""
    model: str = ""


class Sink(Protocol):
    critical: bool

    def update(self, update: Update) -> None: ...

    def close(self) -> None: ...


def emit(sinks: Iterable[Sink], update: Update) -> None:
    """Send ``update`` to each sink; re-raise a critical sink's exception, log a non-critical one's."""
    for sink in sinks:
        try:
            sink.update(update)
        except Exception:
            if sink.critical:
                raise
            log.exception("%s failed; update skipped", type(sink).__name__)


def close_all(sinks: Iterable[Sink]) -> None:
    """Close every sink, then re-raise the first critical sink's exception; log non-critical ones'."""
    failure: Exception | None = None
    for sink in sinks:
        try:
            sink.close()
        except Exception as exc:
            if sink.critical:
                failure = failure or exc
            else:
                log.exception("%s failed to close", type(sink).__name__)
    if failure is not None:
        raise failure
