"""Calibrate a model's answer sets (``classify/answer.py``) on the held-out split of a simulated set, made
detector-like with the training augmentation."""

from __future__ import annotations

import numpy as np

from ..classify.answer import LEVEL, coverage, mass_above_truth, threshold
from ..classify.families import family_matrix
from ..classify.predictor import Predictor
from ..simulator.dataset import Dataset
from .augment import Realism, realistic_images
from .ood_calibration import checked_realism

BATCH = 256


def to_families(predictor: Predictor, probabilities: np.ndarray) -> np.ndarray:
    """(N, n_families) summed probabilities of the model's families from its class probabilities (N, n_classes)."""
    return probabilities @ family_matrix(list(predictor.class_names), predictor.info.families)


def family_labels(predictor: Predictor, labels: np.ndarray) -> np.ndarray:
    """The family index of each class label."""
    return np.argmax(family_matrix(list(predictor.class_names), predictor.info.families), axis=1)[labels]


def calibrate(predictor: Predictor, data: Dataset, seed: int, level: float = LEVEL,
              realism: Realism | None = None) -> dict:
    """The ``model.json`` record (key ``answer``) of the answer-set threshold for coverage ``level``, from
    ``data``'s held-out split made detector-like with ``realism`` (default: the model's training augmentation)."""
    realism = checked_realism(predictor, data, realism)
    held_out = data.test
    if not held_out.any():
        raise ValueError("the set needs a held-out split")
    images = realistic_images(data.intensity[held_out], np.random.default_rng([seed, 4]), predictor.info.decades,
                              realism)
    probabilities = np.concatenate([predictor.predict(images[i:i + BATCH]) for i in range(0, len(images), BATCH)])
    families = to_families(predictor, probabilities)
    truth = family_labels(predictor, data.labels[held_out])
    cut = threshold(mass_above_truth(families, truth), level)
    held, size, single = coverage(families, truth, cut)
    return {"method": "split conformal, adaptive prediction sets (Romano, Sesia & Candès 2020) over the families",
            "level": level, "threshold": cut, "n_held_out": int(held_out.sum()), "seed": seed,
            "held_out": {"coverage": held, "mean_size": size, "single": single}}

