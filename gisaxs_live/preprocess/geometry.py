"""Detector pixels → exit angles and wavevector transfer (nm⁻¹), exact for a flat detector.

Each pixel centre is placed in the laboratory frame (mm): ``along`` the direct beam, ``up`` and
``across`` perpendicular to it, with the direct beam at up = across = 0. Either from the configured
distance, pixel size and direct-beam pixel (a detector normal to the beam), or from a pyFAI ``.poni``
file (tilts included; pyFAI is imported only then). "Up" follows the configured axis convention
(row 0 = top unless ``transpose`` / ``flip_rows`` / ``flip_columns`` say otherwise), never pyFAI's.

The ray to a pixel is then rotated into the sample frame, whose surface lies α_i above the direct
beam: sin α_f = u_up cos α_i − u_along sin α_i, q_y = k u_across, q_z = k (sin α_i + sin α_f),
q_x = k (u_along cos α_i + u_up sin α_i − cos α_i), with u the unit vector to the pixel. This is
q_y = k cos α_f sin 2θ_f with 2θ_f, α_f the in-plane and exit angles; at 2θ_f = 0, α_f + α_i is
exactly the pixel's elevation above the direct beam.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..causes import first_line
from ..config import DISTANCE_RANGE_MM, Geometry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PixelQ:
    """Per pixel (detector shape): q_x, q_y (signed), q_z (nm⁻¹) and the exit angle α_f (rad)."""

    qx: np.ndarray
    qy: np.ndarray
    qz: np.ndarray
    alpha_f: np.ndarray


class DetectorGeometry:
    """Pixel positions of one configured detector; a PONI file is read once, here (a ValueError starting
    "geometry.poni_file:" when it cannot be used)."""

    def __init__(self, geometry: Geometry) -> None:
        self.config = geometry
        try:
            self._poni = None if geometry.poni_file is None else _load_poni(geometry.poni_file)
        except ValueError as exc:
            raise ValueError(f"geometry.poni_file: {exc}") from None

    @property
    def detector_shape(self) -> tuple[int, int] | None:
        """(rows, columns) of the detector, where the config (``geometry.detector_shape``) or the PONI file gives it."""
        if self.config.detector_shape is not None:
            return tuple(self.config.detector_shape)
        if self._poni is not None and self._poni.detector.shape is not None:
            return tuple(self._poni.detector.shape)
        return None

    @property
    def poni_wavelength_nm(self) -> float | None:
        """The wavelength (nm) the PONI file gives, None without a PONI file or a wavelength in it. Only its
        detector placement is used: the wavelength is ``experiment.wavelength_nm``."""
        wavelength_m = None if self._poni is None else self._poni.wavelength
        return None if not wavelength_m else float(wavelength_m) * 1e9

    def positions_mm(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(along, up, across) of every pixel centre (mm), broadcastable to ``shape``."""
        if self.config.detector_shape is not None and tuple(self.config.detector_shape) != tuple(shape):
            raise ValueError(f"shape {shape_text(shape)} does not match the geometry's detector "
                             f"{shape_text(self.config.detector_shape)} (geometry.detector_shape)")
        if self._poni is not None and self._poni.detector.shape is not None:
            expected = tuple(self._poni.detector.shape)
            if expected != tuple(shape):
                raise ValueError(f"a frame of {shape_text(shape)} pixels, the PONI file's detector "
                                 f"{shape_text(expected)}")
        rows = np.arange(shape[0], dtype=np.float64)[:, np.newaxis]
        cols = np.arange(shape[1], dtype=np.float64)[np.newaxis, :]
        along, d_row, d_col = self._array_positions_mm(rows, cols)
        g = self.config
        a, b = (d_col, d_row) if g.transpose else (d_row, d_col)
        a = -a if g.flip_rows else a
        b = -b if g.flip_columns else b
        return along, -a, b

    def direct_beam_px(self, shape: tuple[int, int]) -> tuple[float, float]:
        """(column, row) where the direct beam meets the detector plane, in array pixels."""
        if self._poni is None:
            return self.config.direct_beam_px
        # a flat detector maps pixel indices affinely onto the plane: solve lateral position = 0
        _, d_row, d_col = self._array_positions_mm(np.array([[0.0], [1.0]]), np.array([[0.0, 1.0]]))
        origin = np.array([d_row[0, 0], d_col[0, 0]])
        per_row = np.array([d_row[1, 0], d_col[1, 0]]) - origin
        per_col = np.array([d_row[0, 1], d_col[0, 1]]) - origin
        row, col = np.linalg.solve(np.column_stack([per_row, per_col]), -origin)
        return float(col), float(row)

    def pixel_q(self, shape: tuple[int, int], k: float, alpha_i: float) -> PixelQ:
        """q of every pixel for wave number ``k`` (nm⁻¹) and incidence angle ``alpha_i`` (rad)."""
        along, up, across = (np.broadcast_to(v, shape) for v in self.positions_mm(shape))
        norm = np.sqrt(along**2 + up**2 + across**2)
        u_along, u_up, u_across = along / norm, up / norm, across / norm
        ca, sa = np.cos(alpha_i), np.sin(alpha_i)
        sin_af = u_up * ca - u_along * sa
        return PixelQ(qx=k * (u_along * ca + u_up * sa - ca), qy=k * u_across,
                      qz=k * (sin_af + sa), alpha_f=np.arcsin(np.clip(sin_af, -1.0, 1.0)))

    def _array_positions_mm(self, rows: np.ndarray, cols: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
        """(along, displacement toward larger rows, toward larger columns) in mm, lab frame, of the
        pixel centres at broadcastable ``rows`` × ``cols`` (array indices)."""
        if self._poni is None:
            g = self.config
            size_x, size_y = g.pixel_size_xy_mm
            beam_col, beam_row = g.direct_beam_px
            return np.float64(g.distance_mm), (rows - beam_row) * size_y, (cols - beam_col) * size_x
        ai = self._poni
        r, c = np.broadcast_arrays(rows, cols)
        z, y, x = ai.calc_pos_zyx(d1=np.ascontiguousarray(r), d2=np.ascontiguousarray(c))
        # pyFAI counts rows (columns) from the far edge for orientations 1, 2 (1, 4): undo its flips
        orientation = int(ai.detector.orientation or 3)
        row_sign = -1.0 if orientation in (1, 2) else 1.0
        col_sign = -1.0 if orientation in (1, 4) else 1.0
        return np.asarray(z) * 1e3, row_sign * np.asarray(y) * 1e3, col_sign * np.asarray(x) * 1e3


def shape_text(shape: tuple[int, ...]) -> str:
    """``1043×981`` for (1043, 981)."""
    return "×".join(str(n) for n in shape)


def _load_poni(path: Path) -> Any:
    """A pyFAI geometry from ``path``; pyFAI is imported here only (import and load: 0.7 s measured)."""
    _pyfai_log_to_debug()
    try:
        import pyFAI
    except ImportError:
        raise ValueError(f"{path}: reading a PONI file needs pyFAI (pip install 'gisaxs-live[poni]')") from None
    try:
        geometry = pyFAI.load(str(path))
    except Exception as exc:  # pyFAI raises many types for a bad file
        raise ValueError(f"{path}: not a readable PONI file ({_poni_cause(exc)})") from None
    missing = [key for key in PONI_KEYS if key.lower() not in _poni_keys(path)]
    if missing:  # pyFAI reads any file, an empty one too, and fills in defaults (1 m, the corner of the detector)
        raise ValueError(f"{path}: not a PONI file: it does not give {', '.join(missing)}")
    if geometry.detector.pixel1 is None or geometry.detector.pixel2 is None:
        raise ValueError(f"{path}: its detector has no pixel size (a PONI file names the detector or gives "
                         "PixelSize1 and PixelSize2)")
    values = {"Distance": geometry.dist, "Poni1": geometry.poni1, "Poni2": geometry.poni2, "Rot1": geometry.rot1,
              "Rot2": geometry.rot2, "Rot3": geometry.rot3}
    for key, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{path}: its {key} {value} is not a finite number")
        if key.startswith("Rot") and abs(value) > 2 * math.pi:
            raise ValueError(f"{path}: its {key} {value:g} rad is more than a whole turn (PONI angles are in rad)")
    low, high = DISTANCE_RANGE_MM
    if not low <= geometry.dist * 1e3 <= high:
        raise ValueError(f"{path}: its Distance {geometry.dist:g} m is outside {low / 1e3:g}-{high / 1e3:g} m (PONI "
                         "distances are in m, sample to detector)")
    return geometry


def _poni_cause(exc: Exception) -> str:
    """Why pyFAI could not read a PONI file, in words where its text is Python's own."""
    import json

    said = first_line(exc, "pyFAI could not read it")
    if isinstance(exc, UnicodeDecodeError):
        return f"byte {exc.start} is not UTF-8 text: a binary file, not a PONI file"
    if isinstance(exc, json.JSONDecodeError):
        return f"its Detector_config is not JSON ({exc.msg} at character {exc.pos})"
    number = re.match(r"could not convert string to float: (.*)", said)
    if number:
        return f"a value that is not a number: {number[1]}"
    return said


#: what a PONI file must give, whatever its version
PONI_KEYS = ("Distance", "Poni1", "Poni2")


def _poni_keys(path: Path) -> set[str]:
    """The keys (lower case) of the ``key: value`` lines of the text file ``path``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {line.split(":", 1)[0].strip().lower() for line in text.splitlines() if ":" in line}


def _pyfai_log_to_debug() -> None:
    """pyFAI's and silx's log lines (at import: "Unable to import pyOpenCl"; for a bad file its complaint, which
    ``_load_poni``'s error says in a line of its own) go to this module's log at debug level, not to stderr."""
    for name in ("pyFAI", "silx"):
        library = logging.getLogger(name)
        if not any(isinstance(handler, _ToDebug) for handler in library.handlers):
            library.addHandler(_ToDebug())
            library.propagate = False


class _ToDebug(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        log.debug("%s: %s", record.name, record.getMessage())
