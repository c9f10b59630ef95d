""""None of these": an out-of-distribution score from the CNN's own features (pure NumPy; no TensorFlow).

Method (Lee et al., NeurIPS 2018, "A simple unified framework for detecting out-of-distribution samples"):
the 512 activations of the dense layer are modelled per class as a Gaussian with the class's own mean and
one covariance shared by all classes, estimated on detector-like training images. A frame's distance is
its smallest Mahalanobis distance to a class mean,

    d(f) = min_c √((f − μ_c)ᵀ Σ⁻¹ (f − μ_c)),

and ``ood_score`` = d / d_threshold, where d_threshold is the ``quantile`` of d over held-out detector-like
patterns of the known classes (0.99: about 1 % of genuine frames are flagged). A score above 1 makes the row
``unknown``. Σ is shrunk towards its mean variance (``shrinkage``) so that it inverts with few patterns.
Stored in the model directory as ``ood.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

OOD_FILE = "ood.npz"


@dataclass(frozen=True)
class OodModel:
    """Class means (n_classes, n_features), the shared precision matrix (n_features, n_features) and the
    distance at which ``score`` is 1."""

    means: np.ndarray
    precision: np.ndarray
    threshold: float
    quantile: float

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Smallest Mahalanobis distance to a class mean, per row of ``features`` (N, n_features)."""
        f = np.asarray(features, np.float64)
        # (f − μ)ᵀP(f − μ) = fᵀPf − 2 fᵀPμ + μᵀPμ, for all classes at once
        fp = f @ self.precision
        mp = self.means @ self.precision
        squared = (np.einsum("nd,nd->n", fp, f)[:, None] - 2.0 * fp @ self.means.T
                   + np.einsum("cd,cd->c", mp, self.means)[None, :])
        return np.sqrt(np.maximum(squared.min(axis=1), 0.0))

    def score(self, features: np.ndarray) -> np.ndarray:
        """``distances`` / threshold: 1 at the flag threshold, larger = less like any trained class."""
        return self.distances(features) / self.threshold

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / OOD_FILE
        np.savez(path, means=self.means.astype(np.float32), precision=self.precision.astype(np.float32),
                 threshold=self.threshold, quantile=self.quantile)  # float32: 1 MB, distances change < 1e-5
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> "OodModel | None":
        """The model directory's statistics, or None when it has none (older models: no ``unknown`` rows)."""
        path = Path(model_dir) / OOD_FILE
        if not path.exists():
            return None
        try:
            with np.load(path) as z:
                return cls(z["means"].astype(np.float64), z["precision"].astype(np.float64), float(z["threshold"]),
                           float(z["quantile"]))
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: unreadable out-of-distribution statistics ({exc})") from None


def fit(features: np.ndarray, labels: np.ndarray, n_classes: int, held_out: np.ndarray,
        quantile: float = 0.99, shrinkage: float = 0.05) -> OodModel:
    """Class means and shared covariance from training ``features`` (N, D) with ``labels``; the threshold is
    the ``quantile`` of the distances of the ``held_out`` features (M, D) of known classes."""
    f = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    missing = [c for c in range(n_classes) if not np.any(labels == c)]
    if missing:
        raise ValueError(f"no training features for class index(es) {missing}")
    means = np.stack([f[labels == c].mean(axis=0) for c in range(n_classes)])
    centred = f - means[labels]
    covariance = centred.T @ centred / len(f)
    scale = np.trace(covariance) / len(covariance)
    covariance = (1.0 - shrinkage) * covariance + shrinkage * scale * np.eye(len(covariance))
    precision = np.linalg.inv(covariance)
    model = OodModel(means, precision, 1.0, quantile)
    threshold = float(np.quantile(model.distances(held_out), quantile))
    return OodModel(means, precision, threshold, quantile)
