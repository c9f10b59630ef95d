"""Fit a model's out-of-distribution statistics (``classify/ood.py``) on a simulated set: features of
detector-like training patterns give each layer's class Gaussians, detector-like held-out patterns the
layers' scales and the threshold. Detector-like = the model's own training augmentation (``model_realism``)."""

from __future__ import annotations

import numpy as np

from ..classify.ood import OodModel, fit
from ..classify.predictor import Predictor
from ..simulator.dataset import Dataset
from .augment import Realism, realistic_images

BATCH = 256
#: fraction of held-out known-class patterns below the threshold (and each layer's scale). For the bundled recipe,
#: dense layer only, 0.99 flagged 0.1 % of the plain noisy random set and 1.0 % of the BornAgain set; 0.98
#: flagged 1.0 % and 1.6 %, and the demo series' first frame (genuine 8 nm hemispheroids) too, for 66 % instead
#: of 60 % of the foreign frames (README)
QUANTILE = 0.99


def model_realism(predictor: Predictor) -> Realism:
    """The detector-like augmentation the model was trained with (``model.json``'s ``augmentation``; the
    default ``Realism()`` for a model that records none)."""
    recorded = predictor.info.meta.get("augmentation")
    if not recorded:
        return Realism()
    return Realism(**{key: tuple(value) if isinstance(value, list) else value for key, value in recorded.items()})


def checked_realism(predictor: Predictor, data: Dataset, realism: Realism | None) -> Realism:
    """The augmentation that makes ``data`` detector-like for calibrating ``predictor`` (``realism``, default the
    model's own); a ValueError where the set has no intensities or another model's classes or q-grid."""
    if data.intensity is None:
        raise ValueError("the set was read without its intensities")
    if data.class_names != predictor.class_names or data.grid != predictor.info.grid:
        raise ValueError("the set's classes or q-grid differ from the model's; simulate it with the model's config")
    return model_realism(predictor) if realism is None else realism


def features_of(predictor: Predictor, images: np.ndarray) -> np.ndarray:
    """``Predictor.forward``'s features (N, 576) of uint8 images, in batches."""
    return np.concatenate([predictor.forward(images[i:i + BATCH])[1] for i in range(0, len(images), BATCH)])


def calibrate(predictor: Predictor, data: Dataset, seed: int, quantile: float = QUANTILE,
              realism: Realism | None = None) -> tuple[OodModel, dict]:
    """(OodModel, a record for model.json) from ``data``'s train split (statistics) and test split (scales,
    threshold), both made detector-like with ``realism`` (default: the model's training augmentation)."""
    realism = checked_realism(predictor, data, realism)
    train, held_out = ~data.test, data.test
    if not held_out.any() or not train.any():
        raise ValueError("the set needs both a train and a held-out split")
    decades = predictor.info.decades
    rng = np.random.default_rng([seed, 3])
    train_features = features_of(predictor, realistic_images(data.intensity[train], rng, decades, realism))
    held_features = features_of(predictor, realistic_images(data.intensity[held_out], rng, decades, realism))
    model = fit(train_features, data.labels[train], len(data.class_names), held_features, quantile,
                layers=predictor.feature_layers, seed=seed)
    layers = ", ".join(f"{layer.name} ({layer.stop - layer.start} features, {layer.components} Gaussian"
                       f"{'s' if layer.components > 1 else ''} per class)" for layer in predictor.feature_layers)
    record = {"method": "relative Mahalanobis distance (nearest class Gaussian, shared covariance, less the distance "
                        f"to the background Gaussian) in each layer, {layers}, over its held-out "
                        f"{100 * quantile:g}th percentile; a frame's distance is the largest of its layers'",
              "quantile": quantile, "threshold": model.threshold, "n_train": int(train.sum()),
              "n_held_out": int(held_out.sum()), "seed": seed}
    return model, record
