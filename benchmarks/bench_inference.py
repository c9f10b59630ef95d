"""Frames per second of the classifier's two halves on a Pilatus 1M CBF (1043 × 981 pixels).

Measured side by side, interleaved round by round:
  (a) preprocessing: fabio decode + regrid onto the 90×70 grid + 256-level scaling, per frame;
  (b) CNN inference on batches of 1 and of 64 model inputs (bundled model, Keras on the CPU);
  (c) the whole Classifier.classify on batches of 1 and of 64 frames already in memory.
``--model DIR`` more than once: each model measured, the models interleaved within every round (side by side).
Writes benchmarks/results/inference.json. Run: .venv/bin/python benchmarks/bench_inference.py [--model DIR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import fabio.cbfimage
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_preprocess import SHAPE, synthetic_frame, timed  # noqa: E402

from gisaxs_live.config import load_config  # noqa: E402
from gisaxs_live.frame import Frame  # noqa: E402
from gisaxs_live.classify.pipeline import Classifier  # noqa: E402
from gisaxs_live.sources.files import read_frames  # noqa: E402

ROUNDS = 20
RESULT = Path(__file__).parent / "results" / "inference.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", help="model directory (repeat to compare models)")
    args = parser.parse_args()
    config = load_config()
    counts = synthetic_frame(config)
    frame = Frame(counts, "memory", 0, time.time())
    steps, architectures = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pilatus1m.cbf"
        fabio.cbfimage.CbfImage(data=counts).write(str(path))
        for model in args.model or [None]:
            classifier = Classifier(config, model)
            label = str(classifier.predictor.info.path)
            architectures[label] = classifier.predictor.info.architecture
            steps.update({(label, name): step for name, step in model_steps(classifier, frame, path).items()})
        for _, step in steps.values():  # warm-up: graph tracing, lookup table
            step()
        times: dict[tuple[str, str], list[float]] = {key: [] for key in steps}
        for _ in range(ROUNDS):
            for key, (_, step) in steps.items():
                times[key].append(timed(step))
    results: dict[str, dict] = {label: {} for label in architectures}
    for (label, name), (n, _) in steps.items():
        results[label][name] = {"frames": n, "median_ms": 1e3 * statistics.median(times[label, name]),
                                "frames_per_s": n / statistics.median(times[label, name])}
    report = {"frame": f"synthetic Pilatus 1M CBF {SHAPE[0]}x{SHAPE[1]}", "rounds": ROUNDS,
              "models": {label: {"architecture": arch, "results": results[label]} for label, arch in architectures.items()},
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_average_1min_after": os.getloadavg()[0]},
              "date": time.strftime("%Y-%m-%d")}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2) + "\n")
    for label, arch in architectures.items():
        print(f"{label} ({arch} network)")
        for name, r in results[label].items():
            print(f"  {name:45s} {r['median_ms']:8.2f} ms  {r['frames_per_s']:8.1f} frames/s")
    print(f"written to {RESULT}")


def model_steps(classifier: Classifier, frame: Frame, path: Path) -> dict:
    """The measured steps for one Classifier: name -> (frames, callable)."""
    image = classifier.preprocessor.prepare(frame).image
    batch64 = np.repeat(image[None], 64, axis=0)
    return {
        "preprocess (decode+regrid+scale), 1 frame": (1, lambda: classifier.preprocessor.prepare(next(read_frames(path)))),
        "inference, batch 1": (1, lambda: classifier.predictor.predict(batch64[:1])),
        "inference, batch 64": (64, lambda: classifier.predictor.predict(batch64)),
        "classify in memory, batch 1": (1, lambda: classifier.classify([frame])),
        "classify in memory, batch 64": (64, lambda: classifier.classify([frame] * 64)),
    }


if __name__ == "__main__":
    main()
