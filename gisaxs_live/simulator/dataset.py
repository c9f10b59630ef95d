"""Labelled pattern sets: the paper's Fig. 1 grid or uniform random sampling, simulated in parallel and
written to one HDF5 file (h5py).

Layout: ``images`` (N, n_qz, n_qy) uint8, ``intensity`` (N, n_qz, n_qy) float32 (dσ/dΩ per particle, nm²),
``labels`` (N,) int, ``split`` (N,) uint8 (0 train, 1 test), ``parameters`` (N, P) float64 with NaN where a
parameter does not apply (names in its ``names`` attribute); file attributes describe the class order,
the q-grid, the experiment, the simulator and the seed. Rows are q_z ascending, columns q_y ascending.

A training set can vary per pattern what the simulator otherwise fixes and real samples and instruments do
not (``Randomisation``; off unless asked for, so test sets keep the configured experiment). Ranges:

* wavelength λ × (1 ± ``wavelength_band``) (default ±5 %) and incidence α_i ± ``incidence_band_deg``
  (default ±0.03°), each uniform; the refractive indices follow λ as δ ∝ λ² and β ∝ λ⁴ (away from
  absorption edges). The q-grid stays the model's, so the horizon and the Yoneda band move on it as in a
  frame whose geometry is slightly off;
* structure factor (``simulator.structure``): Percus–Yevick hard spheres with η uniform in
  ``volume_fraction`` (default 0.02–0.35), a radial paracrystal with d/D_y uniform in ``spacing_ratio``
  (1.05–2.5) and ω/d in ``disorder`` (0.1–0.35), or dilute (S = 1), with probabilities ``p_structure``
  (0.6, 0.25, 0.15); met with the size distribution in the decoupling approximation, or with probability
  ``p_local_monodisperse`` (0.5) in the local monodisperse one (S scaled to each size: a size–spacing
  coupling whose q∥ → 0 minimum polydispersity does not fill, as in BornAgain's per-size deposits);
* size distribution of D_y (``simulator.distributions``): log-normal, Gaussian or Schulz with
  probabilities ``p_distribution`` (0.5, 0.25, 0.25), same mode and FWHM.

The drawn values are stored per pattern in ``variation`` (N, V) float64 (names in its ``names`` attribute;
kinds as their index in STRUCTURE_KINDS / SIZE_DISTRIBUTIONS / APPROXIMATIONS) and the ranges in the
``randomisation`` attribute.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import h5py
import numpy as np

from ..causes import Unavailable
from ..config import Config, Experiment, Material, Simulation
from ..preprocess.scale import to_levels
from ..preprocess.qgrid import QGrid
from . import SIMULATOR_VERSION
from .distributions import SIZE_DISTRIBUTIONS
from .heap import keep_freed_memory
from .pattern import Optics, simulate_pattern
from .shapes import CLASS_NAMES, SHAPES
from .structure import APPROXIMATIONS, STRUCTURE_KINDS, Structure

PARAMETER_NAMES: tuple[str, ...] = tuple(dict.fromkeys(p.name for s in SHAPES for p in s.parameters))
PAPER_TEST_PER_CLASS = 84
#: patterns per HDF5 write: two h5py calls per block instead of per pattern (0.38 vs 0.52 ms a pattern)
WRITE_BLOCK = 64


VARIATION_NAMES = ("wavelength_scale", "incidence_offset_deg", "structure", "volume_fraction", "spacing_ratio",
                   "disorder", "distribution", "approximation")


@dataclass(frozen=True)
class PatternSpec:
    """One pattern to simulate: its class index and full parameter set, and optionally its own sample and
    instrument variation (a dict over VARIATION_NAMES, see ``Randomisation``)."""

    label: int
    params: dict[str, float]
    test: bool
    variation: dict[str, float] | None = None


@dataclass(frozen=True)
class Randomisation:
    """Ranges of the per-pattern variation (see module docstring)."""

    wavelength_band: float = 0.05
    incidence_band_deg: float = 0.03
    p_structure: tuple[float, ...] = (0.6, 0.25, 0.15)
    volume_fraction: tuple[float, float] = (0.02, 0.35)
    spacing_ratio: tuple[float, float] = (1.05, 2.5)
    disorder: tuple[float, float] = (0.1, 0.35)
    p_distribution: tuple[float, ...] = (0.5, 0.25, 0.25)
    p_local_monodisperse: float = 0.5

    def draw(self, rng: np.random.Generator) -> dict[str, float]:
        """One pattern's variation."""
        return {
            "wavelength_scale": 1.0 + rng.uniform(-self.wavelength_band, self.wavelength_band),
            "incidence_offset_deg": rng.uniform(-self.incidence_band_deg, self.incidence_band_deg),
            "structure": float(rng.choice(len(STRUCTURE_KINDS), p=self.p_structure)),
            "volume_fraction": rng.uniform(*self.volume_fraction),
            "spacing_ratio": rng.uniform(*self.spacing_ratio),
            "disorder": rng.uniform(*self.disorder),
            "distribution": float(rng.choice(len(SIZE_DISTRIBUTIONS), p=self.p_distribution)),
            "approximation": float(APPROXIMATIONS.index(
                "local_monodisperse" if rng.uniform() < self.p_local_monodisperse else "decoupling")),
        }


