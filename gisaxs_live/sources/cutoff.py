"""The detector's count cutoff from a file's header, where the header gives one.

A Pilatus CBF carries it in its mini-header, which fabio exposes as the header
entry ``_array_data.header_contents``: a line ``# Count_cutoff 1382835 counts``. Counts above it are
saturated, overflow markers or bad pixels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_COUNT_CUTOFF = re.compile(r"^#\s*Count_cutoff\s+(\d+)", re.MULTILINE)


def count_cutoff(header: Mapping[str, Any]) -> float | None:
    """The ``Count_cutoff`` (counts) of a fabio ``header``; None when it gives none."""
    contents = header.get("_array_data.header_contents")
    match = _COUNT_CUTOFF.search(contents) if isinstance(contents, str) else None
    return float(match.group(1)) if match else None
