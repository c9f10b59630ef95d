"""Pattern sets in several HDF5 shards, and a reader that serves them (or one ``write_dataset`` file) in
slices, never the whole float32 ``intensity`` in memory.

A sharded set is a directory of shards, each a ``write_dataset`` file of consecutive specs, and a manifest
``manifest.json``: ``{"format": MANIFEST_FORMAT, "count": N, "seed", "protocol", "chunk", "sha256",
"shards": [{"path": relative name, "start": first index, "count": n}, …]}``. ``sha256`` is
``training.provenance.dataset_hash`` of the whole set (labels, split, parameters, variation), so it equals the hash of
the serial file of the same specs. The manifest is written last: a directory without one is unfinished.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..preprocess.qgrid import QGrid
from .dataset import VARIATION_NAMES, Dataset, check_labels, check_lengths, not_a_dataset

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "gisaxs-live shards 1"


@dataclass(frozen=True)
class Shard:
    path: Path
    start: int
    count: int


def shard_name(index: int) -> str:
    """File name of the ``index``-th shard."""
    return f"shard-{index:05d}.h5"


def write_manifest(directory: Path, shards: Sequence[Shard], *, seed: int, protocol: str, chunk: int,
                   sha256: str) -> Path:
    """Write ``directory``/manifest.json (atomically: a temporary file renamed) and return its path."""
    record = {"format": MANIFEST_FORMAT, "count": sum(s.count for s in shards), "seed": seed, "protocol": protocol,
              "chunk": chunk, "sha256": sha256,
              "shards": [{"path": s.path.name, "start": s.start, "count": s.count} for s in shards]}
    path = directory / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(path)
    return path


def is_sharded(path: str | Path) -> bool:
    """Whether ``path`` is a shard directory or its manifest (rather than one HDF5 file)."""
    path = Path(path)
    return path.is_dir() or path.suffix == ".json"


def read_manifest(path: str | Path) -> tuple[dict, list[Shard]]:
    """The manifest record and its shards (absolute paths) of a shard directory or manifest file."""
    path = Path(path)
    manifest = path / MANIFEST if path.is_dir() else path
    try:
        record = json.loads(manifest.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no {MANIFEST} in it: not a set of shards (simulate --shards DIR writes "
                         "one)") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: no readable shard manifest ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{manifest}: not a gisaxs-live shard manifest")
    shards = [Shard(manifest.parent / s["path"], int(s["start"]), int(s["count"])) for s in record["shards"]]
    if [s.start for s in shards] != list(np.cumsum([0] + [s.count for s in shards[:-1]])):
        raise ValueError(f"{manifest}: its shards do not follow one another")
    return record, shards


class PatternSet:
    """The patterns of one ``write_dataset`` file or of a shard directory: labels, split, parameters,
    attributes, classes and q-grid in memory (small), ``images``/``intensity`` read on request by index.
    ``peak_bytes`` is the largest array a read has held; with ``record`` the indices of every intensity
    read are kept in ``reads`` (to check what a training run was fed)."""

    def __init__(self, path: str | Path, record: bool = False):
        self.path = Path(path)
        if is_sharded(self.path):
            _, self.shards = read_manifest(self.path)
        else:
            with _open(self.path) as f:
                self.shards = [Shard(self.path, 0, len(f["labels"]))]
        small = [_small_arrays(s.path) for s in self.shards]
        self.labels = np.concatenate([s[0] for s in small])
        self.split = np.concatenate([s[1] for s in small])
        self.parameters = np.concatenate([s[2] for s in small])
        self.variation = np.concatenate([s[4] for s in small])
        self.attrs = small[0][3]
        self.class_names = tuple(json.loads(self.attrs["class_names"]))
        self.grid = QGrid.from_dict(json.loads(self.attrs["qgrid"]))
        self.starts = np.array([s.start for s in self.shards] + [len(self.labels)])
        check_lengths(self.path, "labels", len(self.labels), {"split": len(self.split),
                                                             "parameters": len(self.parameters)})
        check_labels(self.path, self.labels, self.class_names)
        self.peak_bytes = 0
        self.reads: list[np.ndarray] | None = [] if record else None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def test(self) -> np.ndarray:
        """Boolean mask of the held-out test patterns."""
        return self.split.astype(bool)

    def intensity(self, indices: np.ndarray) -> np.ndarray:
        """float32 intensities (len(indices), n_qz, n_qy) of the patterns at ``indices`` (any order)."""
        if self.reads is not None:
            self.reads.append(np.array(indices))
        return self._read("intensity", indices)

    def images(self, indices: np.ndarray) -> np.ndarray:
        """uint8 clean images of the patterns at ``indices``."""
        return self._read("images", indices)

    def to_dataset(self, indices: np.ndarray | None = None, with_intensity: bool = True) -> Dataset:
        """The patterns at ``indices`` (default: all) as an in-memory ``Dataset``."""
        indices = np.arange(len(self)) if indices is None else np.asarray(indices)
        return Dataset(self.images(indices), self.intensity(indices) if with_intensity else None,
                       self.labels[indices], self.split[indices], self.parameters[indices], self.class_names,
                       self.grid, self.attrs, self.variation[indices])

    def _read(self, name: str, indices: np.ndarray) -> np.ndarray:
        """Rows ``indices`` of dataset ``name``: per shard, the slab from the least to the largest index asked
        (contiguous reads of HDF5 chunks), then the rows picked from it."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise ValueError(f"{self.path}: pattern index out of range (the set has {len(self)})")
        shard_of = np.searchsorted(self.starts, indices, side="right") - 1
        out = None
        for k in np.unique(shard_of):
            rows = np.nonzero(shard_of == k)[0]
            local = indices[rows] - self.starts[k]
            low, high = int(local.min()), int(local.max()) + 1
            with _open(self.shards[k].path) as f:
                slab = f[name][low:high]
            self.peak_bytes = max(self.peak_bytes, slab.nbytes)
            if out is None:
                out = np.empty((len(indices), *slab.shape[1:]), slab.dtype)
            out[rows] = slab[local - low]
        if out is None:
            out = np.empty((0, *self.grid.shape), np.float32 if name == "intensity" else np.uint8)
        return out


@dataclass(frozen=True)
class IntensityView:
    """Some patterns of a ``PatternSet`` (``indices``, ascending) as a sequence of intensities read in
    contiguous position ranges: what ``train_classifier`` streams from."""

    patterns: PatternSet
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.indices), *self.patterns.grid.shape)

    def __getitem__(self, positions: slice) -> np.ndarray:
        """Intensities of positions ``positions`` (a slice) of the view."""
        return self.patterns.intensity(self.indices[positions])


def read_variation(f: h5py.File) -> np.ndarray:
    """The file's per-pattern ``variation`` in today's VARIATION_NAMES columns (N, len(VARIATION_NAMES)), matched
    by the names the file recorded: NaN where a set was simulated without variation or before a name existed."""
    out = np.full((len(f["labels"]), len(VARIATION_NAMES)), np.nan)
    if "variation" in f:
        stored = f["variation"]
        for i, name in enumerate(json.loads(stored.attrs["names"])):
            if name in VARIATION_NAMES:
                out[:, VARIATION_NAMES.index(name)] = stored[:, i]
    return out


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise not_a_dataset(path, exc) from None


def _small_arrays(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict, np.ndarray]:
    """labels, split, parameters, attributes and variation (NaN where the set has none) of one file."""
    try:
        with _open(path) as f:
            return f["labels"][()], f["split"][()], f["parameters"][()], dict(f.attrs), read_variation(f)
    except KeyError as exc:
        raise not_a_dataset(path, exc) from None
