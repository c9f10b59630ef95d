"""Outlier exposure (Hendrycks, Mazeika & Dietterich, ICLR 2019, "Deep anomaly detection with outlier exposure"):
the out-of-distribution score's ``OutlierLayer`` (``classify/ood.py``), small networks on the classifier's
features trained to tell detector-like patterns of the known classes from frames of ``simulator.foreign``'s
kinds (other shapes, a grating, a SAXS ring, a bare Yoneda band, noise, wrong geometries).

Both sides are made detector-like twice over, half with the model's own training augmentation (instrument
effects too) and half with the plain ``Realism()`` that ``evaluate --noise`` uses, so that neither kind of
augmentation tells the sides apart. The classifier is not changed; the layer reads its features.

They recognise the kinds they were shown. A kind they were not shown is caught by the Gaussian layers as before,
and by them as far as it shares features with the kinds shown (``benchmarks/bench_ood.py --leave-one-out``).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..classify.ood import OUTLIER_LAYER, LayerSpec, OutlierLayer
from ..simulator.foreign import KINDS, Setting, foreign_frames
from .augment import Realism, realistic_images
from .flag_defaults import PER_KIND

#: networks in the ensemble (their logits averaged: a steadier tail than one network's), and each one's hidden
#: units, training epochs, batch size and learning rate
ENSEMBLE = 3
HIDDEN = 128
EPOCHS = 40
BATCH = 128
LEARNING_RATE = 1e-3
DROPOUT = 0.3


def foreign_images(setting: Setting, decades: float, realism: Realism, seed: int, per_kind: int = PER_KIND,
                   kinds: Sequence[str] = KINDS) -> np.ndarray:
    """uint8 model inputs (len(kinds) × per_kind, rows, cols) of the foreign ``kinds`` at ``setting``, half made
    detector-like with ``realism`` and half with ``Realism()`` (``mixed_images``)."""
    rng = np.random.default_rng([seed, 12])
    frames = foreign_frames(kinds, per_kind, [seed, 11], setting)
    return np.concatenate([mixed_images(frames[kind], rng, decades, realism) for kind in kinds])


def mixed_images(intensity: np.ndarray, rng: np.random.Generator, decades: float, realism: Realism) -> np.ndarray:
    """The first half of ``intensity`` made detector-like with ``realism``, the rest with ``Realism()``."""
    half = len(intensity) // 2
    return np.concatenate([realistic_images(intensity[:half], rng, decades, realism),
                           realistic_images(intensity[half:], rng, decades, Realism())])


def fit_outlier_layer(spec: LayerSpec, known: np.ndarray, foreign: np.ndarray, seed: int) -> OutlierLayer:
    """An ``OutlierLayer`` on ``spec``'s columns: ENSEMBLE networks, each trained from its own start on features of
    ``known`` (N, D) and ``foreign`` (M, D) patterns with binary cross-entropy, each side weighted to half the
    total; its offset and scale are set by ``ood.fit`` on held-out patterns."""
    if spec.name != OUTLIER_LAYER:
        raise ValueError(f"layer {spec.name!r} is not the outlier-exposure layer {OUTLIER_LAYER!r}")
    known = np.asarray(known, np.float64)[:, spec.start:spec.stop]
    foreign = np.asarray(foreign, np.float64)[:, spec.start:spec.stop]
    if not len(known) or not len(foreign):
        raise ValueError("outlier exposure needs features of both known and foreign patterns")
    centre = known.mean(axis=0)
    spread = known.std(axis=0)
    spread = np.maximum(spread, 0.01 * np.median(spread[spread > 0]) if np.any(spread > 0) else 1.0)
    x = ((np.concatenate([known, foreign]) - centre) / spread).astype(np.float32)
    y = np.concatenate([np.zeros(len(known)), np.ones(len(foreign))]).astype(np.float32)
    weight = np.where(y == 1.0, 0.5 * len(x) / len(foreign), 0.5 * len(x) / len(known)).astype(np.float32)
    import tensorflow as tf

    members = [_Member(x.shape[1], seed, member) for member in range(ENSEMBLE)]  # built in turn: the global seed
    data = tuple(tf.constant(array) for array in (x, y, weight))  # once, shared by the members
    with ThreadPoolExecutor(ENSEMBLE) as pool:  # trained side by side: small graphs leave a core of two idle
        weights = list(pool.map(lambda member: member.trained(*data), members))
    w1, b1, w2, b2 = (np.stack([member[i] for member in weights]).astype(np.float64) for i in range(4))
    return OutlierLayer(spec.name, spec.start, spec.stop, centre, spread, w1, b1, w2, b2)


class _Member:
    """One network of the ensemble: HIDDEN ReLU units, dropout, one logit; its initial weights and dropout draws
    from the seed ``seed * ENSEMBLE + member``."""

    def __init__(self, n_features: int, seed: int, member: int) -> None:
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(seed * ENSEMBLE + member)
        self.network = keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(HIDDEN, activation="relu"),
                                         keras.layers.Dropout(DROPOUT), keras.layers.Dense(1)])
        self.order_rng = np.random.default_rng([seed, 16, member])
        optimizer = keras.optimizers.Adam(LEARNING_RATE)
        loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
        network, variables = self.network, self.network.trainable_variables

        @tf.function
        def epoch(features, labels, weights, order):
            for i in tf.range(0, tf.shape(order)[0], BATCH):
                rows = order[i:i + BATCH]
                with tf.GradientTape() as tape:
                    loss = loss_fn(tf.gather(labels, rows)[:, tf.newaxis],
                                   network(tf.gather(features, rows), training=True),
                                   sample_weight=tf.gather(weights, rows))
                optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

        self.epoch = epoch

    def trained(self, x, y, weight) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(w1, b1, w2, b2) after training on standardised features ``x`` (float32 tensor, N × D), labels ``y`` (N,
        1 = foreign) and sample weights ``weight`` (N): EPOCHS epochs of Adam on mini-batches of BATCH in a new
        random order each epoch, a batch's loss its weighted patterns' sum over its size. Each epoch is one compiled
        loop over its batches (Keras ``fit`` took twice as long a step)."""
        for _ in range(EPOCHS):
            self.epoch(x, y, weight, self.order_rng.permutation(len(x)))
        (w1, b1), (w2, b2) = (layer.get_weights() for layer in (self.network.layers[0], self.network.layers[2]))
        return w1, b1, w2[:, 0], float(b2[0])
