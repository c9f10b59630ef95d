"""``gisaxs-live calibrate-answer``: calibrate a model's answer sets (``classify/answer.py``: the smallest set of
families that holds the true one with a stated probability) on the held-out split of a set from ``simulate``
(random protocol, the model's config), and record the threshold in its ``model.json``. Rows then name every
family the frame may be, where one alone would be a guess."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import enough_held_out, number


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("calibrate-answer", help="calibrate the answer sets of a model on a simulated set",
                              description=__doc__)
    p.add_argument("dataset", type=Path, help="HDF5 set from `simulate --protocol random` with a held-out split")
    p.add_argument("--model", type=Path, required=True, help="model directory to calibrate (written in place)")
    p.add_argument("--level", type=number, default=None,
                   help="how often the answer must hold the true family on the held-out patterns (default 0.95)")
    p.add_argument("--seed", type=int, default=0, help="seed of the detector-like augmentation")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..classify.answer import LEVEL
    from ..classify.predictor import Predictor
    from ..simulator.dataset import read_dataset
    from ..training.answer_calibration import calibrate
    from ..training.provenance import record_calibration

    level = LEVEL if args.level is None else args.level
    if not 0.5 <= level < 1.0:
        raise ValueError(f"--level {level:g}: must lie in [0.5, 1)")
    data = read_dataset(args.dataset)
    enough_held_out(args.dataset, int(data.test.sum()), level, "--level")
    record = calibrate(Predictor(args.model, with_ood=False), data, args.seed, level)
    record_calibration(args.model, "answer", record, data)
    held = record["held_out"]
    print(f"{args.model}: answer threshold {record['threshold']:.3f}: the true family in {100 * held['coverage']:.1f} % "
          f"of {record['n_held_out']} held-out answers, {held['mean_size']:.2f} families on average")
    return 0
