"""DECTRIS pixel conventions shared by every DECTRIS path (SIMPLON v1, Stream V2, Eiger HDF5 files)."""

from __future__ import annotations

import numpy as np


def flagged_pixels(data: np.ndarray) -> np.ndarray | None:
    """Pixels at the maximum of an unsigned pixel type (2^16 - 1, 2^32 - 1, ...), True = bad: DECTRIS marks
    defective and gap pixels (and, with the count-rate correction, overflowing ones) so, whether or not a
    pixel mask is sent. None when there are none (or the type is not unsigned)."""
    if data.dtype.kind != "u":
        return None
    flagged = data == np.iinfo(data.dtype).max
    return flagged if flagged.any() else None
