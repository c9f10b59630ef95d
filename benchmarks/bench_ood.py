"""How well does the out-of-distribution flag work? The fraction of frames flagged ``unknown`` for each kind of
``benchmarks/ood/ood_set.py`` (frames unlike every class: other shapes, a grating, a SAXS ring, a bare Yoneda
band, noise, wrong geometries; detector-like noise) and the false flags on known-class patterns with
detector-like noise (the random protocol's test split; targets: >= 90 % flagged, <= 2 % false flags).

    python benchmarks/bench_ood.py [--model DIR] [--per-kind 40] [--known SET.h5] [--json OUT]

``--known`` defaults to simulating 100 patterns per class (seed 7) with the default config.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "ood"))


def main() -> int:
    import ood_set

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--per-kind", type=int, default=40)
    parser.add_argument("--known", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "ood.json")
    args = parser.parse_args()
    from gisaxs_live.classify.predictor import Predictor
    from gisaxs_live.config import load_config
    from gisaxs_live.simulator.dataset import random_specs, read_dataset, write_dataset
    from gisaxs_live.training.augment import realistic_images

    predictor = Predictor(args.model)
    if predictor.ood is None:
        print(f"{predictor.info.path}: no out-of-distribution statistics (gisaxs-live calibrate-ood)")
        return 1

    def features(images: np.ndarray) -> np.ndarray:
        return np.concatenate([predictor.forward(images[i:i + 256])[1] for i in range(0, len(images), 256)])

    def scores(images: np.ndarray) -> np.ndarray:
        return predictor.ood_scores(features(images))

    layers = predictor.ood.layers
    flagged, by_layer = {}, {}
    for kind in ood_set.KINDS:
        f = features(ood_set.images(kind, args.per_kind, seed=1, decades=predictor.info.decades))
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
        false_flags = 100.0 * float(np.mean(scores(images) > 1.0))
    mean = float(np.mean(list(flagged.values())))
    print(f"all kinds: {mean:.1f} % flagged; known classes with detector-like noise: {false_flags:.1f} % flagged "
          f"({int(test.sum())} patterns)")
    result = {"model": str(predictor.info.path), "per_kind": args.per_kind, "flagged_percent": flagged,
              "flagged_by_layer_percent": by_layer,
              "flagged_mean_percent": mean, "false_flags_percent": false_flags, "n_known": int(test.sum())}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