def paper_specs(seed: int, test_per_class: int = PAPER_TEST_PER_CLASS) -> list[PatternSpec]:
    """The Fig. 1 grid of every class (336 each) with ``test_per_class`` of each held out at random."""
    specs = []
    for label, shape in enumerate(SHAPES):
        points = shape.paper_points()
        test = _test_mask(len(points), test_per_class, np.random.default_rng([seed, label, 1]))
        specs += [PatternSpec(label, p, bool(t)) for p, t in zip(points, test)]
    return specs


def random_specs(per_class: int, seed: int, test_fraction: float,
                 randomisation: Randomisation | None = None) -> list[PatternSpec]:
    """``per_class`` patterns of each class, parameters uniform over each table's sample ranges; with a
    ``randomisation``, each also gets its own variation (drawn from a generator of its own, so the shape
    parameters are those of the same seed without it)."""
    specs = []
    for label, shape in enumerate(SHAPES):
        rng = np.random.default_rng([seed, label, 0])
        points = [shape.check(shape.random(rng)) for _ in range(per_class)]
        n_test = int(round(test_fraction * per_class))
        test = _test_mask(per_class, n_test, np.random.default_rng([seed, label, 1]))
        variation_rng = np.random.default_rng([seed, label, 2])
        variations = [randomisation.draw(variation_rng) if randomisation else None for _ in points]
        specs += [PatternSpec(label, p, bool(t), v) for p, t, v in zip(points, test, variations)]
    return specs


def _test_mask(n: int, n_test: int, rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:n_test]] = True
    return mask


_WORKER: dict = {}


def _init_worker(config: Config, grid: QGrid, optics: Optics) -> None:
    """A simulation worker process: ``_set_up``, and it ends with its parent and leaves Ctrl-C to it (the parent shuts
    the pool down; each worker printed a KeyboardInterrupt traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    _set_up(config, grid, optics)


def _set_up(config: Config, grid: QGrid, optics: Optics) -> None:
    """This process simulates for ``config``: one BLAS thread, freed memory kept, the experiment's grid and optics."""
    from threadpoolctl import threadpool_limits

    # each worker has a core of its own, and the idle threads of a multi-threaded OpenBLAS spin: on 2 cores they
    # doubled the CPU time of the paper set (37 s instead of 19 s)
    threadpool_limits(limits=1, user_api="blas")
    keep_freed_memory()
    _WORKER.update(config=config, grid=grid, optics=optics)


