"""Large pattern sets on a Dask cluster: the specs cut into chunks of consecutive specs, each chunk one task
that writes one HDF5 shard with ``write_dataset`` (the serial file's layout), then the manifest
(``simulator.shards``).

Determinism: every per-pattern random value (shape parameters, test split, the ``Randomisation`` draws) is
drawn on the client by ``random_specs``/``paper_specs`` from the one ``seed`` and travels in the specs; the
simulator itself draws nothing. A chunk's content is therefore fixed by (seed, its first index, its count),
whichever worker runs it, and the shards concatenated are bit-identical to ``write_dataset``'s file of the
same specs. A task's shard is renamed into place when complete (``write_dataset``); a lost worker's task is
run again (``RETRIES``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..config import Config
from ..preprocess.qgrid import QGrid
from ..simulator.dataset import (PARAMETER_NAMES, VARIATION_NAMES, PatternSpec, Randomisation, check_room,
                                 write_dataset)
from ..simulator.shards import MANIFEST, Shard, shard_name, write_manifest
from ..training.provenance import content_hash

RETRIES = 3
#: Patterns per shard by default: ~100 s of one core at the paper set's rate, 25 MB of uint8 images.
DEFAULT_CHUNK = 4096


def write_shard(path: str, specs: Sequence[PatternSpec], config: Config, seed: int, protocol: str,
                randomisation: Randomisation | None) -> int:
    """Simulate ``specs`` into the shard ``path`` (one process: the worker is the unit of parallelism; the shard
    appears only once complete, ``write_dataset``); returns the number of patterns."""
    write_dataset(path, specs, config, seed=seed, protocol=protocol, workers=1, randomisation=randomisation)
    return len(specs)


def specs_hash(specs: Sequence[PatternSpec]) -> str:
    """``training.provenance.dataset_hash`` of the set the specs make (labels, split, parameters, variation),
    computed from the specs without simulating."""
    params = np.array([[s.params.get(n, np.nan) for n in PARAMETER_NAMES] for s in specs], dtype=np.float64)
    variation = np.array([[(s.variation or {}).get(n, np.nan) for n in VARIATION_NAMES] for s in specs])
    return content_hash([s.label for s in specs], [s.test for s in specs], params, variation)


def write_shards(client, directory: Path, specs: Sequence[PatternSpec], config: Config, *, seed: int,
                 protocol: str, chunk: int = DEFAULT_CHUNK, randomisation: Randomisation | None = None,
                 progress: Callable[[int], None] | None = None) -> Path:
    """Simulate ``specs`` on ``client``'s cluster into shards of ``chunk`` patterns in ``directory`` and
    write its manifest last; ``progress(patterns done)`` after each shard. Returns the manifest's path."""
    from distributed import as_completed

    from .cluster import cancelled_if_left, task_result

    if chunk < 1:
        raise ValueError("--chunk must be at least 1")
    directory.mkdir(parents=True, exist_ok=True)
    shards = [Shard(directory / shard_name(i), start, len(specs[start:start + chunk]))
              for i, start in enumerate(range(0, len(specs), chunk))]
    (directory / MANIFEST).unlink(missing_ok=True)  # a set being rewritten is no set until its new manifest is there
    check_room(directory, str(directory), sum(s.count for s in shards if not s.path.exists()),
               QGrid.for_experiment(config.experiment, config.grid).shape)  # each shard checks itself too
    futures = [client.submit(write_shard, str(s.path), list(specs[s.start:s.start + s.count]), config, seed,
                             protocol, randomisation, retries=RETRIES, pure=False, key=f"simulate-shard-{i}")
               for i, s in enumerate(shards)]
    done = 0
    with cancelled_if_left(client, futures):
        for future in as_completed(futures):
            done += task_result(future)
            future.release()
            if progress is not None:
                progress(done)
    return write_manifest(directory, shards, seed=seed, protocol=protocol, chunk=chunk, sha256=specs_hash(specs))
