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
    """Optimiser and stopping settings: Adam; each epoch without a better held-out loss multiplies the
    learning rate by ``lr_decay``, ``patience`` such epochs in a row stop training before ``max_epochs``
    (the best epoch's weights are kept)."""

    architecture: str = "paper"
    max_epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_decay: float = 0.5
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
    rng = np.random.default_rng(settings.seed)  # augmentation (its own thread)
    order_rng = np.random.default_rng([settings.seed, 2])  # batch order (this thread)
    model = build_model(settings.architecture, train_intensity.shape[1:], n_classes)
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
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
                                          order_rng.permutation(len(train_labels)))
            val_loss, val_acc = _run_batches(model.test_on_batch, val_images, val_labels, 256,
                                             np.arange(len(val_labels)))
            report = EpochReport(epoch, loss, accuracy, val_loss, val_acc,
                                 float(model.optimizer.learning_rate), time.perf_counter() - start)
            reports.append(report)
            if on_epoch is not None:
                on_epoch(report)
            if val_loss < best_loss:
                best_loss, best_weights, waited = val_loss, model.get_weights(), 0
            else:
                waited += 1
                if waited >= settings.patience:
                    break
                model.optimizer.learning_rate.assign(float(model.optimizer.learning_rate) * settings.lr_decay)
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
