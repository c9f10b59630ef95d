"""``gisaxs-live train``: simulate (or reuse) a training set for the config's experiment, with the sample and
instrument randomised around it, train the CNN with detector-like augmentation on a fixed warm-up + cosine
schedule, and write a model directory. ``--from MODEL`` fine-tunes MODEL's weights to the config's
experiment instead (fewer patterns and epochs)."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..classify.model import ARCHITECTURES
from ..training.flag_defaults import PER_KIND, PER_KIND_FINE_TUNE
from . import at_least

#: Patterns per class to simulate: a full training, and a fine-tuning (``--from``).
PER_CLASS = 2500
PER_CLASS_FINE_TUNE = 1800


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="simulate a training set and train the shape classifier and its size net",
                              description=__doc__)
    p.add_argument("--config", type=Path, default=None, help="YAML config (its experiment is simulated)")
    p.add_argument("--dataset", type=Path, default=None,
                   help="use this HDF5 set (from `simulate` or an earlier `train`), or a shard directory or "
                        "manifest from `simulate --shards` (read streaming), instead of simulating one")
    p.add_argument("--from", dest="from_model", type=Path, default=None, metavar="MODEL",
                   help="fine-tune this model directory (same classes and grid shape) instead of training anew")
    p.add_argument("--per-class", type=int, default=None,
                   help=f"patterns per class to simulate (default {PER_CLASS}; {PER_CLASS_FINE_TUNE} with --from)")
    p.add_argument("--seed", type=int, default=0, help="seed of the training set, augmentation and weights")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs of the fixed schedule, classifier and size net (default 18 and 30; 9 with --from)")
    p.add_argument("--randomise", action=argparse.BooleanOptionalAction, default=True,
                   help="vary wavelength, incidence angle, structure factor and size distribution per pattern "
                        "and add instrument effects to the augmentation (default: on)")
    p.add_argument("--size", action=argparse.BooleanOptionalAction, default=True,
                   help="also train the size net (D_y, aspect, FWHM, distance with uncertainties; default: on)")
    p.add_argument("--architecture", choices=ARCHITECTURES, default=None,
                   help="the classifier's network: deep (the default) or paper (Ikemoto et al.'s Table 1); with --from, MODEL's")
    p.add_argument("--outliers-per-kind", type=int, default=None, metavar="N",
                   help="foreign frames per kind that the out-of-distribution flag is shown (outlier exposure; "
                        f"default {PER_KIND}; {PER_KIND_FINE_TUNE} with --from; 0: no outlier-exposure layer)")
    p.add_argument("--workers", type=int, default=None, help="simulation processes (default: all cores)")
    p.add_argument("--out", type=Path, default=Path("gisaxs-model"), help="model directory to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from dataclasses import asdict, replace

    import numpy as np
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from .. import __version__
    from ..classify.modeldir import META, TRAINING, WEIGHTS, ModelInfo
    from ..config import load_config
    from ..replacing import replacing, write_text_replacing
    from ..simulator import SIMULATOR_VERSION
    from ..simulator.dataset import Randomisation, experiment_of, random_specs, write_dataset
    from ..simulator.shards import IntensityView, PatternSet
    from ..simulator.shapes import CLASS_NAMES
    from ..preprocess.qgrid import QGrid
    from ..training.augment import Realism, held_out_images, set_realism
    from ..training.evaluate import metrics
    from ..training.ood_calibration import outlier_options
    from ..training.provenance import dataset_hash, experiment_record
    from ..training.train import (FINE_TUNE, ONE_CHUNK_MAX, TrainSettings, predict_images, resolve_precision,
                                  train_classifier)

    console = Console(stderr=True)
    # a bad count stops here, not after the training (0 used to mean "the default", -1 a traceback)
    at_least(("--epochs", args.epochs, 1), ("--per-class", args.per_class, 1))
    outliers = outlier_options(args.outliers_per_kind, PER_KIND if args.from_model is None else PER_KIND_FINE_TUNE)
    config = load_config(args.config)
    grid = QGrid.for_experiment(config.experiment, config.grid)
    base = TrainSettings()
    if args.from_model is not None:
        parent = ModelInfo.read(args.from_model)
        _check_compatible(parent, CLASS_NAMES, grid.shape)
        base = replace(FINE_TUNE, architecture=parent.architecture, initial_weights=args.from_model / WEIGHTS)
        if args.architecture not in (None, parent.architecture):
            raise ValueError(f"--architecture {args.architecture}: {args.from_model} is a {parent.architecture} network")
    settings = replace(base, seed=args.seed, epochs=args.epochs or base.epochs,
                       architecture=args.architecture or base.architecture)
    randomisation = Randomisation() if args.randomise else None
    # before anything is made: a mistyped --dataset or --out must not mark a model directory as in training
    given = None if args.dataset is None else PatternSet(args.dataset)  # labels and attributes; patterns as needed
    if given is not None and args.config is not None:
        _check_set_matches_config(args.dataset, experiment_of(given.attrs), given.grid, args.config, config, grid)
    if (args.out / META).is_file() and not (args.out / TRAINING).exists():
        raise ValueError(f"--out {args.out}: holds a trained model already; give another directory, or remove it "
                         "first (a training writes its model there as it goes)")
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / TRAINING).write_text(f"{os.getpid()}\n")  # until the last calibration: no one else loads it
    dataset_path = args.dataset or args.out / "training_set.h5"
    if args.dataset is None:
        per_class = args.per_class or (PER_CLASS if args.from_model is None else PER_CLASS_FINE_TUNE)
        specs = random_specs(per_class, args.seed, 0.2, randomisation)
        columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("patterns", total=len(specs))
            write_dataset(dataset_path, specs, config, seed=args.seed, protocol="random", workers=args.workers,
                          progress=lambda done: bar.update(task, completed=done), randomisation=randomisation)
    simulated = time.perf_counter()
    data = given if given is not None else PatternSet(dataset_path)
    if args.from_model is not None:
        _check_compatible(parent, data.class_names, data.grid.shape)
    train, val = np.nonzero(~data.test)[0], np.nonzero(data.test)[0]
    if not len(val):
        raise ValueError(f"{dataset_path}: has no held-out split to report on")
    decades = float(data.attrs["scale_decades"])
    realism = set_realism(data.attrs, data.grid) if args.randomise else Realism()
    val_images = held_out_images(data, val, args.seed, realism)
    # a set of up to ONE_CHUNK_MAX training patterns is read once, larger ones stream from the file or shards
    train_intensity = data.intensity(train) if len(train) <= ONE_CHUNK_MAX else IntensityView(data, train)
    with epoch_progress(console, "training", settings.epochs) as on_epoch:
        model, reports = train_classifier(train_intensity, data.labels[train], val_images, data.labels[val],
                                          len(data.class_names), decades, settings, realism, on_epoch)
    trained = time.perf_counter()
    del train_intensity
    noisy = metrics(predict_images(model, val_images), data.labels[val], data.class_names)
    clean = metrics(np.concatenate([predict_images(model, data.images(part)) for part in _parts(val)]), data.labels[val],
                    data.class_names)
    with replacing(args.out / WEIGHTS) as weights:
        model.save_weights(weights)
    experiment = experiment_of(data.attrs)
    recipe = {k: v for k, v in asdict(settings).items() if k != "initial_weights"}
    recipe["precision"] = resolve_precision(settings.precision)
    meta = {
        "class_names": list(data.class_names),
        "qgrid": json.loads(data.attrs["qgrid"]),
        "scale_decades": decades,
        "experiment": experiment_record(experiment),
        "architecture": settings.architecture,
        "simulator_version": str(data.attrs.get("simulator_version", SIMULATOR_VERSION)),  # the set's, not ours
        "gisaxs_live_version": __version__,
        "training_set": {"path": str(dataset_path), "protocol": str(data.attrs["protocol"]),
                         "seed": int(data.attrs["seed"]), "sha256": dataset_hash(data),
                         "n_train": len(train), "n_held_out": len(val),
                         "simulation": json.loads(data.attrs["simulation"])},
        "augmentation": asdict(realism),
        "randomisation": json.loads(data.attrs.get("randomisation", "null")),
        "training": {"epochs": len(reports), "seed": args.seed, "settings": recipe,
                     "history": [r.__dict__ for r in reports],
                     "seconds_simulation": simulated - started, "seconds_training": trained - simulated,
                     "cpu_seconds": _cpu_seconds(), "load_average": list(os.getloadavg())},
        "metrics": {"held_out_noisy": noisy, "held_out_clean": clean},
    }
    if args.from_model is not None:
        meta["fine_tuned_from"] = {"path": str(args.from_model), "experiment": parent.meta["experiment"],
                                   "training_set_sha256": parent.meta.get("training_set", {}).get("sha256")}
    write_text_replacing(args.out / META, json.dumps(meta, indent=1, default=list))
    _calibrate(args.out, data, args.seed, realism, console, outliers)
    if args.size:
        _train_size(args, settings, data, val_images, realism, console)
    (args.out / TRAINING).unlink()
    console.print(f"model written to {args.out}: held-out top-1 {noisy['top1']:.1f} % (noisy), "
                  f"{clean['top1']:.1f} % (clean); top-2 {noisy['top2']:.1f} % (noisy); "
                  f"{len(reports)} epochs, {trained - started:.0f} s")
    return 0


def _check_set_matches_config(path: Path, experiment: Any, set_grid: Any, config_path: Path, config: Any,
                              config_grid: Any) -> None:
    """A ValueError when the set at ``path`` was simulated for another experiment or q-grid than ``config`` gives: the
    model would be trained for the set's, not the one asked for with --config."""
    asked = config.experiment
    if (math.isclose(experiment.wavelength_nm, asked.wavelength_nm, rel_tol=1e-6)
            and math.isclose(experiment.incidence_angle_deg, asked.incidence_angle_deg, rel_tol=1e-6)
            and set_grid == config_grid):
        return
    grid_too = "" if set_grid == config_grid else " and another q-grid"
    raise ValueError(f"{path}: simulated for wavelength {experiment.wavelength_nm:g} nm, incidence "
                     f"{experiment.incidence_angle_deg:g}°{grid_too}; {config_path} gives {asked.wavelength_nm:g} nm, "
                     f"{asked.incidence_angle_deg:g}°: the model would be for the set's experiment. Give a set "
                     f"simulated with --config {config_path}, or leave out --dataset")


