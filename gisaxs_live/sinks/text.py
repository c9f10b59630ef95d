"""Numbers in words for people: counts with their plural, and probabilities rounded the same way from a
float (the dashboard) and from the CSV log's 4-decimal strings (``gisaxs-live tail``)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

#: decimals of a probability in the CSV log (``Result.row``)
CSV_DECIMALS = 4
_SHOWN = Decimal("0.001")


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 frame``, ``2 frames``, ``0 frames``; ``many`` for an irregular plural."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"


def probability(p: float) -> str:
    """``p`` with 3 decimals, rounded half up from the 4 decimals the CSV log keeps, so that a row shows the
    same figure live and read back from the log (0.98449 and the logged 0.9845 both give 0.985)."""
    return str(Decimal(f"{p:.{CSV_DECIMALS}f}").quantize(_SHOWN, rounding=ROUND_HALF_UP))
