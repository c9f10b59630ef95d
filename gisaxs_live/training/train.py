"""Training loop: a compiled train step fed batches from memory, fresh detector-like augmentation every epoch and a
fixed warm-up + cosine learning-rate schedule.

The training intensities stream: an epoch is cut into chunks of ``CHUNK_PATTERNS`` consecutive patterns,
and a background thread reads the next chunk (from memory, or from a file or shards through
``simulator.shards.IntensityView``) and augments it while the current one trains, so at most one chunk of
float32 intensities and two of uint8 images are held. Each epoch takes the chunks in a fresh random order
and shuffles within each chunk. A set of at most one chunk is one chunk, as before streaming."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..classify.quiet import import_tensorflow
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

    architecture: str = "deep"
    epochs: int = 18
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_epochs: float = 1.0
    final_fraction: float = 0.01
    seed: int = 0
    initial_weights: Path | None = None
    precision: str = "auto"


#: Threads making each chunk's augmented images (while the previous chunk trains).
AUGMENT_THREADS = 2

#: Patterns per chunk of an epoch: 4096 × 90 × 70 float32 are 103 MB.
CHUNK_PATTERNS = 4096

#: Sets of up to this many training patterns (0.8 GB of 90 × 70 float32) are one chunk by default.
ONE_CHUNK_MAX = 32768


class Intensities(Protocol):
    """What ``train_classifier`` trains from: N patterns, read in contiguous slices (a NumPy array, or a
    ``simulator.shards.IntensityView`` of a file or shards)."""

    shape: tuple[int, ...]

    def __len__(self) -> int: ...

    def __getitem__(self, positions: slice) -> np.ndarray: ...

#: Fine-tuning from a trained model: a third of the epochs on fewer patterns (``train --from``: 1,800 per class), the
#: full recipe's peak rate after a short warm-up. On the DESY experiment with simulator 1.3 (README) it came within
#: 0.2-0.85 points of a full retrain as classes and 0.75 as families on two test sets of 4,000, where the previous
#: default (9 epochs on 1,200 per class) was 1.3-1.85 points below as classes, in 20 % more time (5 min 30 s against
#: 4 min 37 s on the AMD EPYC 2-core machine, the slower of the two this project ran on; 4 min 43 s with simulator 1.4).
FINE_TUNE = TrainSettings(epochs=6, learning_rate=1e-3, warmup_epochs=0.5)


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


@dataclass(frozen=True)
class Task:
    """What a network learns: ``build(grid shape)`` makes the uncompiled model (its last layer computes in float32),
    ``loss(targets, outputs)`` is minimised, ``hits(targets, outputs)`` counts a batch's good answers (the
    accuracy of an EpochReport); ``target_dtype`` is the targets' NumPy dtype in the pipeline."""

    build: Callable
    loss: Callable
    hits: Callable
    target_dtype: type = np.int64


def classifier_task(architecture: str, n_classes: int) -> Task:
    """The shape classifier (``classify.model``): cross-entropy on class indices, hits = top-1 correct."""
    import_tensorflow()
    import keras

    from ..classify.model import build_model

    return Task(lambda shape: build_model(architecture, shape, n_classes), keras.losses.SparseCategoricalCrossentropy(),
                _correct)


def train_classifier(train_intensity: Intensities, train_labels: np.ndarray, val_images: np.ndarray,
                     val_labels: np.ndarray, n_classes: int, decades: float, settings: TrainSettings,
                     realism: Realism = Realism(),
                     on_epoch: Callable[[EpochReport], None] | None = None, chunk: int | None = None):
    """``train_network`` of the shape classifier on class indices ``train_labels`` / ``val_labels``."""
    return train_network(train_intensity, train_labels, val_images, val_labels, decades, settings,
                         classifier_task(settings.architecture, n_classes), realism, on_epoch, chunk)


