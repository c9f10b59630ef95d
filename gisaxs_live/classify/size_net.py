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
#: convolutions per stage after the first (1: one each; 2: two 3×3 convolutions at 1/2 and 1/4 of the grid), and
#: whether the first stage adds a learned bias per grid row and per grid column (``PositionBias``) to its
#: convolution, so that the filters' responses carry where on the q-grid a fringe lies, which the pooling keeps.
#: Both together (issue 11), 30 epochs on the bundled model's set, dropout 0.2: D_y median 4.7 against 6.5 % on
#: the noisy random set (aspect 0.036 against 0.045; BornAgain D_y 5.9 against 6.8 %), for about twice the
#: net's cost per frame (classify +0.9 to 1.1 against +0.2 to 0.4 ms a frame, ``bench_size.py`` at load 5)
DEPTH = 2
POSITION = True
#: dropout before the output layer while training, and the weight of each target's term in the training loss
#: (TARGETS order): without dropout and with ln D_y counted twice the same net came out at D_y 4.2 % on the noisy
#: random set (aspect 0.033, FWHM 6.4 %; BornAgain D_y 5.3 %, aspect 0.047), its σ less cautious (66 % of the
#: truths within ±1σ on the noisy random set, 57 % on BornAgain's, against 82 and 75 % with dropout 0.2)
DROPOUT = 0.0
LOSS_WEIGHTS: tuple[float, ...] = (2.0, 1.0, 1.0, 1.0)


def build_size_net(input_shape: tuple[int, int], filters: tuple[int, ...] = FILTERS, depth: int = 1,
                   position: bool = False, dropout: float = DROPOUT):
    """An uncompiled ``keras.Model``: (batch, rows, cols, 1) floats in [0, 1] → (batch, 2 × len(TARGETS)), the
    standardised means then the log variances. Conv 3×3 + MaxPool 2 stages (``filters`` each; three keep
    positions to 1/8 of the grid, which the fringe spacing, hence D_y, needs), every stage after the first with
    ``depth`` convolutions; with ``position`` the first convolution gets a ``PositionBias``; then Dense 256
    (``dropout`` while training). About 1.8 M parameters on the 90×70 grid, most of them in the dense layer.
    ``depth`` 1 without ``position`` is the first size net's layout (its weights load into it)."""
    import_tensorflow()
    import keras
    from keras import layers

    inputs = keras.Input(shape=(*input_shape, 1), name="image")
    x = conv_features(inputs, filters, depth, position, prefix="size_")
    if dropout:
        x = layers.Dropout(dropout, name="size_dropout")(x)
    outputs = layers.Dense(2 * len(TARGETS), name="size_outputs", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="gisaxs_size")


def conv_features(x, filters: tuple[int, ...], depth: int, position: bool, prefix: str):
    """The layers the size net and the ``deep`` classifier (``model.py``) share, on the Keras tensor ``x``: Conv
    3×3 + MaxPool 2 stages (``filters`` each), every stage after the first with ``depth`` convolutions, with
    ``position`` a ``PositionBias`` after the first convolution; then Flatten and Dense 256 (relu). Layer names
    start with ``prefix`` (the bias layer's is "size_position" in both, as their weight files have it)."""
    from keras import layers

    for stage, n in enumerate(filters, start=1):
        if stage == 1 and position:
            x = layers.Conv2D(n, 3, padding="same", name=f"{prefix}conv{stage}")(x)
            x = layers.Activation("relu", name=f"{prefix}relu1")(position_bias_layer()(x))
        else:
            x = layers.Conv2D(n, 3, padding="same", activation="relu", name=f"{prefix}conv{stage}")(x)
        for extra in range(2, depth + 1 if stage > 1 else 2):
            x = layers.Conv2D(n, 3, padding="same", activation="relu", name=f"{prefix}conv{stage}_{extra}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"{prefix}pool{stage}")(x)
    x = layers.Flatten(name=f"{prefix}flatten")(x)
    return layers.Dense(256, activation="relu", name=f"{prefix}dense")(x)


def position_bias_layer():
    """A Keras layer adding to (batch, rows, cols, channels) a learned bias per (row, channel) and one per
    (column, channel), zero at the start: a separable position encoding, rows + cols values per channel."""
    import keras

    class PositionBias(keras.layers.Layer):
        def build(self, input_shape):
            _, rows, cols, channels = input_shape
            self.row = self.add_weight(shape=(rows, 1, channels), initializer="zeros", name="row")
            self.col = self.add_weight(shape=(1, cols, channels), initializer="zeros", name="col")

        def call(self, x):
            return x + keras.ops.cast(self.row + self.col, x.dtype)

    return PositionBias(name="size_position")


def gaussian_nll(targets, outputs, weights: tuple[float, ...] | None = None):
    """Mean Gaussian negative log-likelihood (module docstring) over the defined (finite) targets of a batch:
    ``targets`` (batch, T) standardised with NaN where undefined, ``outputs`` the net's (batch, 2T); with
    ``weights`` (T) each target's terms count that many times (a weighted mean)."""
    import tensorflow as tf

    n = len(TARGETS)
    mean, log_variance = outputs[:, :n], tf.clip_by_value(outputs[:, n:], -LOG_VARIANCE_LIMIT, LOG_VARIANCE_LIMIT)
    defined = tf.math.is_finite(targets)
    y = tf.where(defined, targets, tf.zeros_like(targets))
    terms = 0.5 * (tf.exp(-log_variance) * tf.square(y - mean) + log_variance)
    weight = tf.cast(defined, terms.dtype)
    if weights is not None:
        weight = weight * tf.constant(weights, terms.dtype)
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
    depth: int = 1
    position: bool = False

    @classmethod
    def from_meta(cls, record: dict) -> "SizeNetInfo":
        targets = tuple(record.get("targets", ()))
        if targets != TARGETS:
            raise ValueError(f"size net of targets {targets}: this version reads {TARGETS}")
        return cls(tuple(map(float, record["mean"])), tuple(map(float, record["std"])),
                   tuple(record.get("filters", FILTERS)), int(record.get("depth", 1)),
                   bool(record.get("position", False)))

    @classmethod
    def fit(cls, targets: np.ndarray, filters: tuple[int, ...] = FILTERS, depth: int = DEPTH,
            position: bool = POSITION) -> "SizeNetInfo":
        """The standardisation of physical ``targets`` (N, T), NaN where undefined, for a net of ``filters``,
        ``depth`` and ``position`` (``build_size_net``)."""
        return cls(tuple(float(np.nanmean(t)) for t in targets.T), tuple(float(np.nanstd(t) or 1.0) for t in targets.T),
                   tuple(filters), int(depth), bool(position))

    def build(self, input_shape: tuple[int, int]):
        """The (uncompiled) size net of this layout on a grid of ``input_shape``."""
        return build_size_net(input_shape, self.filters, self.depth, self.position)

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
                "filters": list(self.filters), "depth": self.depth, "position": self.position}


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
