"""``gisaxs-live evaluate``: accuracy of a model on a simulated set's held-out split, laid out like the
paper's Table 2, with the image-similarity baseline of its Table 3 on the same test images; the accuracy of
the degenerate families (family top-1, top-2, per class, confusion); for a model with out-of-distribution
statistics, the fraction of these known-class patterns flagged ``unknown`` (false flags); for a model with a
size net, its median and 90th-percentile errors per class and how often the truth lies within ±1σ."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import JSON_FILE, PNG_PICTURE, number, output_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="confusion matrix, top-1/top-2 and family accuracy, the similarity "
                                               "baseline and the out-of-distribution false flags",
                              description=__doc__)
    p.add_argument("dataset", type=Path, help="HDF5 set from `simulate` (its test split, or all of it)")
    p.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    p.add_argument("--noise", action="store_true",
                   help="make the test images detector-like (counting noise, masks, calibration errors) first")
    p.add_argument("--peak-counts", type=number, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="with --noise: counts in the brightest pixel, log-uniform between LOW and HIGH "
                        "(default: the training range, 30 to 1e6)")
    p.add_argument("--seed", type=int, default=1, help="seed of --noise")
    p.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    p.add_argument("--png", type=Path, default=None, help="write the confusion matrix as a heat map")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    import numpy as np
    from rich.console import Console

    from ..classify.predictor import Predictor
    from ..simulator.dataset import read_dataset
    from ..training.augment import Realism, realistic_images
    from ..training.evaluate import metrics, size_metrics
    from ..training.size_targets import size_targets
    from ..training.report import confusion_table, size_table, write_heatmap
    from ..training.similarity import nearest_neighbour_labels

    if args.peak_counts is not None:
        low, high = args.peak_counts
        if not args.noise or not 0 < low <= high:
            raise ValueError(f"--peak-counts {low:g} {high:g}: needs --noise and 0 < LOW <= HIGH")
    realism = Realism() if args.peak_counts is None else Realism(peak_counts=tuple(args.peak_counts))
    if args.png is not None and args.png.suffix.lower() != ".png":
        raise ValueError(f"--png {args.png}: give a .png file (the picture is a PNG)")
    for path, option, kind in ((args.json, "--json", JSON_FILE), (args.png, "--png", PNG_PICTURE)):
        if path is not None:
            output_file(path, option, [args.dataset], kind)
    console = Console(width=None if sys.stdout.isatty() else 200)  # into a file: whole class names, not "capsu…"
    data = read_dataset(args.dataset, with_intensity=args.noise)
    predictor = Predictor(args.model)
    if data.class_names != predictor.class_names:
        raise ValueError(f"{args.dataset}: classes {data.class_names} differ from the model's {predictor.class_names}")
    if data.grid != predictor.info.grid:
        raise ValueError(f"{args.dataset}: its q-grid differs from the model's; simulate it with the model's config")
    test = data.test if data.test.any() else np.ones(len(data.labels), bool)
    images = data.images[test]
    if args.noise:
        images = realistic_images(data.intensity[test], np.random.default_rng(args.seed), predictor.info.decades,
                                  realism)
    outputs = [predictor.forward_all(images[i:i + 256]) for i in range(0, len(images), 256)]
    probabilities = np.concatenate([o[0] for o in outputs])
    scores = predictor.ood_scores(np.concatenate([o[1] for o in outputs]))
    train = ~test
    similar = nearest_neighbour_labels(data.images[train], data.labels[train], images) if train.any() else None
    result = metrics(probabilities, data.labels[test], data.class_names, similar, predictor.info.families)
    result["flagged_unknown"] = None if scores is None else 100.0 * float(np.mean(scores > 1.0))
    console.print(confusion_table(result, data.class_names, f"{args.dataset} ({_condition(args)})"))
    if predictor.info.answer_cut is not None:
        result["answer"] = answer_figures(probabilities, data.labels[test], predictor)
        a = result["answer"]
        console.print(f"answer sets (calibrated for {100 * a['level']:g} %): the true family in "
                      f"{100 * a['coverage']:.1f} % of the answers, {a['mean_size']:.2f} families on average, one "
                      f"family in {100 * a['single']:.1f} %")
    if predictor.size_info is not None:
        mean, sigma = predictor.size_info.physical(np.concatenate([o[2] for o in outputs]))
        truth = size_targets(data.parameters[test], None if data.variation is None else data.variation[test],
                             data.attrs)
        result["size"] = size_metrics(mean, sigma, truth, data.labels[test], data.class_names)
        console.print(size_table(result["size"], f"size net on {args.dataset} ({_condition(args)})"))
    if args.json:  # with how the figures were made: a clean and a noisy run of one set are otherwise alike
        made = {"dataset": str(args.dataset), "model": str(predictor.info.path), "condition": _condition(args),
                "noise": bool(args.noise), "seed": args.seed if args.noise else None,
                "peak_counts": list(args.peak_counts) if args.peak_counts else None}
        args.json.write_text(json.dumps({"evaluated": made, **result}, indent=1))
    if args.png:
        write_heatmap(args.png, result, data.class_names)
    return 0


def answer_figures(probabilities, labels, predictor) -> dict:
    """How the model's calibrated answer sets (``classify/answer.py``) do on labelled patterns: the level they were
    calibrated for, the fraction holding the true family, their mean size and the fraction with one family."""
    from ..classify.answer import coverage
    from ..training.answer_calibration import family_labels, to_families

    held, size, single = coverage(to_families(predictor, probabilities), family_labels(predictor, labels),
                                  predictor.info.answer_cut)
    return {"level": float(predictor.info.meta["answer"]["level"]), "coverage": held, "mean_size": size,
            "single": single}


def _condition(args: argparse.Namespace) -> str:
    if not args.noise:
        return "clean"
    if args.peak_counts is None:
        return "noisy"
    return "noisy, peak {:g} to {:g} counts".format(*args.peak_counts)
