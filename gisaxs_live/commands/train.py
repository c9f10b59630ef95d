"""``gisaxs-live train``: simulate (or reuse) a training set for the config's experiment, train the CNN with
detector-like augmentation and early stopping, and write a model directory."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="simulate a training set and train the shape classifier",
                              description=__doc__)
    p.add_argument("--config", type=Path, default=None, help="YAML config (its experiment is simulated)")
    p.add_argument("--dataset", type=Path, default=None,
                   help="use this HDF5 set (from `simulate`) instead of simulating one")
    p.add_argument("--per-class", type=int, default=2500, help="patterns per class to simulate (random protocol)")
    p.add_argument("--seed", type=int, default=0, help="seed of the training set, augmentation and weights")
    p.add_argument("--max-epochs", type=int, default=60,
                   help="upper bound on epochs (default 60, as the bundled model; 24 fit a whole retrain in 15 min "
                        "on 2 cores); 3 epochs in a row without a better held-out loss end training sooner")
    p.add_argument("--workers", type=int, default=None, help="simulation processes (default: all cores)")
    p.add_argument("--out", type=Path, default=Path("gisaxs-model"), help="model directory to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from dataclasses import asdict

    import numpy as np
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .. import __version__
    from ..classify.modeldir import META, WEIGHTS
    from ..config import Experiment, Material, load_config
    from ..simulator import SIMULATOR_VERSION
    from ..simulator.dataset import random_specs, read_dataset, write_dataset
    from ..training.augment import Realism, realistic_images
    from ..training.evaluate import metrics
    from ..training.provenance import dataset_hash, experiment_record
    from ..training.train import TrainSettings, train_classifier

    console = Console(stderr=True)
    config = load_config(args.config)
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    dataset_path = args.dataset or args.out / "training_set.h5"
    if args.dataset is None:
        specs = random_specs(args.per_class, args.seed, 0.2)
        columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("patterns", total=len(specs))
            write_dataset(dataset_path, specs, config, seed=args.seed, protocol="random", workers=args.workers,
                          progress=lambda done: bar.update(task, completed=done))
    simulated = time.perf_counter()
    data = read_dataset(dataset_path)
    train, val = ~data.test, data.test
    if not val.any():
        raise ValueError(f"{dataset_path}: has no held-out split for early stopping")
    decades = float(data.attrs["scale_decades"])
    realism = Realism()
    val_images = realistic_images(data.intensity[val], np.random.default_rng([args.seed, 1]), decades, realism)
    settings = TrainSettings(max_epochs=args.max_epochs, seed=args.seed)
    columns = (TextColumn("training"), BarColumn(), TextColumn("epoch {task.completed}"),
               TextColumn("{task.fields[line]}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("epochs", total=settings.max_epochs, line="")

        def on_epoch(r):
            bar.update(task, completed=r.epoch, line=f"loss {r.loss:.3f} acc {r.accuracy:.3f} | held-out loss "
                                                      f"{r.val_loss:.3f} acc {r.val_accuracy:.3f} ({r.seconds:.0f} s)")

        model, reports = train_classifier(data.intensity[train], data.labels[train], val_images, data.labels[val],
                                          len(data.class_names), decades, settings, realism, on_epoch)
    trained = time.perf_counter()
    x_noisy = val_images[..., None].astype(np.float32) / 255.0
    x_clean = data.images[val][..., None].astype(np.float32) / 255.0
    noisy = metrics(model.predict(x_noisy, verbose=0), data.labels[val], data.class_names)
    clean = metrics(model.predict(x_clean, verbose=0), data.labels[val], data.class_names)
    model.save_weights(args.out / WEIGHTS)
    experiment = Experiment(
        wavelength_nm=float(data.attrs["wavelength_nm"]),
        incidence_angle_deg=float(data.attrs["incidence_angle_deg"]),
        substrate=Material(**json.loads(data.attrs["substrate"])),
        particle=Material(**json.loads(data.attrs["particle"])),
        volume_fraction=float(data.attrs["volume_fraction"]),
    )
    meta = {
        "class_names": list(data.class_names),
        "qgrid": json.loads(data.attrs["qgrid"]),
        "scale_decades": decades,
        "experiment": experiment_record(experiment),
        "architecture": settings.architecture,
        "simulator_version": SIMULATOR_VERSION,
        "gisaxs_live_version": __version__,
        "training_set": {"path": str(dataset_path), "protocol": str(data.attrs["protocol"]),
                         "seed": int(data.attrs["seed"]), "sha256": dataset_hash(data),
                         "n_train": int(train.sum()), "n_held_out": int(val.sum())},
        "augmentation": asdict(realism),
        "training": {"epochs": len(reports), "seed": args.seed, "history": [r.__dict__ for r in reports],
                     "seconds_simulation": simulated - started, "seconds_training": trained - simulated},
        "metrics": {"held_out_noisy": noisy, "held_out_clean": clean},
    }
    (args.out / META).write_text(json.dumps(meta, indent=1, default=list))
    console.print(f"model written to {args.out}: held-out top-1 {noisy['top1']:.1f} % (noisy), "
                  f"{clean['top1']:.1f} % (clean); top-2 {noisy['top2']:.1f} % (noisy); "
                  f"{len(reports)} epochs, {trained - started:.0f} s")
    return 0
