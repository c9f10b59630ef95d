"""Bookkeeping of one detector series on a stream: images announced, images seen, frame ids skipped; and
the report of a series that ended with images missing (cut short: the publisher died, the detector was
disarmed early, frames went to another client), so that no lost frame goes unsaid.

A series is closed by its end message, by the next series (its header, or an image of another series),
by a frame id that goes backwards (the publisher restarted the series), or by the stream's stop. Only an
end message closes it as complete; a series closed otherwise with the count unknown is still reported.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..sinks.text import plural

#: most runs of received ids kept per series (about 140 B each): ids in order make one run, each gap one more
MAX_RUNS = 100_000
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
    messages ``seen`` (decodable or not, repeats and ``beyond`` included), frame ids ``skipped`` when they came
    (gaps), the ``next_frame`` id (None: unknown) and the distinct ids received (``runs``: sorted ``[first, end)``
    runs, one per stretch without a gap, so that a long series in order costs one)."""

    series: int
    header: bool = False
    expected: int | None = None
    seen: int = 0
    skipped: int = 0
    next_frame: int | None = 0
    runs: list[list[int]] = field(default_factory=list)
    beyond: int = 0  # image messages whose id was past the announced count (corrupt ids)
    untracked: int = 0  # ids that would have opened a run past MAX_RUNS: counted, not placed

    def image(self, frame: int) -> int:
        """Count an image with id ``frame``; returns how many more ids are known skipped: the gap it opens, or -1
        for a late one that fills a gap (out of order), 0 for a repeat. An id past the announced count (corrupt)
        is counted as seen, but is neither a gap nor the new position."""
        self.seen += 1
        if self.expected is not None and frame >= self.expected:
            self.beyond += 1
            return 0
        if self.next_frame is not None and frame < self.next_frame:  # late or repeated
            late = self._add(frame)
            if late and self.skipped:
                self.skipped -= 1
                return -1
            return 0
        self._add(frame)
        gap = frame - self.next_frame if self.next_frame is not None and frame > self.next_frame else 0
        self.skipped += gap
        self.next_frame = frame + 1
        return gap

    def restarted(self, frame: int) -> bool:
        """Whether an image with id ``frame`` starts the series again: below the last one's, and the first id
        received again (after the header, whose series starts at id 0) or, without the header, the first id
        received or below it; a late id between them fills a gap instead (out of order)."""
        if self.next_frame is None or not self.runs or frame >= self.next_frame - 1:
            return False
        first = self.runs[0][0]
        return frame == first if self.header else frame <= first

    @property
    def received(self) -> int:
        """Distinct image ids received (within the announced count; those past ``MAX_RUNS`` runs counted as new)."""
        return sum(end - first for first, end in self.runs) + self.untracked

    @property
    def missing(self) -> int:
        """Image ids not received: of the announced count, or, when it is unknown, the gaps between the first id
        (0 when the header came) and the last one received."""
        return sum(end - first for first, end in self.missing_runs())

    def missing_runs(self) -> list[tuple[int, int]]:
        """The ``[first, end)`` runs of ids not received (see ``missing``)."""
        if not self.runs:
            return [(0, self.expected)] if self.expected else []
        low = 0 if self.header or self.expected is not None else self.runs[0][0]
        high = self.expected if self.expected is not None else self.runs[-1][1]
        gaps, at = [], low
        for first, end in self.runs:
            if first > at:
                gaps.append((at, first))
            at = max(at, end)
        if high > at:
            gaps.append((at, high))
        return gaps

    def shortfall(self, how: str, ended: bool, missing: str = "missing") -> str | None:
        """The report for closing the series (``how``: e.g. ``ended``, ``cut short (series 8 started)``;
        ``ended``: by its end message), or None when nothing is known to be missing; ``missing``: what the images
        not received are called (at a stop they may still come, to the next process)."""
        repeats = self.seen - self.received - self.beyond
        again = (f"; {plural(repeats, 'image')} repeated an id" if repeats > 0 else "") + (
            f"; {plural(self.beyond, 'image')} came with an id past the count" if self.beyond else "") + (
            f"; {plural(self.untracked, 'id')} past the first {MAX_RUNS:,} gaps not placed, so the count missing is "
            "uncertain" if self.untracked else "")
        if self.expected is not None and self.missing:
            return (f"series {self.series} {how}: {self.received} of {plural(self.expected, 'image')} received, "
                    f"{self.missing} {missing} ({ids(self.missing_runs())}){again}")
        if self.expected is None and self.missing:
            return (f"series {self.series} {how}: {plural(self.received, 'image')} received, {self.missing} {missing} "
                    f"between them ({ids(self.missing_runs())}); the count expected is unknown{again}")
        if self.expected is None and not ended:
            why = "its header gives no image count" if self.header else "its header was not received"
            return (f"series {self.series} {how}: {plural(self.received, 'image')} received, no end message, "
                    f"the count expected is unknown ({why}){again}")
        return None

    def _add(self, frame: int) -> bool:
        """Note id ``frame`` as received (once); whether it was new (False: received before)."""
        runs = self.runs
        if runs and runs[-1][1] == frame:  # the next in order: the common case
            runs[-1][1] += 1
            return True
        i = bisect.bisect_right(runs, [frame, float("inf")])
        if i and runs[i - 1][1] > frame:  # received before
            return False
        if i and runs[i - 1][1] == frame:
            runs[i - 1][1] += 1
        elif len(runs) >= MAX_RUNS:  # a stream of scattered ids (corrupt, or hostile): bounded memory
            self.untracked += 1
            return True
        else:
            runs.insert(i, [frame, frame + 1])
            i += 1
        if i < len(runs) and runs[i - 1][1] == runs[i][0]:  # it joins the next run
            runs[i - 1][1] = runs.pop(i)[1]
        return True


def ids(runs: list[tuple[int, int]], most: int = 6) -> str:
    """``id 3``, ``ids 3, 5-7, 10``: the runs of image ids, at most ``most`` of them, then ``…``."""
    parts = [str(first) if end - first == 1 else f"{first}–{end - 1}" for first, end in runs[:most]]
    n = sum(end - first for first, end in runs)
    return f"{'id' if n == 1 else 'ids'} {', '.join(parts)}{', …' if len(runs) > most else ''}"

