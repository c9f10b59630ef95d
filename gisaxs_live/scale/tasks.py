"""What a Dask worker runs: classify a group of files into Results, as ``classify`` does, with the model
loaded once per worker process (a cached loader keyed by config and model directory)."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from ..classify import pipeline
from ..classify.pipeline import Classifier
from ..config import Config
from ..results import Result

_CLASSIFIERS: dict[tuple[str, str], Classifier] = {}
_LOCK = threading.Lock()


def worker_threads() -> int:
    """Threads one worker process may use: ``OMP_NUM_THREADS`` where set (Dask's nannies set it to 1 for workers
    that share a node, ``reprocess``'s local cluster to the worker's share of the cores), else every core."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return os.cpu_count() or 1


def classifier_for(config: Config, model_dir: str | None) -> Classifier:
    """The worker process's Classifier for (``config``, ``model_dir``), loaded on first use, its preprocessing and
    TensorFlow on ``worker_threads`` threads (TensorFlow reads them when it starts, here: 32 workers of a 32-core
    node would otherwise start 32 threads each)."""
    key = (repr(config), model_dir or "")
    with _LOCK:
        if key not in _CLASSIFIERS:
            threads = worker_threads()
            for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
                os.environ.setdefault(name, str(threads))
            # the client has warned once that the model was trained for another experiment
            _CLASSIFIERS[key] = Classifier(config, model_dir, threads=threads, warn_mismatch=False)
        return _CLASSIFIERS[key]


def classify_files(files: Sequence[str], config: Config, model_dir: str | None) -> list[Result]:
    """One Result per frame of ``files`` in (file, frame) order, and an ``error`` Result for a file that
    could not be read (whole or in part), exactly as ``gisaxs-live classify`` writes them. Results carry no
    image (less to send back)."""
    classifier = classifier_for(config, model_dir)
    return [dataclasses.replace(r, image=None)  # let each batch's images go as it comes: 6.3 kB a frame
            for batch in pipeline.classify_files(classifier, map(Path, files)) for r in batch]
