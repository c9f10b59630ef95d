"""The per-frame result and its CSV row, shared by ``classify``, ``watch``, ``stream`` and ``tail``.

Columns: time_utc, source, frame, status, family, p_family, answer, top1, p1, top2, p2, one p_<class> per class in
the model's order, ood_score, the size columns (``classify.size.SIZE_COLUMNS``: D_y_nm, D_y_err_nm, aspect,
aspect_err, fwhm_nm, fwhm_err_nm, distance_nm, distance_err_nm, corr_distance_nm, guinier_radius_nm),
latency_ms, message.

``status`` is ``ok``, ``unknown`` (the frame is unlike every class the model knows: ``ood_score`` above the
model's threshold; the CNN's ranking is still written, but no family), ``no_signal`` or ``error``. ``family``
is the most probable degenerate family (``classify/families.py``; the class itself when it is in none) and
``p_family`` its summed probability; ``answer`` the calibrated set of families (``classify/answer.py``: the
families, most probable first, joined by `` or ``, that hold the true one in 95 % of held-out patterns; the top
family alone for a model without that calibration); family, answer and probabilities are empty unless ``ok``
(probabilities also for ``unknown``); ``ood_score`` is empty when the model has no out-of-distribution statistics; ``message``
explains the ``unknown``, ``no_signal`` and ``error`` rows. The size columns (``Result.size``; definitions and
units in ``classify/size.py``) hold the size net's estimates on ``ok`` rows and the model-free descriptors on
``ok`` and ``unknown`` rows; empty where not determined. Logs written before a column existed parse too.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .classify.answer import SEPARATOR
from .classify.families import DEFAULT_FAMILIES, Families, partition, ranked_families
from .classify.size import SIZE_COLUMNS, SizeEstimate
from .simulator.shapes import CLASS_NAMES

Status = Literal["ok", "unknown", "no_signal", "error"]
STATUSES: tuple[str, ...] = ("ok", "unknown", "no_signal", "error")
#: statuses whose rows carry the CNN's probabilities
RANKED: tuple[str, ...] = ("ok", "unknown")


def csv_columns(class_names: Sequence[str] = CLASS_NAMES) -> list[str]:
    return (["time_utc", "source", "frame", "status", "family", "p_family", "answer", "top1", "p1", "top2", "p2"]
            + [f"p_{name}" for name in class_names] + ["ood_score", *SIZE_COLUMNS, "latency_ms", "message"])


def probability_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The class order of a log from its header: its ``p_<class>`` columns (``p_family`` is not one)."""
    return tuple(c[2:] for c in columns if c.startswith("p_") and c != "p_family")


def utc_now() -> str:
    """ISO 8601 UTC time with milliseconds, e.g. 2026-11-25T03:04:05.678Z."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def latency_ms(t: float) -> float:
    """Milliseconds from ``t`` (Unix s: a frame's arrival or acquisition) to now, 0 for a ``t`` still to come."""
    return max(0.0, (time.time() - t) * 1e3)


def parse_time(time_utc: str) -> float:
    """Unix s of a ``time_utc`` field (ISO 8601, ``Z``, as ``utc_now`` writes it); a ValueError for another text."""
    return dt.datetime.fromisoformat(time_utc.replace("Z", "+00:00")).timestamp()


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
    #: the model's degenerate families (``classify.families``)
    families: Families = DEFAULT_FAMILIES
    #: out-of-distribution score (``classify.ood``; larger = less like the training patterns), None if not computed
    ood_score: float | None = None
    #: size and shape parameters (``classify.size``), None where none were estimated
    size: SizeEstimate | None = None
    #: the calibrated answer set of families (``classify.answer``), most probable first; empty unless ``ok``
    answer: tuple[str, ...] = ()
    #: the uint8 model input the probabilities came from (for previews; not written to the CSV)
    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    #: for a Result read back from a log: its top1 and top2 columns, which break ties among the probabilities
    #: rounded to 4 decimals as the writer ranked them (1.0000 and seven 0.0000 would fall back to class order)
    written_top: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def ranked(self) -> list[tuple[str, float]]:
        """(class, probability) from most to least probable; empty without probabilities."""
        first = {name: i for i, name in enumerate(self.written_top)}
        return sorted(zip(self.class_names, self.probabilities),
                      key=lambda item: (-item[1], first.get(item[0], len(first))))

    def family(self) -> tuple[str, float] | None:
        """(family, summed probability) of the most probable family; None unless ``ok``."""
        if self.status != "ok" or not self.probabilities:
            return None
        return ranked_families(self.probabilities, self.class_names, partition(self.class_names, self.families))[0]

    def row(self) -> list[str]:
        """The CSV fields, in ``csv_columns`` order."""
        fmt = (lambda p: f"{p:.4f}")
        top = self.ranked()
        (top1, p1), (top2, p2) = (top[:2] if len(top) >= 2 else [("", ""), ("", "")])
        family = self.family()
        probs = [fmt(p) for p in self.probabilities] if self.probabilities else [""] * len(self.class_names)
        return [self.time_utc or utc_now(), self.source, str(self.frame), self.status,
                family[0] if family else "", fmt(family[1]) if family else "", SEPARATOR.join(self.answer),
                top1, fmt(p1) if top else "", top2, fmt(p2) if top else "", *probs,
                "" if self.ood_score is None else f"{self.ood_score:.2f}",
                *(self.size or SizeEstimate()).fields(), f"{self.latency_ms:.1f}", " ".join(self.message.split())]

    @classmethod
    def from_row(cls, row: dict[str, str], class_names: Sequence[str] = CLASS_NAMES) -> "Result":
        """Parse a CSV row (as ``csv.DictReader`` gives it) back into a Result; logs written before the
        ``family``, ``answer``, ``ood_score`` and size columns existed parse too (the family is recomputed from the probabilities
        with the default families)."""
        status = row["status"]
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        probs = tuple(float(row[f"p_{c}"]) for c in class_names) if status in RANKED else ()
        if not all(0.0 <= p <= 1.0 for p in probs):  # NaN and inf too: no model wrote them
            raise ValueError("a probability outside [0, 1]")
        parse_time(row["time_utc"])  # a ValueError for a time no writer gave
        ood = row.get("ood_score") or ""  # absent in logs written before the column existed
        written = tuple((row.get("family") or "").split("|"))  # the writing model's family, where it had one
        families = ((written,) if len(written) > 1 else ()) + tuple(
            g for g in DEFAULT_FAMILIES if not set(g) & set(written))
        return cls(source=row["source"], frame=int(row["frame"]), status=status, probabilities=probs,
                   latency_ms=float(row["latency_ms"] or 0.0), message=row.get("message", ""),
                   time_utc=row["time_utc"], class_names=tuple(class_names), families=families,
                   ood_score=float(ood) if ood else None, size=SizeEstimate.from_fields(row),
                   answer=tuple(a for a in (row.get("answer") or "").split(SEPARATOR) if a),
                   written_top=tuple(row[k] for k in ("top1", "top2") if row.get(k)))