def _die_with_parent() -> None:
    """Have the kernel end this worker when its parent dies (Linux ``PR_SET_PDEATHSIG``): a SIGTERM or kill -9 of
    ``simulate`` or ``train`` left its workers waiting forever, orphans of 100 MB each."""
    import ctypes

    try:
        set_death_signal = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return
    set_death_signal(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _simulate(spec: PatternSpec) -> np.ndarray:
    w = _WORKER
    shape, simulation = SHAPES[spec.label], w["config"].simulation
    if spec.variation is None:
        return simulate_pattern(shape, spec.params, w["grid"], w["optics"], simulation)
    optics, structure, distribution = varied(w["optics"], spec.variation)
    return simulate_pattern(shape, spec.params, w["grid"], optics, simulation, structure, distribution)


def varied(optics: Optics, variation: dict[str, float]) -> tuple[Optics, Structure, str]:
    """The optics, structure factor and size distribution of one pattern's ``variation`` (without an
    ``approximation``, or NaN there: the decoupling approximation)."""
    scale = variation["wavelength_scale"]

    def index(n: complex) -> complex:
        return complex(1.0 - (1.0 - n.real) * scale**2, n.imag * scale**4)

    optics = replace(optics, k=optics.k / scale,
                     alpha_i=optics.alpha_i + float(np.radians(variation["incidence_offset_deg"])),
                     n_substrate=index(optics.n_substrate), n_particle=index(optics.n_particle))
    approximation = variation.get("approximation", 0.0)
    structure = Structure(STRUCTURE_KINDS[int(variation["structure"])], variation["volume_fraction"],
                          variation["spacing_ratio"], variation["disorder"],
                          APPROXIMATIONS[0 if np.isnan(approximation) else int(approximation)])
    return optics, structure, SIZE_DISTRIBUTIONS[int(variation["distribution"])]


def simulate_specs(specs: Sequence[PatternSpec], config: Config, workers: int | None = None) -> Iterator[np.ndarray]:
    """Intensities of ``specs`` in order, computed on ``workers`` processes (default: all cores)."""
    grid = QGrid.for_experiment(config.experiment, config.grid)
    optics = Optics.from_experiment(config.experiment)
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        _set_up(config, grid, optics)
        yield from map(_simulate, specs)
        return
    pool = ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(config, grid, optics))
    try:
        yield from pool.map(_simulate, specs, chunksize=8)
    finally:  # interrupted: the patterns not started are dropped, not computed first
        pool.shutdown(wait=True, cancel_futures=True)


def write_dataset(path: str | Path, specs: Sequence[PatternSpec], config: Config, *, seed: int, protocol: str,
                  workers: int | None = None, progress: Callable[[int], None] | None = None,
                  randomisation: Randomisation | None = None) -> None:
    """Simulate ``specs`` and write them, with their labels, split and parameters (and variations, recorded
    with the ``randomisation`` they were drawn from), to ``path`` (HDF5). The set is written beside it under a
    hidden name and renamed into place once complete: an interrupted run leaves no set whose unwritten patterns
    read as blank ones (other commands took such a set for a whole one)."""
    path = Path(os.path.realpath(path))  # a link given is written through, not replaced
    partial = path.with_name(f".{path.name}.partial")
    check_room(path.parent, str(path), len(specs), QGrid.for_experiment(config.experiment, config.grid).shape)
    try:
        _write(partial, specs, config, seed=seed, protocol=protocol, workers=workers, progress=progress,
               randomisation=randomisation)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def check_room(directory: Path, what: str, n: int, shape: tuple[int, int]) -> None:
    """Refuse, before any work, ``n`` patterns of ``shape`` that may not fit in ``directory``'s file system (``what``:
    the set or shards, for the message): float32 intensity and uint8 image, uncompressed (gzip leaves about 70 %),
    and 1 MiB. HDF5 could not close a set whose write failed for want of space, and h5py then crashed the
    process."""
    need = n * shape[0] * shape[1] * 5 + (1 << 20)
    disk = shutil.disk_usage(directory)
    if disk.total and disk.free < need:  # some network and FUSE file systems report no size at all: not checked
        raise Unavailable(f"{what}: {disk.free / 1e6:,.1f} MB free on its file system, and the set of {n:,} "
                          f"patterns may need up to {need / 1e6:,.1f} MB")


