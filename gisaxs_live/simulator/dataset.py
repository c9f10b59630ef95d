"""Labelled pattern sets: the paper's Fig. 1 grid or uniform random sampling, simulated in parallel and
written to one HDF5 file (h5py).

Layout: ``images`` (N, n_qz, n_qy) uint8, ``intensity`` (N, n_qz, n_qy) float32 (dσ/dΩ per particle, nm²),
``labels`` (N,) int, ``split`` (N,) uint8 (0 train, 1 test), ``parameters`` (N, P) float64 with NaN where a
parameter does not apply (names in its ``names`` attribute); file attributes describe the class order,
the q-grid, the experiment, the simulator and the seed. Rows are q_z ascending, columns q_y ascending.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np

from ..config import Config
from ..preprocess.scale import to_levels
from ..qgrid import QGrid
from . import SIMULATOR_VERSION
from .pattern import Optics, simulate_pattern
from .shapes import CLASS_NAMES, SHAPES

PARAMETER_NAMES: tuple[str, ...] = tuple(dict.fromkeys(p.name for s in SHAPES for p in s.parameters))
PAPER_TEST_PER_CLASS = 84


@dataclass(frozen=True)
class PatternSpec:
    """One pattern to simulate: its class index and full parameter set."""

    label: int
    params: dict[str, float]
    test: bool


def paper_specs(seed: int, test_per_class: int = PAPER_TEST_PER_CLASS) -> list[PatternSpec]:
    """The Fig. 1 grid of every class (336 each) with ``test_per_class`` of each held out at random."""
    specs = []
    for label, shape in enumerate(SHAPES):
        points = shape.paper_points()
        test = _test_mask(len(points), test_per_class, np.random.default_rng([seed, label, 1]))
        specs += [PatternSpec(label, p, bool(t)) for p, t in zip(points, test)]
    return specs


def random_specs(per_class: int, seed: int, test_fraction: float) -> list[PatternSpec]:
    """``per_class`` patterns of each class, parameters uniform over each table's sample ranges."""
    specs = []
    for label, shape in enumerate(SHAPES):
        rng = np.random.default_rng([seed, label, 0])
        points = [shape.check(shape.random(rng)) for _ in range(per_class)]
        n_test = int(round(test_fraction * per_class))
        test = _test_mask(per_class, n_test, np.random.default_rng([seed, label, 1]))
        specs += [PatternSpec(label, p, bool(t)) for p, t in zip(points, test)]
    return specs


def _test_mask(n: int, n_test: int, rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:n_test]] = True
    return mask


_WORKER: dict = {}


def _init_worker(config: Config, grid: QGrid, optics: Optics) -> None:
    _single_threaded_blas()
    _WORKER.update(config=config, grid=grid, optics=optics)


def _single_threaded_blas() -> None:
    """Limit OpenBLAS to one thread in this worker process. Each worker already has a core of its own, and
    the idle threads of a multi-threaded OpenBLAS spin: on 2 cores they doubled the CPU time of the paper
    set (37 s instead of 19 s). Uses the library's own setter, found among the loaded objects; a no-op
    where there is none (another BLAS, no /proc)."""
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("openblas_set_num_threads", "openblas_set_num_threads64_",
                     "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads"):
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(1)
                break


def _simulate(spec: PatternSpec) -> np.ndarray:
    w = _WORKER
    return simulate_pattern(SHAPES[spec.label], spec.params, w["grid"], w["optics"], w["config"].simulation)


def simulate_specs(specs: Sequence[PatternSpec], config: Config, workers: int | None = None) -> Iterator[np.ndarray]:
    """Intensities of ``specs`` in order, computed on ``workers`` processes (default: all cores)."""
    grid = QGrid.for_experiment(config.experiment, config.grid)
    optics = Optics.from_experiment(config.experiment)
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        _init_worker(config, grid, optics)
        yield from map(_simulate, specs)
        return
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(config, grid, optics)) as pool:
        yield from pool.map(_simulate, specs, chunksize=8)


def write_dataset(path: str | Path, specs: Sequence[PatternSpec], config: Config, *, seed: int, protocol: str,
                  workers: int | None = None, progress: Callable[[int], None] | None = None) -> None:
    """Simulate ``specs`` and write them, with their labels, split and parameters, to ``path`` (HDF5)."""
    grid = QGrid.for_experiment(config.experiment, config.grid)
    optics = Optics.from_experiment(config.experiment)
    n = len(specs)
    params = np.array([[s.params.get(name, np.nan) for name in PARAMETER_NAMES] for s in specs], dtype=np.float64)
    with h5py.File(path, "w") as f:
        images = f.create_dataset("images", (n, *grid.shape), dtype=np.uint8, chunks=(1, *grid.shape),
                                  compression="gzip")
        intensity = f.create_dataset("intensity", (n, *grid.shape), dtype=np.float32, chunks=(1, *grid.shape),
                                     compression="gzip")
        f.create_dataset("labels", data=np.array([s.label for s in specs], dtype=np.int64))
        f.create_dataset("split", data=np.array([s.test for s in specs], dtype=np.uint8))
        f.create_dataset("parameters", data=params).attrs["names"] = json.dumps(PARAMETER_NAMES)
        attrs = {
            "class_names": json.dumps(CLASS_NAMES),
            "qgrid": json.dumps(grid.to_dict()),
            "wavelength_nm": config.experiment.wavelength_nm,
            "incidence_angle_deg": config.experiment.incidence_angle_deg,
            "substrate": json.dumps(asdict(config.experiment.substrate)),
            "particle": json.dumps(asdict(config.experiment.particle)),
            "n_substrate": json.dumps([optics.n_substrate.real, optics.n_substrate.imag]),
            "n_particle": json.dumps([optics.n_particle.real, optics.n_particle.imag]),
            "volume_fraction": config.experiment.volume_fraction,
            "simulation": json.dumps(asdict(config.simulation)),
            "scale_decades": config.scale.decades,
            "simulator_version": SIMULATOR_VERSION,
            "protocol": protocol,
            "seed": seed,
            "intensity_unit": "dσ/dΩ per particle, nm²",
        }
        f.attrs.update(attrs)
        for i, pattern in enumerate(simulate_specs(specs, config, workers)):
            intensity[i] = pattern
            images[i] = to_levels(pattern, config.scale.decades)
            if progress is not None:
                progress(i + 1)


@dataclass(frozen=True)
class Dataset:
    """A pattern set read back into memory."""

    images: np.ndarray
    intensity: np.ndarray | None
    labels: np.ndarray
    split: np.ndarray
    parameters: np.ndarray
    class_names: tuple[str, ...]
    grid: QGrid
    attrs: dict

    @property
    def test(self) -> np.ndarray:
        """Boolean mask of the held-out test patterns."""
        return self.split.astype(bool)


def read_dataset(path: str | Path, with_intensity: bool = True) -> Dataset:
    """Read a dataset file written by ``write_dataset``; errors name the file."""
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            return Dataset(
                images=f["images"][()],
                intensity=f["intensity"][()] if with_intensity else None,
                labels=f["labels"][()],
                split=f["split"][()],
                parameters=f["parameters"][()],
                class_names=tuple(json.loads(attrs["class_names"])),
                grid=QGrid.from_dict(json.loads(attrs["qgrid"])),
                attrs=attrs,
            )
    except (OSError, KeyError) as exc:
        raise ValueError(f"{path}: not a gisaxs-live dataset ({exc})") from None
