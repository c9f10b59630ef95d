"""The canonical (q_z, q_y) grid of the model input: 90 rows (q_z ascending) × 70 columns (q_y ascending).

The grid belongs to a model: it is written into every dataset and model directory. Bins are uniform in q;
simulated patterns are evaluated at bin centres, detector frames are averaged over each bin.
q_y runs from 0 (the specular plane; the pattern is mirror-symmetric in q_y) and q_z from the sample
horizon (α_f = 0, q_z = k sin α_i) upward, so every bin lies above the sample surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import Experiment, Grid


@dataclass(frozen=True)
class QGrid:
    """Uniform bins: ``n_qy`` over [qy_min, qy_max] and ``n_qz`` over [qz_min, qz_max] (nm⁻¹)."""

    qy_min: float
    qy_max: float
    n_qy: int
    qz_min: float
    qz_max: float
    n_qz: int

    @classmethod
    def for_experiment(cls, experiment: Experiment, grid: Grid) -> "QGrid":
        """The grid for an experiment: q_z starts at the horizon, k sin α_i."""
        qz0 = experiment.k_nm * math.sin(experiment.alpha_i_rad)
        return cls(0.0, grid.qy_max_inv_nm, grid.n_qy, qz0, qz0 + grid.qz_span_inv_nm, grid.n_qz)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) = (n_qz, n_qy)."""
        return (self.n_qz, self.n_qy)

    @property
    def qy_edges(self) -> np.ndarray:
        return np.linspace(self.qy_min, self.qy_max, self.n_qy + 1)

    @property
    def qz_edges(self) -> np.ndarray:
        return np.linspace(self.qz_min, self.qz_max, self.n_qz + 1)

    @property
    def qy(self) -> np.ndarray:
        """Column bin centres (nm⁻¹)."""
        e = self.qy_edges
        return 0.5 * (e[1:] + e[:-1])

    @property
    def qz(self) -> np.ndarray:
        """Row bin centres (nm⁻¹)."""
        e = self.qz_edges
        return 0.5 * (e[1:] + e[:-1])

    def to_dict(self) -> dict[str, float | int]:
        return {
            "qy_min": self.qy_min, "qy_max": self.qy_max, "n_qy": self.n_qy,
            "qz_min": self.qz_min, "qz_max": self.qz_max, "n_qz": self.n_qz,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "QGrid":
        return cls(float(d["qy_min"]), float(d["qy_max"]), int(d["n_qy"]),
                   float(d["qz_min"]), float(d["qz_max"]), int(d["n_qz"]))


def exit_angle(qz: np.ndarray, k: float, alpha_i: float) -> np.ndarray:
    """α_f (rad) of q_z (nm⁻¹) from q_z = k (sin α_i + sin α_f); NaN where no exit angle reaches it."""
    s = np.asarray(qz) / k - math.sin(alpha_i)
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(s) <= 1.0, np.arcsin(np.clip(s, -1.0, 1.0)), np.nan)


def grid_wavevectors(grid: QGrid, k: float, alpha_i: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q_x, q_y, α_f) for the canonical grid, broadcastable to (n_qz, n_qy).

    The grid is defined in (q_y, q_z); the q_x of each bin on a detector, ≈ −k(α_f² − α_i²)/2 − q_y²/2k (up to
    −0.12 nm⁻¹ at the default grid's top rows, several times q_y near the specular rod there), is neglected, so
    q∥ = q_y (README, "The simulator"). Returns q_x = 0 (scalar), q_y of shape (1, n_qy) and α_f of
    shape (n_qz, 1).
    """
    qy = grid.qy[np.newaxis, :]
    alpha_f = exit_angle(grid.qz, k, alpha_i)[:, np.newaxis]
    return np.zeros(1), qy, alpha_f
