"""A synthetic in-situ growth series on a Pilatus 1M, written like a detector writes: CBF via fabio,
in stages into a hidden ``.NAME.part`` file, then renamed into place.

Physics: the bundled simulator (DWBA, decoupling approximation, Percus–Yevick) for islands that grow
and change shape, hemispheroid → truncated spheroid → spheroid, through six key patterns; a frame
between two keys mixes their intensities (two populations). Detector: the configured geometry
(``preprocess.geometry``: default 2000 mm, 172 µm pixels, direct beam at column 490, row 900) on a
Pilatus 1M, 1043 rows × 981 columns of 5 × 2 modules (195 × 487 pixels, gaps of 17 rows and 7
columns, value −1), a round beam stop on the direct beam held by a rod from below (0 counts), a flat
background and Poisson counting noise.

Cheap: each key pattern is simulated once on a 256 × 384 (|q_y|, α_f) grid, q_x neglected as in the
training set, and interpolated in log intensity onto every pixel; a frame then costs a mix, a Poisson
draw and a CBF encode (tens of ms).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import map_coordinates

from ..config import Beamstop, Config
from ..preprocess.geometry import DetectorGeometry
from ..simulator.pattern import Optics, ensemble_intensity
from ..simulator.shapes import get_shape

PILATUS_1M = (1043, 981)  # rows, columns
MODULE = (195, 487)       # rows, columns of one module
GAP = (17, 7)             # rows, columns between modules
BEAMSTOP_RADIUS_PX = 14.0
ROD_HALF_WIDTH_PX = 4
PEAK_COUNTS = 3e4         # counts in the brightest pixel of a frame
BACKGROUND_COUNTS = 0.5   # flat background per pixel

#: (shape, parameters) of the key patterns, evenly spaced in time
KEYS: tuple[tuple[str, dict[str, float]], ...] = (
    ("hemispheroid", {"D_y": 8.0, "aspect": 0.5, "fwhm": 3.0}),
    ("hemispheroid", {"D_y": 12.0, "aspect": 0.5, "fwhm": 4.0}),
    ("truncated_spheroid", {"D_y": 16.0, "aspect": 0.7, "fwhm": 5.0, "h_ratio": 0.6}),
    ("truncated_spheroid", {"D_y": 20.0, "aspect": 0.7, "fwhm": 6.0, "h_ratio": 0.7}),
    ("spheroid", {"D_y": 25.0, "aspect": 0.8, "fwhm": 7.0}),
    ("spheroid", {"D_y": 30.0, "aspect": 0.8, "fwhm": 8.0}),
)


def module_gaps(shape: tuple[int, int] = PILATUS_1M) -> np.ndarray:
    """True in the gaps between Pilatus modules."""
    rows = np.arange(shape[0]) % (MODULE[0] + GAP[0]) >= MODULE[0]
    cols = np.arange(shape[1]) % (MODULE[1] + GAP[1]) >= MODULE[1]
    return rows[:, np.newaxis] | cols[np.newaxis, :]


def demo_config(config: Config) -> Config:
    """``config`` with the demo's beam stop and rod masked (rectangle: column range, rows to the bottom)."""
    col, row = config.geometry.direct_beam_px
    rod = (int(col) - ROD_HALF_WIDTH_PX, int(row), int(col) + ROD_HALF_WIDTH_PX, PILATUS_1M[0] - 1)
    mask = dataclasses.replace(config.mask, beamstop=Beamstop(shape="circle", radius_px=BEAMSTOP_RADIUS_PX),
                               rectangles=config.mask.rectangles + (rod,))
    return dataclasses.replace(config, mask=mask)


class GrowthSeries:
    """``n_frames`` frames of a growing deposit as seen by a Pilatus 1M with ``config``'s geometry."""

    def __init__(self, config: Config, n_frames: int, seed: int = 0) -> None:
        self.n_frames = n_frames
        self.rng = np.random.default_rng(seed)
        optics = Optics.from_experiment(config.experiment)
        q = DetectorGeometry(config.geometry).pixel_q(PILATUS_1M, optics.k, optics.alpha_i)
        qy = np.linspace(0.0, float(np.abs(q.qy).max()), 256)
        alpha_f = np.linspace(0.0, float(q.alpha_f.max()), 384)
        coords = np.stack([np.abs(q.qy) / qy[1], np.clip(q.alpha_f, 0.0, None) / alpha_f[1]])
        self.keys = []
        for name, params in KEYS:
            grid = ensemble_intensity(get_shape(name), params, np.zeros(1), qy[np.newaxis, :],
                                      alpha_f[:, np.newaxis], optics, config.simulation)
            log_i = np.log(np.maximum(grid, grid.max() * 1e-12)).T  # (q_y, α_f)
            pixels = np.exp(map_coordinates(log_i, coords, order=1, mode="nearest"))
            pixels[q.alpha_f < 0] = 0.0  # below the sample horizon
            self.keys.append((pixels / pixels.max()).astype(np.float32))
        beam_col, beam_row = config.geometry.direct_beam_px
        rows, cols = np.indices(PILATUS_1M)
        self.shadow = (((cols - beam_col) ** 2 + (rows - beam_row) ** 2 <= BEAMSTOP_RADIUS_PX**2)
                       | ((np.abs(cols - int(beam_col)) <= ROD_HALF_WIDTH_PX) & (rows >= int(beam_row))))
        self.gaps = module_gaps()

    def stage(self, index: int) -> str:
        """The shape dominating frame ``index``."""
        return KEYS[int(round(self._position(index)))][0]

    def frame(self, index: int) -> np.ndarray:
        """Counts (int32) of frame ``index``: −1 in module gaps, 0 behind the beam stop."""
        x = self._position(index)
        lo = min(int(x), len(self.keys) - 2)
        w = x - lo
        expected = PEAK_COUNTS * ((1 - w) * self.keys[lo] + w * self.keys[lo + 1]) + BACKGROUND_COUNTS
        counts = self.rng.poisson(expected).astype(np.int32)
        counts[self.shadow] = 0
        counts[self.gaps] = -1
        return counts

    def _position(self, index: int) -> float:
        """Where frame ``index`` lies on the key axis, 0 … len(KEYS) − 1."""
        return (len(KEYS) - 1) * index / max(self.n_frames - 1, 1)


def cbf_bytes(data: np.ndarray, header: dict[str, str] | None = None) -> bytes:
    """``data`` encoded by fabio as a byte-offset CBF."""
    from fabio.cbfimage import CbfImage

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "frame.cbf")
        CbfImage(data=data, header=header or {}).write(path)
        return Path(path).read_bytes()


def write_staged(path: str | Path, payload: bytes, stages: int = 3, pause_s: float = 0.0, rename: bool = True) -> float:
    """Write ``payload`` to ``path`` as a detector does: in ``stages`` flushed chunks ``pause_s`` apart,
    into a hidden ``.NAME.part`` renamed into place (``rename``) or in place. Returns the Unix time (s)
    right after the file was complete (closed or renamed)."""
    path = Path(path)
    target = path.with_name(f".{path.name}.part") if rename else path
    cuts = np.linspace(0, len(payload), stages + 1).astype(int)
    with open(target, "wb") as fh:
        for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
            fh.write(payload[a:b])
            fh.flush()
            if pause_s and i < stages - 1:
                time.sleep(pause_s)
    if rename:
        os.replace(target, path)
    return time.time()
