"""``gisaxs-live simulate``: write a labelled HDF5 pattern set and/or a preview montage.

Large sets: ``--shards DIR`` simulates on Dask, chunks of ``--chunk`` patterns each a task writing one HDF5
shard, and DIR/manifest.json naming them; on a local cluster of ``--workers`` processes, or with
``--scheduler tcp://HOST:8786`` on an existing one (whose workers see DIR). The same seed gives the same
patterns, bit for bit, as the serial ``--out`` file. ``train --dataset DIR`` reads such a set streaming."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import HDF5_FILE, PNG_PICTURE, at_least, number, output_directory, output_file

#: --protocol random's defaults: patterns per class and the fraction held out
PER_CLASS = 336
TEST_FRACTION = 0.25


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("simulate", help="simulate labelled GISAXS patterns (HDF5) or a preview montage",
                              description=__doc__)
    p.add_argument("--protocol", choices=("paper", "random"), default="paper",
                   help="paper: the exact Fig. 1 grid (336 per class); random: uniform in each class's trained "
                        "ranges (the model card; wider than the grid for some classes)")
    p.add_argument("--per-class", type=int, default=None,
                   help=f"patterns per class for --protocol random (default {PER_CLASS})")
    p.add_argument("--seed", type=int, default=0, help="seed of the random parameters and of the test split")
    p.add_argument("--test-fraction", type=number, default=None,
                   help=f"fraction held out for test with --protocol random (default {TEST_FRACTION}; paper: 84 of "
                        "336 per class)")
    p.add_argument("--config", type=Path, default=None, help="YAML config (experiment, grid, simulation)")
    p.add_argument("--randomise", action="store_true",
                   help="vary wavelength, incidence angle, structure factor and size distribution per pattern "
                        "(as `train` does for its sets)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes, or with --shards the local Dask cluster's workers (default: all cores)")
    p.add_argument("--out", type=Path, default=None, help="output HDF5 file")
    p.add_argument("--shards", type=Path, default=None, metavar="DIR",
                   help="write the set on Dask as HDF5 shards and a manifest into DIR instead of one file")
    p.add_argument("--chunk", type=int, default=None, metavar="N",
                   help="patterns per shard (one Dask task) with --shards (default 4096)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="with --shards: the Dask scheduler to run on, e.g. tcp://host:8786 (default: a local "
                        "cluster)")
    p.add_argument("--preview", type=Path, default=None, help="PNG montage of one pattern per class")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..preprocess.scale import to_levels
    from ..preprocess.qgrid import QGrid
    import numpy as np

    from ..simulator.dataset import (PatternSpec, Randomisation, paper_specs, random_specs, read_dataset,
                                     simulate_specs, write_dataset)
    from ..simulator.preview import write_montage
    from ..simulator.shapes import CLASS_NAMES, SHAPES

    console = Console(stderr=True)
    if args.out is None and args.preview is None and args.shards is None:
        raise ValueError("give --out FILE.h5, --shards DIR, --preview PNG, or some of them")
    if args.shards is None and (args.chunk is not None or args.scheduler is not None):
        raise ValueError("--chunk and --scheduler go with --shards DIR")
    at_least(("--workers", args.workers, 1), ("--chunk", args.chunk, 1))
    if args.protocol == "paper" and (args.per_class is not None or args.test_fraction is not None):
        raise ValueError("--per-class and --test-fraction go with --protocol random (the paper grid has "
                         "336 patterns per class, 84 of them held out)")
    args.per_class = PER_CLASS if args.per_class is None else args.per_class
    args.test_fraction = TEST_FRACTION if args.test_fraction is None else args.test_fraction
    if args.per_class < 1 or not 0.0 <= args.test_fraction < 1.0:
        raise ValueError("--per-class must be >= 1 and --test-fraction in [0, 1)")
    for target, option, kind in ((args.out, "--out", HDF5_FILE), (args.preview, "--preview", PNG_PICTURE)):
        if target is not None:
            output_file(target, option, replaces=kind)
    if args.out is not None and args.preview is not None and args.out.resolve() == args.preview.resolve():
        raise ValueError(f"--out and --preview name the same file {args.out}: the preview would replace the set")
    if args.shards is not None:
        output_directory(args.shards, "--shards", "the shards and their manifest")
    config = load_config(args.config)
    randomisation = Randomisation() if args.randomise else None
    if args.protocol == "paper":
        if randomisation is not None:
            raise ValueError("--randomise goes with --protocol random")
        specs = paper_specs(args.seed)
    else:
        specs = random_specs(args.per_class, args.seed, args.test_fraction, randomisation)
    columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    if args.shards is not None:
        from ..scale.cluster import ClusterLost

        kept = (f"the shards written so far are kept in {args.shards}, without a manifest until a rerun completes "
                "the set")
        try:
            manifest = _write_shards(args, specs, config, randomisation, Progress(*columns, console=console), console)
        except ClusterLost as exc:
            print(f"gisaxs-live simulate: stopped: {exc}; {kept}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"gisaxs-live simulate: stopped; {kept}", file=sys.stderr)
            return 130
        console.print(f"wrote {len(specs)} patterns ({sum(s.test for s in specs)} test) to {manifest}")
    if args.out is not None:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("patterns", total=len(specs))
            write_dataset(args.out, specs, config, seed=args.seed, protocol=args.protocol, workers=args.workers,
                          progress=lambda done: bar.update(task, completed=done), randomisation=randomisation)
        console.print(f"wrote {len(specs)} patterns ({sum(s.test for s in specs)} test) to {args.out}")
    if args.preview is not None:
        if args.out is not None or args.shards is not None:
            data = read_dataset(args.out or args.shards, with_intensity=False)
            firsts = [int((data.labels == label).nonzero()[0][0]) for label in range(len(CLASS_NAMES))]
            images, grid = [data.images[i] for i in firsts], data.grid
            titles = [_title(name, data.parameters[i]) for name, i in zip(CLASS_NAMES, firsts)]
        else:
            rng = np.random.default_rng(args.seed)
            specs = [dict(s.random(rng)) for s in SHAPES]
            patterns = list(simulate_specs([PatternSpec(i, SHAPES[i].check(p), False) for i, p in enumerate(specs)],
                                           config, args.workers))
            images = [to_levels(p, config.scale.decades) for p in patterns]
            grid = QGrid.for_experiment(config.experiment, config.grid)
            titles = [f"{s.name}\nD_y={p['D_y']:.1f} nm, D_z/D_y={p['aspect']:.2f}" for s, p in zip(SHAPES, specs)]
        write_montage(args.preview, images, titles, grid)
        console.print(f"wrote preview montage to {args.preview}")
    return 0


def _write_shards(args: argparse.Namespace, specs, config, randomisation, bar, console):
    """The Dask run of ``--shards``: a local cluster unless ``--scheduler``; returns the manifest path."""
    import os

    from ..scale.cluster import open_cluster
    from ..scale.simulate import DEFAULT_CHUNK, write_shards

    # the shards written are whole (each renamed into place) however the run stops
    workers = args.workers or os.cpu_count() or 1
    with open_cluster(args.scheduler, workers, "simulate --shards", console.print) as client:
        with bar:
            task = bar.add_task("patterns", total=len(specs))
            return write_shards(client, args.shards, specs, config, seed=args.seed, protocol=args.protocol,
                                chunk=args.chunk or DEFAULT_CHUNK, randomisation=randomisation,
                                progress=lambda done: bar.update(task, completed=done))


def _title(name: str, row) -> str:
    from ..simulator.dataset import PARAMETER_NAMES

    values = dict(zip(PARAMETER_NAMES, row))
    return f"{name}\nD_y={values['D_y']:.1f} nm, D_z/D_y={values['aspect']:.2f}"
