"""The one object that flows from a source to the classifier."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class FrameError(ValueError):
    """A frame cannot be read or used; the message names the input and the cause on one line."""


@dataclass(frozen=True)
class Frame:
    """One detector image.

    ``data`` is 2-D in detector counts, rows and columns as fabio returns them (row 0 = top of the
    detector). ``source`` names where it came from (a file path, or ``endpoint series N``), ``frame_id``
    its index there (0 for single-frame files), ``t`` its arrival time (Unix s). ``mask`` (bool, True =
    bad) carries a pixel mask sent with the frame, e.g. by a detector stream; the configured masks are
    added in preprocessing. ``count_cutoff`` (counts) is the detector's own limit where the file's header
    gives one (a Pilatus CBF's ``Count_cutoff``): counts above it are masked unless the config sets
    ``mask.max_count``.
    """

    data: np.ndarray
    source: str
    frame_id: int
    t: float
    mask: np.ndarray | None = None
    count_cutoff: float | None = None