def _write(path: Path, specs: Sequence[PatternSpec], config: Config, *, seed: int, protocol: str,
           workers: int | None, progress: Callable[[int], None] | None, randomisation: Randomisation | None) -> None:
    """``write_dataset`` into ``path`` itself."""
    grid = QGrid.for_experiment(config.experiment, config.grid)
    optics = Optics.from_experiment(config.experiment)
    n = len(specs)
    params = np.array([[s.params.get(name, np.nan) for name in PARAMETER_NAMES] for s in specs], dtype=np.float64)
    with h5py.File(path, "w") as f:
        images = f.create_dataset("images", (n, *grid.shape), dtype=np.uint8, chunks=(1, *grid.shape),
                                  compression="gzip")
        # byte shuffle first: float32 then compresses to 77 % instead of 92 % of its size, in 0.35 instead of 0.51 ms
        intensity = f.create_dataset("intensity", (n, *grid.shape), dtype=np.float32, chunks=(1, *grid.shape),
                                     compression="gzip", shuffle=True)
        f.create_dataset("labels", data=np.array([s.label for s in specs], dtype=np.int64))
        f.create_dataset("split", data=np.array([s.test for s in specs], dtype=np.uint8))
        f.create_dataset("parameters", data=params).attrs["names"] = json.dumps(PARAMETER_NAMES)
        if any(s.variation is not None for s in specs):
            variation = np.array([[(s.variation or {}).get(name, np.nan) for name in VARIATION_NAMES] for s in specs])
            f.create_dataset("variation", data=variation).attrs["names"] = json.dumps(VARIATION_NAMES)
            f.attrs["randomisation"] = json.dumps(asdict(randomisation) if randomisation else None)
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
        block = []
        for done, pattern in enumerate(simulate_specs(specs, config, workers), 1):
            block.append(pattern)
            if len(block) == WRITE_BLOCK or done == n:
                patterns = np.stack(block)
                intensity[done - len(block):done] = patterns
                images[done - len(block):done] = to_levels(patterns, config.scale.decades)
                block.clear()
                if progress is not None:
                    progress(done)


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
    #: per-pattern sample and instrument variation (N, len(VARIATION_NAMES)), NaN where none was drawn
    variation: np.ndarray | None = None

    @property
    def test(self) -> np.ndarray:
        """Boolean mask of the held-out test patterns."""
        return self.split.astype(bool)


def experiment_of(attrs) -> Experiment:
    """The experiment a set was simulated for, from its attributes (``write_dataset``); a ValueError naming the
    missing attribute for a set written without it."""
    with _attribute_error():
        return Experiment(wavelength_nm=float(attrs["wavelength_nm"]),
                          incidence_angle_deg=float(attrs["incidence_angle_deg"]),
                          substrate=Material(**json.loads(attrs["substrate"])),
                          particle=Material(**json.loads(attrs["particle"])),
                          volume_fraction=float(attrs["volume_fraction"]))


def simulation_of(attrs) -> Simulation:
    """The simulator's resolution a set was made with, from its attributes (``write_dataset``)."""
    with _attribute_error():
        return Simulation(**json.loads(attrs["simulation"]))


@contextmanager
def _attribute_error():
    try:
        yield
    except KeyError as exc:
        raise ValueError(f"the set has no attribute {exc.args[0]!r}: simulate it again with this version") from None