@contextmanager
def epoch_progress(console, title: str, epochs: int) -> Iterator[Callable]:
    """A rich progress bar over ``epochs`` with the last epoch's figures and the ETA; yields the ``on_epoch``
    callback that advances it (a log file, not a terminal, gets one line per epoch instead)."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = (TextColumn(title), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[line]}"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("epochs", total=epochs, line="")

        def on_epoch(r) -> None:
            line = (f"loss {r.loss:.3f} acc {r.accuracy:.3f} | held-out loss {r.val_loss:.3f} acc "
                    f"{r.val_accuracy:.3f} ({r.seconds:.0f} s)")
            bar.update(task, completed=r.epoch, line=line)
            if not console.is_terminal:
                console.print(f"{title} epoch {r.epoch}/{epochs}: {line}")

        yield on_epoch


def _train_size(args: argparse.Namespace, settings, data, val_images, realism, console) -> None:
    """The size net of the new model, with a progress bar; fine-tuning starts from the parent's size net where it
    has one."""
    from dataclasses import replace

    from ..classify.size_net import SIZE_WEIGHTS
    from ..training.size_training import SIZE_SETTINGS, train_size_net

    size_settings = replace(SIZE_SETTINGS, seed=args.seed, precision=settings.precision,
                            epochs=args.epochs or SIZE_SETTINGS.epochs)
    if args.from_model is not None and (args.from_model / SIZE_WEIGHTS).is_file():
        size_settings = replace(settings, initial_weights=args.from_model / SIZE_WEIGHTS)
    with epoch_progress(console, "size net", size_settings.epochs) as on_epoch:
        record = train_size_net(args.out, data, val_images, realism, size_settings, on_epoch)
    print_size_figures(console, record)


def print_size_figures(console, record: dict) -> None:
    """One line: the size net's held-out median errors (``train_size_net``'s record) and its training time."""
    figures = record["metrics"]["held_out_noisy"]["all"]
    console.print(f"size net: held-out median error D_y {100 * figures['D_y']['median']:.1f} %, aspect "
                  f"{figures['aspect']['median']:.3f}, FWHM {100 * figures['fwhm']['median']:.1f} %, distance "
                  f"{100 * figures['distance']['median']:.1f} % ({record['training']['seconds']:.0f} s)")


#: Patterns of the training set (a random subset of a larger one) that calibrate the ood flag and the answer sets.
CALIBRATION_PATTERNS = 32768


def _parts(indices, size: int = 4096):
    """``indices`` in consecutive parts of at most ``size`` (bounded reads of a large set)."""
    return [indices[i:i + size] for i in range(0, len(indices), size)]


def _calibrate(model_dir: Path, patterns, seed: int, realism, console, outliers: dict) -> None:
    """The out-of-distribution statistics of the new model (``ood.npz``, ``model.json`` key ``ood``) and its
    answer-set threshold (key ``answer``) from its own training set (at most CALIBRATION_PATTERNS of it, drawn at
    random): the train split for the class statistics, the held-out split for the thresholds; ``outliers``:
    ``calibrate``'s keywords for the outlier-exposure layer (``outlier_options``)."""
    import numpy as np

    from ..classify.predictor import Predictor
    from ..training import answer_calibration
    from ..training.provenance import record_calibration
    from ..training.ood_calibration import calibrate

    indices = np.arange(len(patterns))
    if len(indices) > CALIBRATION_PATTERNS:
        indices = np.sort(np.random.default_rng([seed, 5]).choice(indices, CALIBRATION_PATTERNS, replace=False))
    data = patterns.to_dataset(indices)
    predictor = Predictor(model_dir, with_ood=False)  # the statistics are what this makes
    with console.status("out-of-distribution flag") as status:
        ood, record = calibrate(predictor, data, seed, realism=realism, **outliers,
                                on_step=lambda what: status.update(f"out-of-distribution flag: {what}"))
    ood.save(model_dir)
    record_calibration(model_dir, "ood", record, data)
    console.print(f"out-of-distribution threshold {ood.threshold:.2f} (the {100 * ood.quantile:g}th percentile "
                  f"of the held-out patterns)")
    answer = answer_calibration.calibrate(predictor, data, seed, realism=realism)
    record_calibration(model_dir, "answer", answer, data)
    console.print(f"answer sets: threshold {answer['threshold']:.3f}, the true family in "
                  f"{100 * answer['held_out']['coverage']:.1f} % of the held-out answers")


def _cpu_seconds() -> float:
    """CPU time (s) of this process and its finished children (the simulation workers) so far: with the
    wall time and the load average, it tells what a shared machine cost a run."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _check_compatible(parent, class_names, grid_shape: tuple[int, int]) -> None:
    """Stop with one line unless the classes (in order) and the grid shape match the model to fine-tune."""
    if tuple(parent.class_names) != tuple(class_names):
        raise ValueError(f"--from {parent.path}: its classes ({', '.join(parent.class_names)}) are not this "
                         f"training set's ({', '.join(class_names)}) in the same order")
    if parent.grid.shape != tuple(grid_shape):
        raise ValueError(f"--from {parent.path}: its q-grid is {parent.grid.shape[0]} x {parent.grid.shape[1]} "
                         f"bins, this experiment's is {grid_shape[0]} x {grid_shape[1]}; the weights cannot be "
                         f"reused")
