""""None of these": an out-of-distribution score from the CNN's own features (pure NumPy; no TensorFlow).

Method: the relative Mahalanobis distance (Ren et al. 2021, "A simple fix to Mahalanobis distance for
improving near-OOD detection", after Lee et al., NeurIPS 2018). The 512 activations of the dense layer are
modelled per class as a Gaussian with the class's own mean μ_c and one covariance Σ shared by all classes, and
as one background Gaussian (μ_0, Σ_0) over all classes together, both estimated on detector-like training
images. A frame's distance is

    d(f) = min_c (f − μ_c)ᵀ Σ⁻¹ (f − μ_c) − (f − μ_0)ᵀ Σ_0⁻¹ (f − μ_0),

(subtracting the background term removes what every pattern shares, which helps against foreign shapes close
to the known ones: measured on ``benchmarks/ood``, 69 → 72 % of foreign frames flagged at the same false-flag
rate), and ``ood_score`` = d / d_threshold, where d_threshold is the ``quantile`` of d over held-out
detector-like patterns of the known classes (0.99: about 1 % of genuine frames are flagged). A score above 1
makes the row ``unknown``. Both covariances are shrunk towards their mean variance (``shrinkage``) so that
they invert with few patterns. Stored in the model directory as ``ood.npz``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .blas import single_threaded_blas

OOD_FILE = "ood.npz"


@dataclass(frozen=True)
class OodModel:
    """Class means (n_classes, n_features) and their shared precision matrix (n_features, n_features), the
    background mean (n_features,) and precision, and the distance at which ``score`` is 1."""

    means: np.ndarray
    precision: np.ndarray
    background_mean: np.ndarray
    background_precision: np.ndarray
    threshold: float
    quantile: float

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Relative Mahalanobis distance d(f) (module docstring), per row of ``features`` (N, n_features)."""
        f = np.asarray(features, np.float64)
        nearest = _squared_mahalanobis(f, self.means, self.precision).min(axis=1)
        return nearest - _squared_mahalanobis(f, self.background_mean[None, :], self.background_precision)[:, 0]

    def score(self, features: np.ndarray) -> np.ndarray:
        """``distances`` / threshold: 1 at the flag threshold, larger = less like any trained class."""
        return self.distances(features) / self.threshold

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / OOD_FILE
        np.savez(path, means=self.means.astype(np.float32), precision=self.precision.astype(np.float32),
                 background_mean=self.background_mean.astype(np.float32),
                 background_precision=self.background_precision.astype(np.float32),
                 threshold=self.threshold, quantile=self.quantile)  # float32: 2 MB, distances change < 1e-5
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> "OodModel | None":
        """The model directory's statistics, or None when it has none (older models: no ``unknown`` rows).
        Sets numpy's BLAS to one thread: scoring is this process's BLAS work, and OpenBLAS's helper threads
        would spin for 0.1 s of CPU after each batch (``blas.py``)."""
        path = Path(model_dir) / OOD_FILE
        if not path.exists():
            return None
        single_threaded_blas()
        try:
            with np.load(path) as z:
                arrays = [z[k].astype(np.float64) for k in ("means", "precision", "background_mean",
                                                             "background_precision")]
                return cls(*arrays, float(z["threshold"]), float(z["quantile"]))
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: unreadable out-of-distribution statistics ({exc})") from None


def fit(features: np.ndarray, labels: np.ndarray, n_classes: int, held_out: np.ndarray,
        quantile: float = 0.99, shrinkage: float = 0.05) -> OodModel:
    """Class means and shared covariance, and the background Gaussian, from training ``features`` (N, D) with
    ``labels``; the threshold is the ``quantile`` of the distances of the ``held_out`` features (M, D) of
    known classes."""
    f = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    missing = [c for c in range(n_classes) if not np.any(labels == c)]
    if missing:
        raise ValueError(f"no training features for class index(es) {missing}")
    means = np.stack([f[labels == c].mean(axis=0) for c in range(n_classes)])
    background = f.mean(axis=0)
    model = OodModel(means, _shrunk_precision(f - means[labels], shrinkage), background,
                     _shrunk_precision(f - background, shrinkage), 1.0, quantile)
    threshold = float(np.quantile(model.distances(held_out), quantile))
    if threshold <= 0.0:
        raise ValueError("held-out features lie closer to the background than to their classes: cannot calibrate")
    return dataclasses.replace(model, threshold=threshold)


def _shrunk_precision(centred: np.ndarray, shrinkage: float) -> np.ndarray:
    covariance = centred.T @ centred / len(centred)
    scale = np.trace(covariance) / len(covariance)
    return np.linalg.inv((1.0 - shrinkage) * covariance + shrinkage * scale * np.eye(len(covariance)))


def _squared_mahalanobis(f: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """(N, n_means) squared distances: (f − μ)ᵀP(f − μ) = fᵀPf − 2 fᵀPμ + μᵀPμ for all means at once."""
    fp = f @ precision
    mp = means @ precision
    return (np.einsum("nd,nd->n", fp, f)[:, None] - 2.0 * fp @ means.T
            + np.einsum("cd,cd->c", mp, means)[None, :])
