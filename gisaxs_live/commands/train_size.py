"""``gisaxs-live train-size``: train the size net of an existing model directory (D_y, aspect, FWHM and
interparticle distance with 1σ uncertainties, ``classify/size_net.py``) on a simulated set, leaving its
classifier as it is. ``train`` does the same after the classifier; this adds a size net to a model trained
without one, or retrains it."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import at_least


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-size", help="train the size net of a model directory on a simulated set",
                              description=__doc__)
    p.add_argument("--model", type=Path, required=True, help="model directory to add the size net to")
    p.add_argument("--dataset", type=Path, required=True,
                   help="HDF5 set or shard directory from `simulate` (the model's grid; --randomise sets are "
                        "augmented with the instrument effects, as `train` does)")
    p.add_argument("--epochs", type=int, default=None, help="epochs of the fixed schedule (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed of the augmentation and weights")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import replace

    import numpy as np
    from rich.console import Console

    from ..classify.modeldir import ModelInfo
    from ..simulator.shards import PatternSet
    from ..training.augment import Realism, held_out_images, set_realism
    from ..training.size_training import SIZE_SETTINGS, train_size_net
    from .train import epoch_progress, print_size_figures

    console = Console(stderr=True)
    at_least(("--epochs", args.epochs, 1))
    info = ModelInfo.read(args.model)
    data = PatternSet(args.dataset)
    if data.grid != info.grid:
        raise ValueError(f"{args.dataset}: its q-grid differs from the model's; simulate it with the model's config")
    val = np.nonzero(data.test)[0]
    if not len(val):
        raise ValueError(f"{args.dataset}: has no held-out split to report on")
    randomised = json.loads(str(data.attrs.get("randomisation", "null"))) is not None
    realism = set_realism(data.attrs, data.grid) if randomised else Realism()
    settings = replace(SIZE_SETTINGS, seed=args.seed, epochs=args.epochs or SIZE_SETTINGS.epochs)
    with epoch_progress(console, "size net", settings.epochs) as on_epoch:
        record = train_size_net(args.model, data, held_out_images(data, val, args.seed, realism), realism, settings,
                                on_epoch)
    print_size_figures(console, record)
    return 0
