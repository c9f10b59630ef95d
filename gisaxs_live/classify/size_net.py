"""The size net: a small CNN beside the classifier that estimates, from the same 256-level model input, the
islands' D_y, aspect D_z/D_y, size-distribution FWHM and interparticle distance, each with a 1σ
uncertainty (``classify.size.SizeEstimate``).

It regresses ``TARGETS`` (ln D_y, D_z/D_y, ln FWHM, ln distance), each standardised by the training set's
mean and standard deviation, and predicts for each a mean μ and a log variance s: it is trained on the
Gaussian negative log-likelihood ½ (e^(−s) (y − μ)² + s) (Nix & Weigend 1994; Kendall & Gal 2017), so σ =
e^(s/2) is its own estimate of how well a frame determines the value. A target a pattern does not define
(the distance of a dilute sample) is left out of that pattern's loss. For the ln targets the 1σ in nm is
value × σ_ln (first order).

Files in a model directory: ``size.weights.h5``, and ``model.json`` key ``size`` (``SizeNetInfo``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .quiet import import_tensorflow
from .size import SizeEstimate

SIZE_WEIGHTS = "size.weights.h5"
#: the regressed quantities, in the net's output order; ``ln_`` ones are natural logs of nm
TARGETS: tuple[str, ...] = ("ln_D_y", "aspect", "ln_fwhm", "ln_distance")
#: the net's log variances are kept within ±LOG_VARIANCE_LIMIT (σ from 0.03 to 33 standard deviations)
LOG_VARIANCE_LIMIT = 7.0
#: filters of the three convolution stages: (16, 32, 64) costs a third of (32, 64, 64) per frame and, trained for
#: 30 epochs, came out better than that one at 12 (D_y median 7.5 against 9.4 % on the held-out noisy set)
FILTERS: tuple[int, ...] = (16, 32, 64)


def build_size_net(input_shape: tuple[int, int], filters: tuple[int, ...] = FILTERS):
    """An uncompiled ``keras.Model``: (batch, rows, cols, 1) floats in [0, 1] → (batch, 2 × len(TARGETS)), the
    standardised means then the log variances. Conv 3×3 + MaxPool 2 stages (``filters`` each; three keep
    positions to 1/8 of the grid, which the fringe spacing, hence D_y, needs); then Dense 256 (dropout 0.2).
    About 1.8 M parameters on the 90×70 grid, most of them in the dense layer."""
    import_tensorflow()
    import keras
    from keras import layers

    inputs = keras.Input(shape=(*input_shape, 1), name="image")
    x = inputs
    for stage, n in enumerate(filters, start=1):
        x = layers.Conv2D(n, 3, padding="same", activation="relu", name=f"size_conv{stage}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"size_pool{stage}")(x)
    x = layers.Flatten(name="size_flatten")(x)
    x = layers.Dense(256, activation="relu", name="size_dense")(x)
    x = layers.Dropout(0.2, name="size_dropout")(x)
    outputs = layers.Dense(2 * len(TARGETS), name="size_outputs", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="gisaxs_size")


def gaussian_nll(targets, outputs):
    """Mean Gaussian negative log-likelihood (module docstring) over the defined (finite) targets of a batch:
    ``targets`` (batch, T) standardised with NaN where undefined, ``outputs`` the net's (batch, 2T)."""
    import tensorflow as tf

    n = len(TARGETS)
    mean, log_variance = outputs[:, :n], tf.clip_by_value(outputs[:, n:], -LOG_VARIANCE_LIMIT, LOG_VARIANCE_LIMIT)
    defined = tf.math.is_finite(targets)
    y = tf.where(defined, targets, tf.zeros_like(targets))
    terms = 0.5 * (tf.exp(-log_variance) * tf.square(y - mean) + log_variance)
    weight = tf.cast(defined, terms.dtype)
    return tf.reduce_sum(terms * weight) / tf.maximum(tf.reduce_sum(weight), 1.0)


def d_y_hits(targets, outputs, tolerance: float = 0.05):
    """Patterns of a batch whose D_y estimate is within ``tolerance`` (relative) of the truth, as a float:
    the training progress figure. Both in standardised units, so the caller passes the ln D_y scale."""
    import tensorflow as tf

    return tf.reduce_sum(tf.cast(tf.abs(outputs[:, 0] - targets[:, 0]) <= tolerance, tf.float32))


@dataclass(frozen=True)
class SizeNetInfo:
    """``model.json`` key ``size``: the standardisation of each target (``mean``, ``std``, in TARGETS order) and
    what the net was trained on and how well it did (free-form ``training`` and ``metrics``)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    filters: tuple[int, ...] = FILTERS

    @classmethod
    def from_meta(cls, record: dict) -> "SizeNetInfo":
        targets = tuple(record.get("targets", ()))
        if targets != TARGETS:
            raise ValueError(f"size net of targets {targets}: this version reads {TARGETS}")
        return cls(tuple(map(float, record["mean"])), tuple(map(float, record["std"])),
                   tuple(record.get("filters", FILTERS)))

    @classmethod
    def fit(cls, targets: np.ndarray, filters: tuple[int, ...] = FILTERS) -> "SizeNetInfo":
        """The standardisation of physical ``targets`` (N, T), NaN where undefined, for a net of ``filters``."""
        return cls(tuple(float(np.nanmean(t)) for t in targets.T), tuple(float(np.nanstd(t) or 1.0) for t in targets.T),
                   tuple(filters))

    def standardise(self, targets: np.ndarray) -> np.ndarray:
        return ((np.asarray(targets, float) - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def physical(self, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(means, σ) in TARGETS units (ln nm or dimensionless), each (N, T), of the net's ``outputs`` (N, 2T)."""
        outputs = np.asarray(outputs, dtype=np.float64)
        n = len(TARGETS)
        mean = outputs[:, :n] * self.std + self.mean
        sigma = np.exp(0.5 * np.clip(outputs[:, n:], -LOG_VARIANCE_LIMIT, LOG_VARIANCE_LIMIT)) * np.asarray(self.std)
        return mean, sigma

    def record(self) -> dict:
        return {"targets": list(TARGETS), "mean": list(self.mean), "std": list(self.std),
                "filters": list(self.filters)}


def estimates(info: SizeNetInfo, outputs: np.ndarray) -> list[SizeEstimate]:
    """The SizeEstimate (net columns only) of each row of the net's ``outputs``: ln targets back to nm, their
    σ_ln to nm as value × σ_ln."""
    mean, sigma = info.physical(outputs)
    found = []
    for (ln_d, aspect, ln_fwhm, ln_dist), (s_d, s_aspect, s_fwhm, s_dist) in zip(mean, sigma):
        d_y, fwhm, distance = math.exp(ln_d), math.exp(ln_fwhm), math.exp(ln_dist)
        found.append(SizeEstimate(D_y_nm=d_y, D_y_err_nm=d_y * s_d, aspect=float(aspect), aspect_err=float(s_aspect),
                                  fwhm_nm=fwhm, fwhm_err_nm=fwhm * s_fwhm, distance_nm=distance,
                                  distance_err_nm=distance * s_dist))
    return found


def has_size_net(model_dir: Path, meta: dict) -> bool:
    """Whether a model directory holds a size net (its weights and its ``model.json`` record)."""
    return "size" in meta and (Path(model_dir) / SIZE_WEIGHTS).is_file()
