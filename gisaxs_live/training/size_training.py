"""Training the size net (``classify.size_net``) of a model directory on a simulated set: the same streamed,
augmented training as the classifier (``training.train.train_network``), on the Gaussian negative
log-likelihood of the standardised size targets (``training.size_targets``), then its held-out errors."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ..classify.modeldir import META
from ..classify.size_net import (DEPTH, DROPOUT, FILTERS, LOSS_WEIGHTS, POSITION, SIZE_WEIGHTS, SizeNetInfo, d_y_hits,
                                 gaussian_nll)
from ..replacing import replacing, write_text_replacing
from ..simulator.shards import IntensityView, PatternSet
from .augment import Realism
from .evaluate import size_metrics
from .provenance import dataset_hash
from .size_targets import size_targets
from .train import ONE_CHUNK_MAX, EpochReport, Task, TrainSettings, predict_images, resolve_precision, train_network

#: the size net's recipe: the classifier's schedule over 30 epochs (the held-out loss still fell at 12)
SIZE_SETTINGS = TrainSettings(epochs=30)


def size_task(info: SizeNetInfo) -> Task:
    """The size net's Task; its hits are the patterns with D_y within 5 %."""
    tolerance = math.log(1.05) / info.std[0]

    def build(shape: tuple[int, int]):
        return info.build(shape)

    def loss(targets, outputs):
        return gaussian_nll(targets, outputs, LOSS_WEIGHTS)

    def hits(targets, outputs):  # a named function: AutoGraph mistakes one lambda for another on a shared line
        return d_y_hits(targets, outputs, tolerance)

    return Task(build, loss, hits, np.float32)


def train_size_net(model_dir: Path, data: PatternSet, val_images: np.ndarray, realism: Realism,
                   settings: TrainSettings = SIZE_SETTINGS,
                   on_epoch: Callable[[EpochReport], None] | None = None, filters: tuple[int, ...] = FILTERS,
                   depth: int = DEPTH, position: bool = POSITION) -> dict:
    """Train the size net on ``data``'s training split and write it into ``model_dir`` (``size.weights.h5`` and
    ``model.json`` key ``size``); ``val_images`` are the held-out split's uint8 images (made detector-like
    as the classifier's); ``filters``, ``depth`` and ``position``: its layout (``build_size_net``). Returns the
    ``size`` record: standardisation, recipe (with ``DROPOUT`` and ``LOSS_WEIGHTS``), time and the held-out
    ``size_metrics``."""
    started = time.perf_counter()
    train, val = np.nonzero(~data.test)[0], np.nonzero(data.test)[0]
    targets = size_targets(data.parameters, data.variation, data.attrs)
    info = SizeNetInfo.fit(targets[train], filters, depth, position)
    decades = float(data.attrs["scale_decades"])
    intensity = data.intensity(train) if len(train) <= ONE_CHUNK_MAX else IntensityView(data, train)
    model, reports = train_network(intensity, info.standardise(targets[train]), val_images,
                                   info.standardise(targets[val]), decades, settings, size_task(info), realism,
                                   on_epoch)
    with replacing(Path(model_dir) / SIZE_WEIGHTS) as weights:
        model.save_weights(weights)
    estimated, sigma = info.physical(predict_images(model, val_images))
    recipe = {k: v for k, v in asdict(replace(settings, initial_weights=None)).items() if k != "initial_weights"}
    recipe["precision"] = resolve_precision(settings.precision)
    recipe.update(dropout=DROPOUT, loss_weights=list(LOSS_WEIGHTS))
    record = dict(info.record(),
                  training={"epochs": len(reports), "settings": recipe, "history": [r.__dict__ for r in reports],
                            "seconds": time.perf_counter() - started, "n_train": int(len(train)),
                            "training_set_sha256": dataset_hash(data)},
                  metrics={"held_out_noisy": size_metrics(estimated, sigma, targets[val], data.labels[val],
                                                          data.class_names)})
    meta_path = Path(model_dir) / META
    meta = json.loads(meta_path.read_text())
    meta["size"] = record
    write_text_replacing(meta_path, json.dumps(meta, indent=1, default=list))
    return record