def train_network(train_intensity: Intensities, train_targets: np.ndarray, val_images: np.ndarray,
                  val_targets: np.ndarray, decades: float, settings: TrainSettings, task: Task,
                  realism: Realism = Realism(),
                  on_epoch: Callable[[EpochReport], None] | None = None, chunk: int | None = None):
    """Train ``task``'s network on fresh ``realistic_images`` of ``train_intensity`` each epoch, streamed in
    chunks of ``chunk`` patterns (default: one chunk up to ONE_CHUNK_MAX patterns, else CHUNK_PATTERNS; module
    docstring); validate on the fixed uint8 ``val_images`` after each epoch. Returns (model with the last
    epoch's weights, list of EpochReport)."""
    import_tensorflow()  # its start-up chatter into the log, not onto the progress bar
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)  # augmentation (its own thread)
    order_rng = np.random.default_rng([settings.seed, 2])  # order within a chunk (this thread)
    chunk_rng = np.random.default_rng([settings.seed, 4])  # order of the chunks
    if not len(train_targets):
        raise ValueError("the training set has no training patterns")
    if chunk is None:
        chunk = len(train_targets) if len(train_targets) <= ONE_CHUNK_MAX else CHUNK_PATTERNS
    bounds = _chunk_bounds(len(train_targets), chunk)
    precision = resolve_precision(settings.precision)
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = task.build(train_intensity.shape[1:])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.get_layer(index=-1).dtype_policy = keras.DTypePolicy("float32")  # softmax and loss in float32
    if settings.initial_weights is not None:
        model.load_weights(settings.initial_weights)
    steps_per_epoch = sum(math.ceil((b - a) / settings.batch_size) for a, b in bounds)
    schedule = _keras_schedule(steps_per_epoch, settings)
    optimizer = keras.optimizers.Adam(schedule)
    loss_fn = task.loss
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def train_step(images, targets):
        x = tf.cast(images, tf.float32)[..., tf.newaxis] / 255.0
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            loss = loss_fn(targets, outputs)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, task.hits(targets, outputs)

    @tf.function(reduce_retracing=True)
    def test_step(images, targets):
        outputs = model(tf.cast(images, tf.float32)[..., tf.newaxis] / 255.0, training=False)
        return loss_fn(targets, outputs), task.hits(targets, outputs)

    def augmented(first: int, stop: int) -> np.ndarray:
        """Images of patterns [first, stop), read and made in AUGMENT_THREADS contiguous parts (NumPy
        releases the GIL)."""
        intensity = train_intensity[first:stop]
        cuts = np.linspace(0, len(intensity), AUGMENT_THREADS + 1).astype(int)
        parts = [augment_pool.submit(realistic_images, intensity[a:b], part_rng, decades, realism)
                 for a, b, part_rng in zip(cuts[:-1], cuts[1:], rng.spawn(AUGMENT_THREADS))]
        return np.concatenate([part.result() for part in parts])

    def epoch_chunks() -> Iterator[tuple[int, int, tuple[int, int]]]:
        """(epoch, chunk number in the epoch, its bounds) in training order."""
        for epoch in range(1, settings.epochs + 1):
            for k, j in enumerate(chunk_rng.permutation(len(bounds)) if len(bounds) > 1 else [0]):
                yield epoch, k, bounds[j]

    reports = []
    val_data = _batches(val_images, val_targets.astype(task.target_dtype), 512)
    schedule_of_chunks = list(epoch_chunks())
    with ThreadPoolExecutor(1) as pool, ThreadPoolExecutor(AUGMENT_THREADS) as augment_pool:
        upcoming = pool.submit(augmented, *schedule_of_chunks[0][2])
        sums = np.zeros(3)  # loss × patterns, correct, patterns of the epoch so far
        for i, (epoch, k, (first, stop)) in enumerate(schedule_of_chunks):
            if k == 0:
                start, sums = time.perf_counter(), np.zeros(3)
            images = upcoming.result()
            if i + 1 < len(schedule_of_chunks):
                upcoming = pool.submit(augmented, *schedule_of_chunks[i + 1][2])
            order = order_rng.permutation(stop - first)
            targets = train_targets[first:stop][order].astype(task.target_dtype)
            loss, accuracy = _mean_over(train_step, _batches(images[order], targets, settings.batch_size))
            sums += (loss * len(order), accuracy * len(order), len(order))
            del images
            epoch_ends = i + 1 == len(schedule_of_chunks) or schedule_of_chunks[i + 1][1] == 0
            if not epoch_ends:
                continue
            loss, accuracy = sums[0] / sums[2], sums[1] / sums[2]
            val_loss, val_acc = _mean_over(test_step, val_data)
            report = EpochReport(epoch, loss, accuracy, val_loss, val_acc,
                                 learning_rate_at(epoch * steps_per_epoch - 1, steps_per_epoch, settings),
                                 time.perf_counter() - start)
            reports.append(report)
            if on_epoch is not None:
                on_epoch(report)
    result = task.build(train_intensity.shape[1:])
    result.set_weights(model.get_weights())
    return result, reports


def predict_images(model, images: np.ndarray, batch: int = 1024) -> np.ndarray:
    """A trained model's outputs for uint8 ``images`` (N, rows, cols), scaled to [0, 1] float32 a batch at a time."""
    return np.concatenate([model.predict(images[i:i + batch, ..., None].astype(np.float32) / 255.0, verbose=0)
                           for i in range(0, len(images), batch)])


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


def _chunk_bounds(n: int, chunk: int) -> Sequence[tuple[int, int]]:
    """[first, stop) of the consecutive chunks of ``n`` patterns, at most ``chunk`` each."""
    if chunk < 1:
        raise ValueError("the chunk size must be at least 1")
    return [(a, min(a + chunk, n)) for a in range(0, n, chunk)]


def _correct(labels, probabilities):
    import tensorflow as tf

    hits = tf.equal(tf.argmax(probabilities, axis=-1, output_type=tf.int64), tf.cast(labels, tf.int64))
    return tf.reduce_sum(tf.cast(hits, tf.float32))


def _batches(images: np.ndarray, targets: np.ndarray, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(uint8 images, targets) batches in order, as NumPy slices. Not a tf.data pipeline: at the end of an epoch
    its iterator's shutdown waited on its prefetch thread for up to 10 s with every thread idle, in about one epoch
    in three (a fine-tune's 10-s epochs took 20 s, a retrain's 21-s epochs 42 s); the patterns are in memory and
    a step converts its batch in microseconds."""
    return [(images[i:i + batch_size], targets[i:i + batch_size]) for i in range(0, len(images), batch_size)]


def _mean_over(step: Callable, batches) -> tuple[float, float]:
    """(mean loss, accuracy) of ``step`` over the ``batches``, weighted by batch size."""
    total_loss = total_correct = 0.0
    n = 0
    for images, targets in batches:
        loss, correct = step(images, targets)
        size = int(targets.shape[0])
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
