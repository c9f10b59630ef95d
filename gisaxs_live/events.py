"""Class-change events: the top-1 family changed and held (hysteresis); pure, no I/O.

``ChangeDetector`` is fed every ``Result`` in arrival order. The first ``ok`` frame sets the current family
(no event). A frame is *for* a new family when that family is its top-1 and its probability exceeds the
current family's, in the same frame, by at least ``margin``. ``hold_frames`` consecutive ``ok`` frames for the
same new family make one event, and that family becomes the current one. An ``ok`` frame whose top-1 is the
current family, or a new family without the margin, breaks a pending change; a frame for yet another family
starts a new one. ``error``, ``no_signal`` and ``unknown`` rows carry no family: they neither confirm nor break
a pending change (a run of bad frames between two good ones is skipped over). With ``series_of`` (a stream: the
series a row's source names), an ``ok`` frame of another series than the last one starts the detector afresh:
a new series is another sample or scan, and its first frame sets the family without an event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .classify.families import partition, ranked_families
from .results import Result


@dataclass(frozen=True)
class Event:
    """One class change, at the frame that confirmed it; probabilities are that frame's family sums (0..1)."""

    time_utc: str
    source: str
    frame: int
    from_family: str
    to_family: str
    p_from: float
    p_to: float

    def describe(self) -> str:
        """One line, e.g. ``hemispheroid -> spheroid at growth_00012.cbf (p 0.12 -> 0.81)``."""
        where = f"{self.source} #{self.frame}" if self.frame else self.source
        return (f"class change {self.from_family} -> {self.to_family} at {where} "
                f"(p {self.p_from:.2f} -> {self.p_to:.2f}, {self.time_utc})")


class ChangeDetector:
    """Hysteresis on the top-1 family: ``hold_frames`` (>= 1) consecutive ``ok`` frames, each with the new
    family ahead of the current one by ``margin`` (probability, 0..1); with ``series_of`` (a row's source → its
    series), afresh at each new series (see the module's notes)."""

    def __init__(self, hold_frames: int = 3, margin: float = 0.1,
                 series_of: Callable[[str], str] | None = None) -> None:
        self.hold_frames = hold_frames
        self.margin = margin
        self.series_of = series_of
        self._series: str | None = None
        self.current: str | None = None
        self._pending: str | None = None
        self._count = 0

    def feed(self, result: Result) -> Event | None:
        """The event ``result`` confirms, if any."""
        if result.status != "ok" or not result.probabilities:
            return None
        families = dict(ranked_families(result.probabilities, result.class_names,
                                        partition(result.class_names, result.families)))
        top, p_top = next(iter(families.items()))
        series = None if self.series_of is None else self.series_of(result.source)
        if series != self._series:
            self._series, self.current, self._pending, self._count = series, None, None, 0
        if self.current is None:
            self.current = top
            return None
        p_current = families.get(self.current, 0.0)
        if top == self.current or p_top - p_current < self.margin - 1e-9:  # rounding: 0.6 - 0.5 is a 0.1 margin
            self._pending, self._count = None, 0
            return None
        if top != self._pending:
            self._pending, self._count = top, 0
        self._count += 1
        if self._count < self.hold_frames:
            return None
        event = Event(result.time_utc, result.source, result.frame, self.current, top, p_current, p_top)
        self.current, self._pending, self._count = top, None, 0
        return event
