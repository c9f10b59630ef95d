"""The decoded-message shape every DECTRIS stream protocol (SIMPLON stream v1, Stream V2) hands to the stream
handler, so that the handler, and the daemon behind it, never know which protocol a frame came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np


@dataclass(frozen=True)
class SeriesStart:
    """The start of series ``series`` (a v1 ``dheader-1.0``, a V2 ``start``): the images it announces
    (``expected``; None: not given), its ``pixel_mask`` (bool (y, x), True = bad; None: none, or none
    usable), a short ``description`` for the log, and a ``warning`` about a part of it that could not be
    used (the series is classified all the same)."""

    series: int
    expected: int | None = None
    pixel_mask: np.ndarray | None = None
    description: str = ""
    warning: str | None = None


@dataclass(frozen=True)
class Image:
    """One decoded image (y, x) of series ``series``, id ``frame`` within it; ``channel`` names the
    threshold channel it was taken from (Stream V2; None for protocols without channels)."""

    series: int
    frame: int
    data: np.ndarray
    channel: str | None = None


@dataclass(frozen=True)
class SeriesEnd:
    """The end of series ``series``."""

    series: int


Decoded = Union[SeriesStart, Image, SeriesEnd]
