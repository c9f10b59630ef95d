"""What a model directory records about how it was made."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import numpy as np

from ..config import Experiment
from ..simulator.dataset import Dataset


def dataset_hash(data: Dataset) -> str:
    """SHA-256 of the labels, split and parameter table: identifies the training set's content."""
    h = hashlib.sha256()
    for array in (data.labels, data.split, data.parameters):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def experiment_record(experiment: Experiment) -> dict:
    return json.loads(json.dumps(asdict(experiment)))
