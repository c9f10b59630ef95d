"""Training loop: a compiled train step fed by tf.data, fresh detector-like augmentation every epoch (made in a
thread while the previous epoch trains) and a fixed warm-up + cosine learning-rate schedule."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .augment import Realism, realistic_images


@dataclass(frozen=True)
class TrainSettings:
    """Adam on mini-batches of ``batch_size`` (32: making an epoch's augmented images takes longer than
    training on them at any batch size here, so small batches give 4x the steps of 128 at the same speed). The learning rate rises linearly from 0 to ``learning_rate``
    over ``warmup_epochs`` and then falls along a cosine to ``learning_rate`` × ``final_fraction`` at the end
    of ``epochs``: the schedule is fixed in advance, and the last epoch's weights are the result.
    ``initial_weights``: a ``model.weights.h5`` to start from (fine-tuning) instead of random weights.
    ``precision``: "mixed_bfloat16" computes the layers in bfloat16 with float32 weights and a float32 output
    layer (3.4x the images per second of float32 on this machine's 2 AVX-512-BF16 cores); "auto" picks it
    where the CPU has native bfloat16 (``avx512_bf16`` or ``amx_bf16``), float32 elsewhere. The returned
    model is always a float32 one, as the live path loads it."""

    architecture: str = "paper"
    epochs: int = 18
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_epochs: float = 1.0
    final_fraction: float = 0.01
    seed: int = 0
    initial_weights: Path | None = None
    precision: str = "auto"


#: Threads making each epoch's augmented images (while the previous epoch trains).
AUGMENT_THREADS = 2

#: Fine-tuning from a trained model: fewer epochs, a tenth of the peak rate, a short warm-up.
FINE_TUNE = TrainSettings(epochs=6, learning_rate=3e-4, warmup_epochs=0.5)


@dataclass
class EpochReport:
    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    learning_rate: float
    seconds: float


def learning_rate_at(step: float, steps_per_epoch: int, settings: TrainSettings) -> float:
    """The schedule's learning rate after ``step`` optimiser steps (see ``TrainSettings``)."""
    warmup = settings.warmup_epochs * steps_per_epoch
    total = settings.epochs * steps_per_epoch
    if step < warmup:
        return settings.learning_rate * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1.0, total - warmup))
    floor = settings.final_fraction
    return settings.learning_rate * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train_classifier(train_intensity: np.ndarray, train_labels: np.ndarray, val_images: np.ndarray,
                     val_labels: np.ndarray, n_classes: int, decades: float, settings: TrainSettings,
                     realism: Realism = Realism(),
                     on_epoch: Callable[[EpochReport], None] | None = None):
    """Train on fresh ``realistic_images`` of ``train_intensity`` each epoch; validate on the fixed uint8
    ``val_images`` after each epoch. Returns (model with the last epoch's weights, list of EpochReport)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from ..classify.model import build_model

    keras.utils.set_random_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)  # augmentation (its own thread)
    order_rng = np.random.default_rng([settings.seed, 2])  # batch order (this thread)
    precision = resolve_precision(settings.precision)
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = build_model(settings.architecture, train_intensity.shape[1:], n_classes)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.get_layer(index=-1).dtype_policy = keras.DTypePolicy("float32")  # softmax and loss in float32
    if settings.initial_weights is not None:
        model.load_weights(settings.initial_weights)
    steps_per_epoch = math.ceil(len(train_labels) / settings.batch_size)
    schedule = _keras_schedule(steps_per_epoch, settings)
    optimizer = keras.optimizers.Adam(schedule)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def train_step(images, labels):
        x = tf.cast(images, tf.float32)[..., tf.newaxis] / 255.0
        with tf.GradientTape() as tape:
            probabilities = model(x, training=True)
            loss = loss_fn(labels, probabilities)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, _correct(labels, probabilities)

    @tf.function(reduce_retracing=True)
    def test_step(images, labels):
        probabilities = model(tf.cast(images, tf.float32)[..., tf.newaxis] / 255.0, training=False)
        return loss_fn(labels, probabilities), _correct(labels, probabilities)

    def augmented() -> np.ndarray:
        """The next epoch's images, made in AUGMENT_THREADS contiguous parts (NumPy releases the GIL)."""
        bounds = np.linspace(0, len(train_intensity), AUGMENT_THREADS + 1).astype(int)
        parts = [augment_pool.submit(realistic_images, train_intensity[a:b], part_rng, decades, realism)
                 for a, b, part_rng in zip(bounds[:-1], bounds[1:], rng.spawn(AUGMENT_THREADS))]
        return np.concatenate([part.result() for part in parts])

    reports = []
    val_data = _batches(val_images, val_labels, 512)
    with ThreadPoolExecutor(1) as pool, ThreadPoolExecutor(AUGMENT_THREADS) as augment_pool:
        upcoming = pool.submit(augmented)
        for epoch in range(1, settings.epochs + 1):
            start = time.perf_counter()
            images = upcoming.result()
            if epoch < settings.epochs:
                upcoming = pool.submit(augmented)
            order = order_rng.permutation(len(train_labels))
            loss, accuracy = _mean_over(train_step, _batches(images[order], train_labels[order],
                                                             settings.batch_size))
            val_loss, val_acc = _mean_over(test_step, val_data)
            report = EpochReport(epoch, loss, accuracy, val_loss, val_acc,
                                 learning_rate_at(epoch * steps_per_epoch - 1, steps_per_epoch, settings),
                                 time.perf_counter() - start)
            reports.append(report)
            if on_epoch is not None:
                on_epoch(report)
    result = build_model(settings.architecture, train_intensity.shape[1:], n_classes)
    result.set_weights(model.get_weights())
    return result, reports


