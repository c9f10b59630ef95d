"""How well does the out-of-distribution flag work? The fraction of frames flagged ``unknown`` for each kind of
``gisaxs_live/simulator/foreign.py`` (frames unlike every class: other shapes, a grating, a SAXS ring, a bare
Yoneda band, noise, wrong geometries; ``--seed`` 1, made detector-like with the plain ``Realism()``, no clean
frames) and the false flags on known-class patterns with detector-like noise (the random protocol's test split;
targets: >= 90 % flagged, <= 2 % false flags). The outlier-exposure layer was fitted on other draws of the same
kinds (seed [training seed, 11]).

    python benchmarks/bench_ood.py [--model DIR] [--per-kind 40] [--seed 1] [--known SET.h5] [--json OUT]
                                   [--leave-one-out SET.h5]

``--known`` defaults to simulating 100 patterns per class (seed 7) with the default config.
``--leave-one-out SET.h5``: how the outlier-exposure layer does on a kind it was not shown. For each kind, the
model's statistics are refitted on SET (``calibrate-ood``'s fit, the model's augmentation, seed 0) with every
kind but that one, and that kind's frames are scored; a refit with all kinds on the same set is the reference.
The model directory is not changed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--per-kind", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1, help="seed of the foreign frames (the calibration's: [seed, 11])")
    parser.add_argument("--known", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "ood.json")
    parser.add_argument("--leave-one-out", type=Path, default=None, metavar="SET.h5")
    args = parser.parse_args()
    from gisaxs_live.classify.predictor import Predictor
    from gisaxs_live.config import load_config
    from gisaxs_live.simulator.dataset import random_specs, read_dataset, write_dataset
    from gisaxs_live.simulator.foreign import KINDS
    from gisaxs_live.training.augment import realistic_images
    from gisaxs_live.training.ood_calibration import features_of

    predictor = Predictor(args.model)
    if predictor.ood is None:
        print(f"{predictor.info.path}: no out-of-distribution statistics (gisaxs-live calibrate-ood)")
        return 1

    layers = predictor.ood.layers
    flagged, by_layer = {}, {}
    frames = {kind: features_of(predictor, foreign_test_images(kind, args.per_kind, predictor.info.decades, args.seed))
              for kind in KINDS}
    for kind in KINDS:
        f = frames[kind]
        s = predictor.ood_scores(f)
        flagged[kind] = 100.0 * float(np.mean(s > 1.0))
        # each layer's own share above the threshold (the frame is flagged when any layer is)
        by_layer[kind] = {layer.name: 100.0 * float(np.mean(layer.distances(f) > predictor.ood.threshold))
                          for layer in layers}
        per_layer = ", ".join(f"{name} {v:.0f} %" for name, v in by_layer[kind].items()) if len(layers) > 1 else ""
        print(f"{kind:12s} flagged {flagged[kind]:5.1f} %  (median ood_score {np.median(s):.2f})"
              + (f"  by layer: {per_layer}" if per_layer else ""))
    with tempfile.TemporaryDirectory() as tmp:
        known_path = args.known
        if known_path is None:
            known_path = Path(tmp) / "known.h5"
            write_dataset(known_path, random_specs(100, 7, 1.0), load_config(), seed=7, protocol="random", workers=1)
        known = read_dataset(known_path)
        test = known.test if known.test.any() else np.ones(len(known.labels), bool)
        images = realistic_images(known.intensity[test], np.random.default_rng(77), predictor.info.decades)
        false_flags = 100.0 * float(np.mean(predictor.ood_scores(features_of(predictor, images)) > 1.0))
    mean = float(np.mean(list(flagged.values())))
    print(f"all kinds: {mean:.1f} % flagged; known classes with detector-like noise: {false_flags:.1f} % flagged "
          f"({int(test.sum())} patterns)")
    result = {"model": str(predictor.info.path), "per_kind": args.per_kind, "seed": args.seed,
              "flagged_percent": flagged,
              "flagged_by_layer_percent": by_layer,
              "flagged_mean_percent": mean, "false_flags_percent": false_flags, "n_known": int(test.sum())}
    if args.leave_one_out is not None:
        result["leave_one_out"] = leave_one_out(predictor, read_dataset(args.leave_one_out), frames, images)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    return 0


def foreign_test_images(kind: str, n: int, decades: float, seed: int = 1):
    """The benchmark's frames of one foreign kind at the default config, plain detector-like noise."""
    from gisaxs_live.config import load_config
    from gisaxs_live.simulator.foreign import Setting, foreign_intensities
    from gisaxs_live.training.augment import Realism, realistic_images

    setting = Setting.of_config(load_config())
    return realistic_images(foreign_intensities(kind, n, seed, setting), np.random.default_rng([seed, 99]), decades,
                            Realism(p_clean=0.0))


def leave_one_out(predictor, data, frames: dict, known_images) -> dict:
    """Per kind: the share of its ``frames`` (features) flagged by statistics refitted on ``data`` without that
    kind, and those statistics' false flags on ``known_images``; ``all``: the refit with every kind."""
    import dataclasses

    from gisaxs_live.simulator.foreign import KINDS
    from gisaxs_live.training.ood_calibration import calibrate, features_of

    known = features_of(predictor, known_images)
    out = {}
    for left_out in (None, *KINDS):
        kinds = [kind for kind in KINDS if kind != left_out]
        model, _ = calibrate(predictor, data, 0, kinds=kinds)
        false_flags = 100.0 * float(np.mean(model.score(known) > 1.0))
        if left_out is None:
            shares = {kind: 100.0 * float(np.mean(model.score(f) > 1.0)) for kind, f in frames.items()}
            out["all"] = {"flagged_percent": shares, "flagged_mean_percent": float(np.mean(list(shares.values()))),
                          "false_flags_percent": false_flags}
            print(f"refit with all kinds: {out['all']['flagged_mean_percent']:.1f} % flagged, "
                  f"{false_flags:.1f} % false flags", flush=True)
            continue
        gaussians = dataclasses.replace(model, layers=model.layers[:-1])
        share = 100.0 * float(np.mean(model.score(frames[left_out]) > 1.0))
        out[left_out] = {"flagged_percent": share, "false_flags_percent": false_flags,
                         "gaussian_layers_alone_percent": 100.0 * float(np.mean(
                             gaussians.distances(frames[left_out]) > model.threshold))}
        print(f"without {left_out:12s}: {share:5.1f} % of them flagged ({false_flags:.1f} % false flags)", flush=True)
    out["mean_left_out_percent"] = float(np.mean([out[kind]["flagged_percent"] for kind in KINDS]))
    print(f"kinds not shown: {out['mean_left_out_percent']:.1f} % flagged on average")
    return out


if __name__ == "__main__":
    sys.exit(main())
