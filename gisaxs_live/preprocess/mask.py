"""Pixel masks (True = masked): the configured, static part, and the per-frame part of each frame.

Static: the mask file, the beam stop, rectangles, circles and the aperture, for one detector shape
(pixels of the array as fabio returns it). Per frame: negative counts (Pilatus gaps and dead pixels,
which may appear at any time), counts above the count cutoff (``max_count``, else the file header's)
and NaN / inf; the frame's own mask and isolated hot pixels (``hotpixels``) are added by the
preprocessor.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..config import Config, Mask
from .geometry import DetectorGeometry, shape_text

INT32_MAX = 2**31 - 1


def static_mask(mask: Mask, shape: tuple[int, int], direct_beam_px: tuple[float, float]) -> np.ndarray:
    """The configured mask for a detector of ``shape``; the beam stop is centred on
    ``direct_beam_px`` (column, row) unless it names its own centre."""
    masked = np.zeros(shape, dtype=bool)
    if mask.file is not None:
        from_file = read_mask_file(mask.file)
        if from_file.shape != tuple(shape):
            raise ValueError(f"mask file {mask.file} is {shape_text(from_file.shape)} pixels, the frame "
                             f"{shape_text(shape)}")
        masked |= from_file
    rows = np.arange(shape[0])[:, np.newaxis]
    cols = np.arange(shape[1])[np.newaxis, :]
    stop = mask.beamstop
    if stop is not None:
        col0, row0 = stop.centre_px if stop.centre_px is not None else direct_beam_px
        if stop.shape == "circle":
            masked |= (cols - col0) ** 2 + (rows - row0) ** 2 <= stop.radius_px**2
        else:
            width, height = stop.size_px
            masked |= (np.abs(cols - col0) <= width / 2) & (np.abs(rows - row0) <= height / 2)
    for col_min, row_min, col_max, row_max in mask.rectangles:
        masked[max(row_min, 0):max(row_max + 1, 0), max(col_min, 0):max(col_max + 1, 0)] = True
    for col0, row0, radius in mask.circles:
        masked |= (cols - col0) ** 2 + (rows - row0) ** 2 <= radius**2
    if mask.aperture_px is not None:
        col0, row0, radius = mask.aperture_px
        masked |= (cols - col0) ** 2 + (rows - row0) ** 2 > radius**2
    return masked


def check_setup(config: Config) -> list[str]:
    """Read what the config's detector setup names before any frame comes: the PONI file, the mask file, and
    compare the mask's shape with the detector's where the config or the PONI file gives it. Raises a ValueError
    naming the file and the cause; returns what is worth a warning but usable (a PONI wavelength not the
    experiment's: the PONI file places the detector only)."""
    geometry = DetectorGeometry(config.geometry)
    notes = []
    poni_nm, used_nm = geometry.poni_wavelength_nm, config.experiment.wavelength_nm
    if poni_nm is not None and abs(poni_nm - used_nm) > WAVELENGTH_TOLERANCE * used_nm:
        notes.append(f"geometry.poni_file gives a wavelength of {poni_nm:.5g} nm, experiment.wavelength_nm "
                     f"{used_nm:.5g} nm: the latter is used (the PONI file places the detector only)")
    if config.mask.file is None:
        return notes
    masked = read_mask_file(config.mask.file)
    detector = geometry.detector_shape
    if detector is not None and masked.shape != detector:
        given_by = "geometry.detector_shape" if config.geometry.detector_shape else "its PONI file"
        raise ValueError(f"mask.file: {config.mask.file} is {shape_text(masked.shape)} pixels, the detector "
                         f"{shape_text(detector)} ({given_by})")
    return notes


#: relative difference of the PONI file's wavelength from the experiment's that is worth a warning
WAVELENGTH_TOLERANCE = 1e-3


@lru_cache(maxsize=4)
def read_mask_file(path: Path) -> np.ndarray:
    """A mask image as bool (nonzero = masked), its first frame, read as frames are (``sources.files``): a file that
    cannot be read is a ValueError whose cause is a sentence about it ("empty file", "truncated CBF: …")."""
    from ..sources.files import first_frame

    frame, problem = first_frame(path, 0.0)
    if frame is None:
        raise ValueError(f"mask file {problem}")
    return np.asarray(frame.data) != 0


def valid_counts(values: np.ndarray, negative_is_masked: bool, max_count: float | None) -> np.ndarray:
    """Per value (counts): True where usable: not negative (if ``negative_is_masked``), not above
    ``max_count`` (None: no limit), finite."""
    valid = np.ones(values.shape, dtype=bool)
    if negative_is_masked:
        valid &= values >= 0
    if max_count is not None:
        valid &= values <= max_count
    if values.dtype.kind == "f":
        valid &= np.isfinite(values)
    return valid


def invalid_counts(values: np.ndarray, negative_is_masked: bool, max_count: float | None) -> np.ndarray | None:
    """Per value of ``values`` (counts of the table's pixels): True where unusable (see ``valid_counts``);
    None where no check applies (integer counts, negatives kept, no cutoff). Pilatus int32 counts take
    one unsigned comparison: negative values are above 2³¹ − 1 as uint32."""
    if values.dtype == np.int32 and negative_is_masked:
        limit = INT32_MAX if max_count is None or max_count >= INT32_MAX else math.floor(max_count)
        return values.view(np.uint32) > limit
    if values.dtype.kind in "iu" and not negative_is_masked and max_count is None:
        return None
    return ~valid_counts(values, negative_is_masked, max_count)
