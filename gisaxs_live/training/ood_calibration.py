"""Fit a model's out-of-distribution statistics (``classify/ood.py``) on a simulated set: features of
detector-like training patterns give the class means and shared covariance, detector-like held-out patterns
the threshold."""

from __future__ import annotations

import numpy as np

from ..classify.ood import OodModel, fit
from ..classify.predictor import Predictor
from ..simulator.dataset import Dataset
from .augment import Realism, realistic_images

BATCH = 256
#: fraction of held-out known-class patterns below the threshold. For the bundled recipe 0.99 flags 0.1 % of the
#: plain noisy random set and 1.0 % of the BornAgain set; 0.98 flagged 1.0 % and 1.6 %, and the demo series'
#: first frame (genuine 8 nm hemispheroids) too, for 66 % instead of 60 % of the foreign frames (README)
QUANTILE = 0.99


def features_of(predictor: Predictor, images: np.ndarray) -> np.ndarray:
    """Dense-layer features (N, 512) of uint8 images, in batches."""
    return np.concatenate([predictor.forward(images[i:i + BATCH])[1] for i in range(0, len(images), BATCH)])


def calibrate(predictor: Predictor, data: Dataset, seed: int, quantile: float = QUANTILE,
              realism: Realism = Realism()) -> tuple[OodModel, dict]:
    """(OodModel, a record for model.json) from ``data``'s train split (statistics) and test split (threshold),
    both made detector-like with ``realism`` (the training augmentation)."""
    if data.intensity is None:
        raise ValueError("the set was read without its intensities")
    if data.class_names != predictor.class_names or data.grid != predictor.info.grid:
        raise ValueError("the set's classes or q-grid differ from the model's; simulate it with the model's config")
    train, held_out = ~data.test, data.test
    if not held_out.any() or not train.any():
        raise ValueError("the set needs both a train and a held-out split")
    decades = predictor.info.decades
    rng = np.random.default_rng([seed, 3])
    train_features = features_of(predictor, realistic_images(data.intensity[train], rng, decades, realism))
    held_features = features_of(predictor, realistic_images(data.intensity[held_out], rng, decades, realism))
    model = fit(train_features, data.labels[train], len(data.class_names), held_features, quantile)
    record = {"method": "relative Mahalanobis distance (nearest class mean, shared covariance, less the distance to "
                        "the background Gaussian) of the dense-layer features",
              "quantile": quantile, "threshold": model.threshold, "n_train": int(train.sum()),
              "n_held_out": int(held_out.sum()), "seed": seed}
    return model, record
