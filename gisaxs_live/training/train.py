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
    """Optimiser and stopping settings: each epoch without a better held-out loss multiplies the learning
    rate by ``lr_decay``; ``patience`` such epochs in a row stop training (the best weights are kept)."""

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
    rng = np.random.default_rng(settings.seed)
    model = build_model(settings.architecture, train_intensity.shape[1:], n_classes)
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x_val = val_images[..., np.newaxis].astype(np.float32) / 255.0
    best_loss, best_weights, waited, reports = np.inf, None, 0, []

    def augmented() -> np.ndarray:
        return realistic_images(train_intensity, rng, decades, realism)[..., np.newaxis]

    # the next epoch's images are made in a thread while this epoch trains (NumPy and TF release the GIL)
    with ThreadPoolExecutor(1) as pool:
        upcoming = pool.submit(augmented)
        for epoch in range(1, settings.max_epochs + 1):
            start = time.perf_counter()
            x = upcoming.result().astype(np.float32) / 255.0
            upcoming = pool.submit(augmented)
            fit = model.fit(x, train_labels, batch_size=settings.batch_size, epochs=1, shuffle=True, verbose=0)
            val_loss, val_acc = model.evaluate(x_val, val_labels, batch_size=256, verbose=0)
            report = EpochReport(epoch, float(fit.history["loss"][-1]), float(fit.history["accuracy"][-1]),
                                 float(val_loss), float(val_acc), float(model.optimizer.learning_rate),
                                 time.perf_counter() - start)
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
