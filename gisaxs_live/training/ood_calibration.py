"""Fit a model's out-of-distribution statistics (``classify/ood.py``) on a simulated set: features of
detector-like training patterns give each layer's class Gaussians, the same and frames of
``simulator.foreign``'s kinds at the set's experiment train the outlier-exposure layer
(``outlier_exposure.py``), detector-like held-out patterns give the layers' scales and the threshold.
Detector-like = the model's own training augmentation (``model_realism``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..classify.ood import OUTLIER_LAYER, OUTLIER_QUANTILE, OodModel, fit
from ..classify.predictor import Predictor
from ..simulator.dataset import Dataset
from ..simulator import SIMULATOR_VERSION
from ..simulator.foreign import KINDS, Setting
from .augment import Realism, realistic_images
from .flag_defaults import PER_KIND, QUANTILE
from .outlier_exposure import fit_outlier_layer, foreign_images

BATCH = 256
#: times the held-out split is made detector-like for the scales and the threshold: the distances' tails are
#: heavy, and one draw of 4,000 patterns put the bundled model's threshold anywhere in 1.16-1.41
HELD_OUT_DRAWS = 3
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


def outlier_options(per_kind: int | None, default: int = PER_KIND) -> dict:
    """``calibrate``'s keywords for a command's ``--outliers-per-kind`` (None: ``default`` frames per kind; 0: no
    outlier-exposure layer); a ValueError for a negative count."""
    if per_kind is None:
        return {"per_kind": default}
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
    held_intensity = data.intensity[held_out]  # copied once, made detector-like HELD_OUT_DRAWS (+ 1) times
    gaussian_layers = [layer for layer in predictor.feature_layers if layer.name != OUTLIER_LAYER]
    outliers = plain_held = None
    # the images are made on one thread in this order (each generator's draws as on one thread), while the CNN
    # reads the ones made before: about a third of a fine-tune's calibration is augmentation and simulation
    with ThreadPoolExecutor(1) as images:
        train_images = images.submit(realistic_images, data.intensity[train], rng, decades, realism)
        held_images = [images.submit(realistic_images, held_intensity, rng, decades, realism)
                       for _ in range(HELD_OUT_DRAWS)]
        if kinds:
            # a random draw of the train split (sets are written class by class), again with the plain augmentation
            pick = np.sort(np.random.default_rng([seed, 13]).permutation(int(train.sum()))[:KNOWN_PLAIN])
            plain_images = images.submit(realistic_images, data.intensity[np.nonzero(train)[0][pick]],
                                         np.random.default_rng([seed, 14]), decades)
            foreign_made = images.submit(foreign_images, Setting.of_set(data.attrs, data.grid), decades, realism,
                                         seed, per_kind, kinds)
            plain_held_images = images.submit(realistic_images, held_intensity, np.random.default_rng([seed, 15]),
                                              decades)
        step(f"features of {len(data.labels)} known patterns")
        train_features = features_of(predictor, train_images.result())
        held_features = np.concatenate([features_of(predictor, made.result()) for made in held_images])
        if kinds:
            spec = next(layer for layer in predictor.feature_layers if layer.name == OUTLIER_LAYER)
            known = np.concatenate([train_features[pick], features_of(predictor, plain_images.result())])
            step(f"{len(kinds)} kinds × {per_kind} foreign frames")
            foreign = features_of(predictor, foreign_made.result())
            step("the outlier-exposure networks")
            outliers = fit_outlier_layer(spec, known, foreign, seed)
            plain_held = features_of(predictor, plain_held_images.result())
    step("the class Gaussians")
    model = fit(train_features, data.labels[train], len(data.class_names), held_features, quantile,
                layers=gaussian_layers, seed=seed, outliers=outliers, outlier_held_out=plain_held)
    layers = ", ".join(f"{layer.name} ({layer.stop - layer.start} features, {layer.components} Gaussian"
                       f"{'s' if layer.components > 1 else ''} per class)" for layer in gaussian_layers)
    method = ("relative Mahalanobis distance (nearest class Gaussian, shared covariance, less the distance to the "
              f"background Gaussian) in each layer, {layers}")
    scaled = f"each Gaussian layer over its held-out {100 * quantile:g}th percentile"
    if outliers is not None:
        method += (f"; outlier exposure: {len(outliers.w1)} networks (mean logit) on {outliers.stop - outliers.start} "
                   f"features (dense layer and channel statistics) trained on {len(known)} known patterns against "
                   f"{len(kinds)} foreign kinds × {per_kind} ({', '.join(kinds)}; simulator {SIMULATOR_VERSION})")
        scaled += (f", the outlier-exposure layer 1 at its {100 * OUTLIER_QUANTILE:g}th (over the held-out patterns "
                   "again with the plain augmentation too)")
    record = {"method": f"{method}; {scaled}; a frame's distance is the largest of its layers'",
              "quantile": quantile, "threshold": model.threshold, "n_train": int(train.sum()),
              "n_held_out": int(held_out.sum()), "held_out_draws": HELD_OUT_DRAWS, "seed": seed,
              "foreign_kinds": list(kinds),
              "foreign_per_kind": per_kind if kinds else 0,
              "foreign_simulator_version": SIMULATOR_VERSION if kinds else None,
              "outlier_quantile": OUTLIER_QUANTILE if outliers is not None else None}
    return model, record
