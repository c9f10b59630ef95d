"""Fit a model's out-of-distribution statistics (``classify/ood.py``) on a simulated set: features of
detector-like training patterns give each layer's class Gaussians, the same and frames of
``simulator.foreign``'s kinds at the set's experiment train the outlier-exposure layer
(``outlier_exposure.py``), detector-like held-out patterns give the layers' scales and the threshold.
Detector-like = the model's own training augmentation (``model_realism``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..classify.ood import OUTLIER_LAYER, OUTLIER_QUANTILE, OodModel, fit
from ..classify.predictor import Predictor
from ..simulator.dataset import Dataset
from ..simulator.foreign import KINDS, Setting
from .augment import Realism, realistic_images
from .outlier_exposure import PER_KIND, fit_outlier_layer, foreign_images

BATCH = 256
#: fraction of held-out known-class patterns below the threshold (and each layer's scale). For the bundled recipe,
#: dense layer only, 0.99 flagged 0.1 % of the plain noisy random set and 1.0 % of the BornAgain set; 0.98
#: flagged 1.0 % and 1.6 %, and the demo series' first frame (genuine 8 nm hemispheroids) too, for 66 % instead
#: of 60 % of the foreign frames (README)
QUANTILE = 0.99
#: training patterns on the known side of the outlier-exposure layer, with the model's augmentation and again as
#: many with the plain one
KNOWN_PLAIN = 4000


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
    """``Predictor.forward``'s features (N, ``predictor.feature_layers[-1].stop``) of uint8 images, in batches."""
    return np.concatenate([predictor.forward(images[i:i + BATCH])[1] for i in range(0, len(images), BATCH)])


def outlier_options(per_kind: int | None) -> dict:
    """``calibrate``'s keywords for a command's ``--outliers-per-kind`` (None: the defaults; 0: no
    outlier-exposure layer); a ValueError for a negative count."""
    if per_kind is None:
        return {}
    if per_kind < 0:
        raise ValueError(f"--outliers-per-kind {per_kind}: must be 0 or more")
    return {"per_kind": per_kind} if per_kind else {"kinds": ()}


def calibrate(predictor: Predictor, data: Dataset, seed: int, quantile: float = QUANTILE,
              realism: Realism | None = None, kinds: Sequence[str] = KINDS, per_kind: int = PER_KIND,
              on_step: Callable[[str], None] | None = None) -> tuple[OodModel, dict]:
    """(OodModel, a record for model.json) from ``data``'s train split (statistics; with ``per_kind`` frames of
    each foreign kind of ``kinds``, the outlier-exposure layer; no kinds: none) and test split (scales, threshold),
    all made detector-like with ``realism`` (default: the model's training augmentation). ``on_step`` is told
    what each stage does, as it starts."""
    step = on_step or (lambda what: None)
    realism = checked_realism(predictor, data, realism)
    train, held_out = ~data.test, data.test
    if not held_out.any() or not train.any():
        raise ValueError("the set needs both a train and a held-out split")
    decades = predictor.info.decades
    rng = np.random.default_rng([seed, 3])
    step(f"features of {len(data.labels)} known patterns")
    train_features = features_of(predictor, realistic_images(data.intensity[train], rng, decades, realism))
    held_features = features_of(predictor, realistic_images(data.intensity[held_out], rng, decades, realism))
    gaussian_layers = [layer for layer in predictor.feature_layers if layer.name != OUTLIER_LAYER]
    outliers = None
    if kinds:
        spec = next(layer for layer in predictor.feature_layers if layer.name == OUTLIER_LAYER)
        # a random draw of the train split (sets are written class by class), again with the plain augmentation
        pick = np.sort(np.random.default_rng([seed, 13]).permutation(int(train.sum()))[:KNOWN_PLAIN])
        plain = realistic_images(data.intensity[np.nonzero(train)[0][pick]], np.random.default_rng([seed, 14]),
                                 decades)
        known = np.concatenate([train_features[pick], features_of(predictor, plain)])
        step(f"{len(kinds)} kinds × {per_kind} foreign frames")
        foreign = features_of(predictor, foreign_images(Setting.of_set(data.attrs, data.grid), decades, realism,
                                                        seed, per_kind, kinds))
        step("the outlier-exposure network")
        outliers = fit_outlier_layer(spec, known, foreign, seed)
    step("the class Gaussians")
    model = fit(train_features, data.labels[train], len(data.class_names), held_features, quantile,
                layers=gaussian_layers, seed=seed, outliers=outliers)
    layers = ", ".join(f"{layer.name} ({layer.stop - layer.start} features, {layer.components} Gaussian"
                       f"{'s' if layer.components > 1 else ''} per class)" for layer in gaussian_layers)
    method = ("relative Mahalanobis distance (nearest class Gaussian, shared covariance, less the distance to the "
              f"background Gaussian) in each layer, {layers}")
    if outliers is not None:
        method += (f"; outlier exposure: a network on {outliers.stop - outliers.start} features (dense layer and "
                   f"channel statistics) trained on {len(known)} known patterns against {len(kinds)} foreign kinds "
                   f"× {per_kind} ({', '.join(kinds)})")
    scaled = f"each Gaussian layer over its held-out {100 * quantile:g}th percentile"
    if outliers is not None:
        scaled += f", the outlier-exposure layer 1 at its {100 * OUTLIER_QUANTILE:g}th"
    record = {"method": f"{method}; {scaled}; a frame's distance is the largest of its layers'",
              "quantile": quantile, "threshold": model.threshold, "n_train": int(train.sum()),
              "n_held_out": int(held_out.sum()), "seed": seed, "foreign_kinds": list(kinds),
              "foreign_per_kind": per_kind if kinds else 0,
              "outlier_quantile": OUTLIER_QUANTILE if outliers is not None else None}
    return model, record
