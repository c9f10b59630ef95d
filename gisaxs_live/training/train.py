"""Training loop: fresh detector-like augmentation every epoch, early stopping on held-out loss."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .augment import Realism, realistic_images


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser and stopping settings: Adam, its learning rate falling along a cosine from
    ``learning_rate`` to ``final_lr_fraction`` of it over ``max_epochs`` (per batch); training stops
    sooner once ``patience`` epochs in a row bring no lower held-out loss (the best weights are kept)."""

    architecture: str = "paper"
    max_epochs: int = 24
    batch_size: int = 32
    learning_rate: float = 1e-3
    final_lr_fraction: float = 0.01
    patience: int = 3
    seed: int = 0


@dataclass
class EpochReport:
    epoch: int
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    learning_rate: float
    seconds: float


def train_classifier(train_intensity: np.ndarray, train_labels: np.ndarray, val_images: np.ndarray,
                     val_labels: np.ndarray, n_classes: int, decades: float, settings: TrainSettings,
                     realism: Realism = Realism(),
                     on_epoch: Callable[[EpochReport], None] | None = None):
    """Train on fresh ``realistic_images`` of ``train_intensity`` each epoch; validate on the fixed uint8
    ``val_images``. Returns (model with the best validation loss's weights, list of EpochReport)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from ..classify.model import build_model

    keras.utils.set_random_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = build_model(settings.architecture, train_intensity.shape[1:], n_classes)
    steps = -(-len(train_labels) // settings.batch_size) * settings.max_epochs
    schedule = keras.optimizers.schedules.CosineDecay(settings.learning_rate, steps,
                                                      alpha=settings.final_lr_fraction)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    best_loss, best_weights, waited, reports = np.inf, None, 0, []

    def augmented() -> np.ndarray:
        return realistic_images(train_intensity, rng, decades, realism)

    # the next epoch's images are made in a thread while this epoch trains (NumPy and TF release the GIL)
    with ThreadPoolExecutor(1) as pool:
        upcoming = pool.submit(augmented)
        for epoch in range(1, settings.max_epochs + 1):
            start = time.perf_counter()
            images = upcoming.result()
            if epoch < settings.max_epochs:
                upcoming = pool.submit(augmented)
            loss, accuracy = _run_batches(model.train_on_batch, images, train_labels, settings.batch_size,
                                          rng.permutation(len(train_labels)))
            val_loss, val_acc = _run_batches(model.test_on_batch, val_images, val_labels, 256,
                                             np.arange(len(val_labels)))
            report = EpochReport(epoch, loss, accuracy, val_loss, val_acc,
                                 float(schedule(model.optimizer.iterations)), time.perf_counter() - start)
            reports.append(report)
            if on_epoch is not None:
                on_epoch(report)
            if val_loss < best_loss:
                best_loss, best_weights, waited = val_loss, model.get_weights(), 0
            else:
                waited += 1
                if waited >= settings.patience:
                    break
    model.set_weights(best_weights)
    return model, reports


def _run_batches(step: Callable, images: np.ndarray, labels: np.ndarray, batch_size: int,
                 order: np.ndarray) -> tuple[float, float]:
    """(mean loss, mean accuracy) of ``step`` (``train_on_batch`` or ``test_on_batch``) over the uint8
    ``images`` in ``order``, batch by batch. Batches go in directly rather than through ``fit``: its
    tf.data iterator took up to 20 s to shut down after an epoch on this 2-core machine, idle."""
    total_loss = total_accuracy = 0.0
    for first in range(0, len(order), batch_size):
        batch = order[first:first + batch_size]
        loss, accuracy = step(images[batch][..., np.newaxis].astype(np.float32) / 255.0, labels[batch])
        total_loss += float(loss) * len(batch)
        total_accuracy += float(accuracy) * len(batch)
    return total_loss / len(order), total_accuracy / len(order)
