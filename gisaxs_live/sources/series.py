"""Bookkeeping of one detector series on a stream: images announced, images seen, frame ids skipped; and
the report of a series that ended with images missing (cut short: the publisher died, the detector was
disarmed early, frames went to another client), so that no lost frame goes unsaid.

A series is closed by its end message, by the next series (its header, or an image of another series),
by a frame id that goes backwards (the publisher restarted the series), or by the stream's stop. Only an
end message closes it as complete; a series closed otherwise with the count unknown is still reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Trigger modes where each trigger gives one image, whatever ``nimages`` says (EIGER2 manual, 9.3, 9.5).
ENABLE_MODES = ("inte", "exte")
#: Trigger modes where the images are ``nimages`` per trigger (EIGER2 manual, 9.2, 9.4); the default.
TRIGGER_MODES = ("ints", "exts")


def expected_images(config: Mapping[str, Any]) -> int | None:
    """The images a series header's detector ``config`` announces: ``nimages`` x ``ntrigger`` (ints,
    exts or no trigger_mode), ``ntrigger`` (inte, exte); None when the keys are absent, not positive
    integers, or the trigger mode is another (eies, extg)."""
    mode = config.get("trigger_mode", "ints")
    ntrigger, nimages = config.get("ntrigger"), config.get("nimages")
    if type(ntrigger) is not int or ntrigger < 1:
        return None
    if mode in ENABLE_MODES:
        return ntrigger
    if mode in TRIGGER_MODES and type(nimages) is int and nimages >= 1:
        return nimages * ntrigger
    return None


@dataclass
class SeriesProgress:
    """One series as received: whether its ``header`` came, the ``expected`` images (None: unknown), image
    messages ``seen`` (decodable or not), frame ids ``skipped`` (gaps), the ``next_frame`` id (None: unknown)."""

    series: int
    header: bool = False
    expected: int | None = None
    seen: int = 0
    skipped: int = 0
    next_frame: int | None = 0

    def image(self, frame: int) -> int:
        """Count an image with id ``frame``; returns the frame ids it shows were skipped (a gap). An id past
        the announced count (corrupt) is counted as seen, but is neither a gap nor the new position."""
        self.seen += 1
        if self.expected is not None and frame >= self.expected:
            return 0
        gap = frame - self.next_frame if self.next_frame is not None and frame > self.next_frame else 0
        self.skipped += gap
        self.next_frame = frame + 1
        return gap

    def restarted(self, frame: int) -> bool:
        """Whether an image with id ``frame`` starts the series again (its id is below the last one's)."""
        return self.next_frame is not None and self.seen > 0 and frame < self.next_frame - 1

    @property
    def missing(self) -> int:
        """Announced images not seen (0 when the count is unknown)."""
        return 0 if self.expected is None else max(self.expected - self.seen, 0)

    def shortfall(self, how: str, ended: bool) -> str | None:
        """The report for closing the series (``how``: e.g. ``ended``, ``cut short (series 8 started)``;
        ``ended``: by its end message), or None when nothing is known to be missing."""
        if self.missing:
            return (f"series {self.series} {how}: {self.seen} of {plural(self.expected, 'image')} received, "
                    f"{self.missing} missing")
        if self.expected is None and not ended:
            why = "its header gives no image count" if self.header else "its header was not received"
            return (f"series {self.series} {how}: {plural(self.seen, 'image')} received, no end message, "
                    f"the count expected is unknown ({why})")
        return None


def plural(n: int, noun: str) -> str:
    """``1 image``, ``2 images``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
