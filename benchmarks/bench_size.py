"""What the size columns cost per frame (issue 11): the model-free descriptors alone, and the whole
Classifier.classify of 64 Pilatus 1M frames in memory with and without the size net, side by side.

The model "without" is a copy of the model directory less its size net (``size.weights.h5`` and the ``size``
record), so both classify the same frames with the same classifier; rounds alternate between them.
Writes benchmarks/results/size.json. Run: .venv/bin/python benchmarks/bench_size.py [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_preprocess import synthetic_frame, timed  # noqa: E402

from gisaxs_live.classify.modeldir import META, ModelInfo  # noqa: E402
from gisaxs_live.classify.pipeline import Classifier  # noqa: E402
from gisaxs_live.classify.size_net import SIZE_WEIGHTS, has_size_net  # noqa: E402
from gisaxs_live.config import load_config  # noqa: E402
from gisaxs_live.frame import Frame  # noqa: E402
from gisaxs_live.preprocess.descriptors import descriptors  # noqa: E402

ROUNDS = 15
BATCH = 64
RESULT = Path(__file__).parent / "results" / "size.json"


def without_size_net(model: Path, into: Path) -> Path:
    """A copy of ``model`` without its size net."""
    copy = into / "without_size"
    shutil.copytree(model, copy)
    (copy / SIZE_WEIGHTS).unlink(missing_ok=True)
    meta = json.loads((copy / META).read_text())
    meta.pop("size", None)
    (copy / META).write_text(json.dumps(meta))
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a model directory with a size net (default: bundled)")
    args = parser.parse_args()
    info = ModelInfo.read(args.model)
    if not has_size_net(info.path, info.meta):
        raise SystemExit(f"{info.path}: has no size net to measure")
    config = load_config()
    frames = [Frame(synthetic_frame(config), "memory", 0, time.time())] * BATCH
    with tempfile.TemporaryDirectory() as tmp:
        classifiers = {"with size net": Classifier(config, info.path),
                       "without size net": Classifier(config, without_size_net(info.path, Path(tmp)))}
        prepared = classifiers["with size net"].preprocessor.prepare(frames[0])
        grid, experiment = classifiers["with size net"].preprocessor.grid, config.experiment
        steps = {f"classify {BATCH} frames, {name}": (BATCH, lambda c=c: c.classify(frames))
                 for name, c in classifiers.items()}
        steps["descriptors, 1 frame"] = (1, lambda: descriptors(prepared.intensity, grid, experiment))
        for c in classifiers.values():
            c.warm_up()
        times: dict[str, list[float]] = {name: [] for name in steps}
        for i in range(ROUNDS):
            for name, (_, step) in (list(steps.items()) if i % 2 == 0 else list(steps.items())[::-1]):
                times[name].append(timed(step))
    per_frame = {name: 1e3 * statistics.median(times[name]) / n for name, (n, _) in steps.items()}
    with_net, without = (per_frame[f"classify {BATCH} frames, {k}"] for k in ("with size net", "without size net"))
    report = {"frame": "synthetic Pilatus 1M", "model": str(info.path), "rounds": ROUNDS, "batch": BATCH,
              "ms_per_frame": per_frame, "size_net_ms_per_frame": with_net - without,
              "classify_ratio_with_over_without": with_net / without,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_average_1min_after": os.getloadavg()[0]},
              "date": time.strftime("%Y-%m-%d")}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2) + "\n")
    for name, ms in per_frame.items():
        print(f"  {name:45s} {ms:8.3f} ms per frame")
    print(f"  size net: +{with_net - without:.3f} ms per frame ({with_net / without:.2f}x the classify time); "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"written to {RESULT}")


if __name__ == "__main__":
    main()
