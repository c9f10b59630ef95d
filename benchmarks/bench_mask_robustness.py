"""Is the answer robust to the mask? The real in-situ series (../shared/data/real/insitu_desy_2024, with
config/real/desy_insitu_2024.yaml) classified with its mask as configured and under perturbations within
reason: every beam-stop radius ×0.8 and ×1.2, three extra masked rectangles (20–120 px) at random places
(five draws), module gaps widened by 2 px on each side, and all of these together.

Reports, per frame, how many perturbations changed the top-1 family (and the top-1 class), and the number of
frames whose family never changed (the target: ≥ 9 of 10); and the same for the answer set (``classify/answer.py``,
the calibrated set of families a row names, compared as a set with the status): an ambiguous frame that says so
under every mask counts as stable there; and the frames whose answer is never contradicted (every perturbed row
has the same status and an answer sharing a family with the unperturbed one: it may name one family more or
less, never another). Usage:

    python benchmarks/bench_mask_robustness.py [--model DIR] [--config C] [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "insitu_desy_2024"


def perturbations(mask, shape: tuple[int, int]) -> dict[str, tuple]:
    """name → (mask config, pixels to widen gaps by)."""
    def scaled(factor: float):
        beamstop = (dataclasses.replace(mask.beamstop, radius_px=mask.beamstop.radius_px * factor,
                                        size_px=tuple(s * factor for s in mask.beamstop.size_px))
                    if mask.beamstop is not None else None)
        circles = tuple((c, r, radius * factor) for c, r, radius in mask.circles)
        return dataclasses.replace(mask, beamstop=beamstop, circles=circles)

    def extra_rectangles(base, draw: int):
        r = np.random.default_rng([7, draw])
        rows, cols = shape
        boxes = []
        for _ in range(3):
            w, h = r.integers(20, 121, 2)
            c0, r0 = int(r.integers(0, cols - w)), int(r.integers(0, rows - h))
            boxes.append((c0, r0, c0 + int(w), r0 + int(h)))
        return dataclasses.replace(base, rectangles=base.rectangles + tuple(boxes))

    out = {"beam stops ×0.8": (scaled(0.8), 0), "beam stops ×1.2": (scaled(1.2), 0), "gaps +2 px": (mask, 2)}
    out.update({f"3 extra rectangles #{i}": (extra_rectangles(mask, i), 0) for i in range(5)})
    out["all together"] = (extra_rectangles(scaled(1.2), 0), 2)
    return out


def widen_gaps(data: np.ndarray, pixels: int) -> np.ndarray:
    """Negative (gap) pixels grown by ``pixels`` along rows and columns."""
    if pixels == 0:
        return data
    gap = data < 0
    grown = gap.copy()
    for shift in range(1, pixels + 1):
        grown[shift:] |= gap[:-shift]
        grown[:-shift] |= gap[shift:]
        grown[:, shift:] |= gap[:, :-shift]
        grown[:, :-shift] |= gap[:, shift:]
    out = data.copy()
    out[grown] = -1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "real" / "desy_insitu_2024.yaml")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "mask_robustness.json")
    args = parser.parse_args()
    if not REAL.is_dir():
        print(f"skipped: {REAL} is absent")
        return 0
    from gisaxs_live.classify.answer import SEPARATOR
    from gisaxs_live.config import load_config
    from gisaxs_live.classify.pipeline import Classifier
    from gisaxs_live.preprocess.prepare import FramePreprocessor
    from gisaxs_live.sources.files import read_frames

    config = load_config(args.config)
    classifier = Classifier(config, args.model)
    info = classifier.predictor.info
    frames = [f for path in sorted(REAL.glob("*.cbf")) for f in read_frames(path)]
    variants = perturbations(config.mask, frames[0].data.shape)

    def answers(mask, widen: int) -> list[tuple[str, str, str, frozenset]]:
        classifier.preprocessor = FramePreprocessor(dataclasses.replace(config, mask=mask), info.grid, info.decades)
        frames_in = [dataclasses.replace(f, data=widen_gaps(f.data, widen)) for f in frames]
        out = []
        for r in classifier.classify(frames_in):
            family = r.family()
            out.append((r.status, family[0] if family else "", r.ranked()[0][0] if r.probabilities else "",
                        frozenset(r.answer)))
        return out

    base = answers(config.mask, 0)
    changed_family = np.zeros(len(frames), int)
    changed_class = np.zeros(len(frames), int)
    changed_answer = np.zeros(len(frames), int)
    contradicted = np.zeros(len(frames), int)  # another status, or an answer sharing no family with the unperturbed one
    table, answer_table = {}, {}
    for name, (mask, widen) in variants.items():
        got = answers(mask, widen)
        table[name] = [g[1] or g[0] for g in got]
        answer_table[name] = [SEPARATOR.join(sorted(g[3])) or g[0] for g in got]
        changed_family += [g[:2] != b[:2] for g, b in zip(got, base)]
        changed_class += [g[2] != b[2] for g, b in zip(got, base)]
        changed_answer += [(g[0], g[3]) != (b[0], b[3]) for g, b in zip(got, base)]
        contradicted += [g[0] != b[0] or not g[3] & b[3] for g, b in zip(got, base)]
    stable = int(np.sum(changed_family == 0))
    stable_answer = int(np.sum(changed_answer == 0))
    result = {
        "model": str(info.path), "config": str(args.config), "frames": [Path(f.source).name for f in frames],
        "baseline": [b[1] or b[0] for b in base], "baseline_class": [b[2] for b in base],
        "perturbations": table, "changed_family": changed_family.tolist(), "changed_class": changed_class.tolist(),
        "frames_with_stable_family": stable, "n_frames": len(frames), "n_perturbations": len(variants),
        "stable_pairs": float(1.0 - changed_family.sum() / (len(frames) * len(variants))),
        "answer_calibrated": info.answer_cut is not None,
        "baseline_answer": [SEPARATOR.join(sorted(b[3])) or b[0] for b in base], "answer_perturbations": answer_table,
        "changed_answer": changed_answer.tolist(), "frames_with_stable_answer": stable_answer,
        "stable_answer_pairs": float(1.0 - changed_answer.sum() / (len(frames) * len(variants))),
        "contradicted_answer": contradicted.tolist(), "frames_never_contradicted": int(np.sum(contradicted == 0)),
    }
    for f, b, a, c, ca in zip(result["frames"], result["baseline"], result["baseline_answer"], changed_family,
                              changed_answer):
        print(f"{f}: {b}, family changed under {c} of {len(variants)} perturbations; answer {a}, changed under {ca}")
    print(f"family unchanged under every perturbation: {stable} of {len(frames)} frames; "
          f"{100 * result['stable_pairs']:.1f} % of frame × perturbation pairs")
    print(f"answer set unchanged under every perturbation: {stable_answer} of {len(frames)} frames; "
          f"{100 * result['stable_answer_pairs']:.1f} % of pairs" + ("" if result["answer_calibrated"] else
                                                                     " (the model has no answer calibration)"))
    print(f"answer never contradicted (same status, a family in common with the unperturbed answer): "
          f"{result['frames_never_contradicted']} of {len(frames)} frames")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
