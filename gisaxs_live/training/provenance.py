"""What a model directory records about how it was made."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..config import Experiment
from ..replacing import write_text_replacing
from ..simulator.dataset import Dataset


def dataset_hash(data: Dataset) -> str:
    """SHA-256 of the labels, split and parameter table, and of the per-pattern variation (VARIATION_NAMES
    columns) where the set was randomised: identifies the training set's content. (Sets made without
    variation hash as before the variation existed.)"""
    return content_hash(data.labels, data.split, data.parameters, data.variation)


def content_hash(labels: np.ndarray, split: np.ndarray, parameters: np.ndarray, variation: np.ndarray | None) -> str:
    """``dataset_hash`` of the arrays: labels (int64), split (uint8), parameters and variation (float64; the
    variation only where some value is not NaN)."""
    h = hashlib.sha256()
    for array in (np.asarray(labels, np.int64), np.asarray(split, np.uint8), np.asarray(parameters, np.float64)):
        h.update(np.ascontiguousarray(array).tobytes())
    if variation is not None and np.isfinite(variation).any():
        h.update(np.ascontiguousarray(np.asarray(variation, np.float64)).tobytes())
    return h.hexdigest()


def experiment_record(experiment: Experiment) -> dict:
    return json.loads(json.dumps(asdict(experiment)))


def record_calibration(model_dir: Path, key: str, record: dict, data: Dataset) -> None:
    """Write a calibration ``record`` into the model's ``model.json`` under ``key``, with the set it came from."""
    from ..classify.modeldir import META

    path = Path(model_dir) / META
    meta = json.loads(path.read_text())
    made_by = data.attrs.get("simulator_version")
    meta[key] = dict(record, dataset={"protocol": str(data.attrs["protocol"]), "seed": int(data.attrs["seed"]),
                                      "n": int(len(data.labels)), "sha256": dataset_hash(data),
                                      "simulator_version": None if made_by is None else str(made_by)})
    write_text_replacing(path, json.dumps(meta, indent=1))