def read_dataset(path: str | Path, with_intensity: bool = True) -> Dataset:
    """Read a dataset file written by ``write_dataset``, or a shard directory/manifest (``simulator.shards``,
    all shards concatenated); errors name the file."""
    from .shards import PatternSet, is_sharded, read_variation

    if is_sharded(path):
        return PatternSet(path).to_dataset(with_intensity=with_intensity)
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            data = Dataset(
                images=f["images"][()],
                intensity=f["intensity"][()] if with_intensity else None,
                labels=f["labels"][()],
                split=f["split"][()],
                parameters=f["parameters"][()],
                class_names=tuple(json.loads(attrs["class_names"])),
                grid=QGrid.from_dict(json.loads(attrs["qgrid"])),
                attrs=attrs,
                variation=read_variation(f),
            )
    except (OSError, KeyError) as exc:
        raise not_a_dataset(path, exc) from None
    except (ValueError, TypeError):  # json of an attribute, a q-grid that is not numbers
        raise ValueError(f"{path}: not a gisaxs-live dataset (its class_names or qgrid attribute is damaged)") from None
    _check_consistent(Path(path), data)
    return data


def _check_consistent(path: Path, data: Dataset) -> None:
    """A ValueError naming ``path`` for a set whose arrays disagree or hold what no simulation writes: no patterns,
    images that are not uint8 levels, parameters not one column per name, intensities not finite and non-negative,
    labels that are not integer class indices, or lengths that differ from the images'."""
    n = len(data.images)
    if n == 0:
        raise ValueError(f"{path}: the set holds no patterns")
    if data.images.shape[1:] != data.grid.shape:
        raise ValueError(f"{path}: its images are {data.images.shape[1:]}, its q-grid {data.grid.shape}")
    if data.images.dtype != np.uint8:
        raise ValueError(f"{path}: its images are {data.images.dtype.name}, not the uint8 grey levels a simulated set "
                         "holds")
    if data.parameters.ndim != 2 or data.parameters.shape[1] != len(PARAMETER_NAMES):
        raise ValueError(f"{path}: its parameters are {'×'.join(map(str, data.parameters.shape))}, not one column "
                         f"for each of the {len(PARAMETER_NAMES)} parameter names")
    if data.intensity is not None and not (np.isfinite(data.intensity).all() and (data.intensity >= 0).all()):
        raise ValueError(f"{path}: its intensities hold values that are not finite non-negative numbers (NaN, "
                         "infinite or negative)")
    lengths = {"labels": len(data.labels), "split": len(data.split), "parameters": len(data.parameters)}
    if data.intensity is not None:
        lengths["intensity"] = len(data.intensity)
    check_lengths(path, "images", n, lengths)
    check_labels(path, data.labels, data.class_names)


def check_lengths(path: Path, what: str, n: int, lengths: dict[str, int]) -> None:
    """A ValueError naming ``path`` unless every array of ``lengths`` (name → its length) has ``n``, as ``what``."""
    wrong = [f"{name} {length}" for name, length in lengths.items() if length != n]
    if wrong:
        raise ValueError(f"{path}: {n} {what} but {', '.join(wrong)}")


def check_labels(path: Path, labels: np.ndarray, class_names: tuple[str, ...]) -> None:
    """A ValueError naming ``path`` unless ``labels`` are class indices of ``class_names``."""
    if len(labels) and (labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f"{path}: its labels must be class indices 0–{len(class_names) - 1}")


def not_a_dataset(path: str | Path, exc: Exception) -> ValueError:
    """The one-line error for a set file that cannot be read: missing, not HDF5, or without a key of ours."""
    path = Path(path)
    if not path.exists():
        cause = "no such file"
    elif isinstance(exc, KeyError):  # h5py: "Unable to synchronously open object (object 'images' doesn't exist)"
        missing = re.search(r"object '([^']+)'", str(exc))
        cause = f"not a gisaxs-live dataset (no {missing[1] if missing else exc} in it)"
    elif path.is_dir():
        cause = "a directory without a shard manifest, not a gisaxs-live dataset"
    else:
        cause = "not a gisaxs-live dataset (not an HDF5 file, or a damaged one)"
    return ValueError(f"{path}: {cause}")