def resolve_precision(precision: str) -> str:
    """"float32" or "mixed_bfloat16" for ``precision`` ("auto" decides by the CPU flags, see TrainSettings)."""
    if precision == "auto":
        try:
            with open("/proc/cpuinfo") as info:
                flags = set(info.read().split())
        except OSError:
            flags = set()
        return "mixed_bfloat16" if flags & {"avx512_bf16", "amx_bf16"} else "float32"
    if precision not in ("float32", "mixed_bfloat16"):
        raise ValueError(f"precision {precision!r}: must be auto, float32 or mixed_bfloat16")
    return precision


def _correct(labels, probabilities):
    import tensorflow as tf

    hits = tf.equal(tf.argmax(probabilities, axis=-1, output_type=tf.int64), tf.cast(labels, tf.int64))
    return tf.reduce_sum(tf.cast(hits, tf.float32))


def _batches(images: np.ndarray, labels: np.ndarray, batch_size: int):
    """A tf.data pipeline of (uint8 images, int labels) batches, prefetched while a step runs."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))
    return data.batch(batch_size).prefetch(2)


def _mean_over(step: Callable, batches) -> tuple[float, float]:
    """(mean loss, accuracy) of ``step`` over the ``batches``, weighted by batch size."""
    total_loss = total_correct = 0.0
    n = 0
    for images, labels in batches:
        loss, correct = step(images, labels)
        size = int(labels.shape[0])
        total_loss += float(loss) * size
        total_correct += float(correct)
        n += size
    return total_loss / n, total_correct / n


def _keras_schedule(steps_per_epoch: int, settings: TrainSettings):
    """``learning_rate_at`` as a Keras learning-rate schedule (evaluated in the graph)."""
    import keras
    import tensorflow as tf

    class Schedule(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            warmup = settings.warmup_epochs * steps_per_epoch
            total = float(settings.epochs * steps_per_epoch)
            rising = settings.learning_rate * (step + 1.0) / max(warmup, 1e-9)
            progress = tf.minimum(1.0, (step - warmup) / max(1.0, total - warmup))
            floor = settings.final_fraction
            falling = settings.learning_rate * (floor + (1.0 - floor) * 0.5 * (1.0 + tf.cos(math.pi * progress)))
            return tf.where(step < warmup, rising, falling)

        def get_config(self):
            return {}

    return Schedule()
