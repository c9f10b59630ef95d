"""The per-frame result and its CSV row, shared by ``classify``, ``watch``, ``stream`` and ``tail``.

Columns: time_utc, source, frame, status, top1, p1, top2, p2, one p_<class> per class in the model's
order, latency_ms, message. ``status`` is ``ok``, ``no_signal`` or ``error``; probabilities are empty
unless ``ok``; ``message`` explains ``no_signal`` and ``error`` rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .simulator.shapes import CLASS_NAMES

Status = Literal["ok", "no_signal", "error"]
STATUSES: tuple[str, ...] = ("ok", "no_signal", "error")


def csv_columns(class_names: Sequence[str] = CLASS_NAMES) -> list[str]:
    return (["time_utc", "source", "frame", "status", "top1", "p1", "top2", "p2"]
            + [f"p_{name}" for name in class_names] + ["latency_ms", "message"])


def utc_now() -> str:
    """ISO 8601 UTC time with milliseconds, e.g. 2026-11-25T03:04:05.678Z."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Result:
    """What the monitor says about one frame."""

    source: str
    frame: int
    status: Status
    probabilities: tuple[float, ...] = ()
    latency_ms: float = 0.0
    message: str = ""
    time_utc: str = ""
    class_names: tuple[str, ...] = CLASS_NAMES
    #: the uint8 model input the probabilities came from (for previews; not written to the CSV)
    image: np.ndarray | None = field(default=None, compare=False, repr=False)

    def ranked(self) -> list[tuple[str, float]]:
        """(class, probability) from most to least probable; empty unless ``ok``."""
        return sorted(zip(self.class_names, self.probabilities), key=lambda item: -item[1])

    def row(self) -> list[str]:
        """The CSV fields, in ``csv_columns`` order."""
        top = self.ranked()
        (top1, p1), (top2, p2) = (top[:2] if len(top) >= 2 else [("", ""), ("", "")])
        fmt = (lambda p: f"{p:.4f}")
        probs = [fmt(p) for p in self.probabilities] if self.probabilities else [""] * len(self.class_names)
        return [self.time_utc or utc_now(), self.source, str(self.frame), self.status,
                top1, fmt(p1) if top else "", top2, fmt(p2) if top else "", *probs,
                f"{self.latency_ms:.1f}", " ".join(self.message.split())]

    @classmethod
    def from_row(cls, row: dict[str, str], class_names: Sequence[str] = CLASS_NAMES) -> "Result":
        """Parse a CSV row (as ``csv.DictReader`` gives it) back into a Result."""
        status = row["status"]
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        probs = tuple(float(row[f"p_{c}"]) for c in class_names) if status == "ok" else ()
        return cls(source=row["source"], frame=int(row["frame"]), status=status, probabilities=probs,
                   latency_ms=float(row["latency_ms"] or 0.0), message=row.get("message", ""),
                   time_utc=row["time_utc"], class_names=tuple(class_names))
