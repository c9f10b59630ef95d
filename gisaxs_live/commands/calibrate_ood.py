"""``gisaxs-live calibrate-ood``: fit a model's out-of-distribution statistics ("none of these") on a set from
``simulate`` (random protocol, the model's config), write ``ood.npz`` into the model directory and record the
fit in its ``model.json``. Rows of frames unlike every trained class then get status ``unknown``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..training.flag_defaults import PER_KIND, QUANTILE
from . import enough_held_out, number


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("calibrate-ood", help="fit the out-of-distribution flag of a model on a simulated set",
                              description=__doc__)
    p.add_argument("dataset", type=Path, help="HDF5 set from `simulate --protocol random` with a held-out split")
    p.add_argument("--model", type=Path, required=True, help="model directory to calibrate (written in place)")
    p.add_argument("--quantile", type=number, default=None,
                   help=f"fraction of held-out known-class patterns below the threshold (default {QUANTILE})")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the detector-like augmentation (the model's own training augmentation)")
    p.add_argument("--outliers-per-kind", type=int, default=None, metavar="N",
                   help=f"foreign frames per kind that the flag is shown (outlier exposure; default {PER_KIND}; "
                        "0: none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..classify.predictor import Predictor
    from ..simulator.dataset import read_dataset
    from ..training.ood_calibration import calibrate, outlier_options

    args.quantile = QUANTILE if args.quantile is None else args.quantile
    if not 0.5 <= args.quantile < 1.0:
        raise ValueError(f"--quantile {args.quantile:g}: must lie in [0.5, 1)")
    from ..training.provenance import record_calibration

    options = outlier_options(args.outliers_per_kind)  # a bad count stops before the set is read
    data = read_dataset(args.dataset)
    enough_held_out(args.dataset, int(data.test.sum()), args.quantile, "--quantile")
    predictor = Predictor(args.model, with_ood=False)  # the statistics are what this makes
    from rich.console import Console

    with Console(stderr=True).status("fitting") as status:
        try:
            model, record = calibrate(predictor, data, args.seed, args.quantile, **options,
                                      on_step=lambda what: status.update(f"fitting: {what}"))
        except np.linalg.LinAlgError:
            raise ValueError(f"{args.dataset}: its {int((~data.test).sum())} training patterns are too few to fit the "
                             "class statistics (their covariance is singular); simulate a larger set") from None
    path = model.save(args.model)
    record_calibration(args.model, "ood", record, data)
    print(f"{path}: threshold {model.threshold:.2f} (the {100 * args.quantile:g}th percentile of "
          f"{record['n_held_out']} held-out patterns, each made detector-like {record['held_out_draws']} times)")
    return 0
