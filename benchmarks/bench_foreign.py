"""CPU time of the foreign frames the out-of-distribution flag is shown, measured side by side with another tree.

``simulator.foreign``: ``--per-kind`` frames of each kind, drawn as a calibration draws them (seed [0, 11]) at ``--config``'s experiment, each kind
computed on one thread in a child process importing ``gisaxs_live`` from the tree measured.

``--against DIR``: a checkout of another commit (``git worktree add /tmp/base COMMIT``) measured side by side, the
trees alternating within each of ``--rounds`` rounds (default 2); medians per tree and kind, the ratio this / DIR,
and the largest difference between the two trees' frames relative to each frame's peak. A fine-tune shows the flag
150 frames of each kind, a full training 600 (``training/flag_defaults.py``).
Writes benchmarks/results/foreign.json (``--out``). Run: .venv/bin/python benchmarks/bench_foreign.py
[--against DIR] [--rounds N] [--per-kind N] [--config C]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULT = Path(__file__).resolve().parent / "results" / "foreign.json"


def per_kind(count: int, config: Path | None, frames_out: Path) -> dict[str, float]:
    """CPU seconds of ``count`` frames of each kind on one thread; the frames saved to ``frames_out`` (.npz)."""
    from gisaxs_live.config import load_config
    from gisaxs_live.simulator.foreign import KINDS, Setting, foreign_frames

    setting = Setting.of_config(load_config(config))
    foreign_frames(KINDS, 1, [1, 11], setting, threads=1)  # imports and caches warm
    seconds, frames = {}, {}
    for kind in KINDS:
        start = time.process_time()
        frames[kind] = foreign_frames((kind,), count, [0, 11], setting, threads=1)[kind]
        seconds[kind] = time.process_time() - start
    np.savez(frames_out, **frames)
    return seconds


def child(tree: Path, count: int, config: Path | None, frames_out: Path) -> dict[str, float]:
    """``per_kind`` in a fresh process on one BLAS thread, importing ``gisaxs_live`` from ``tree``."""
    options = ["--child", str(frames_out), "--per-kind", str(count)] + ([] if config is None else ["--config",
                                                                                                    str(config)])
    env = {**os.environ, "PYTHONPATH": str(tree), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__, *options], check=True, capture_output=True, text=True, env=env,
                          cwd="/")
    return json.loads(done.stdout)


def largest_difference(a: Path, b: Path) -> float:
    """The largest |a − b| over the frames, each relative to its frame's peak in ``a``."""
    with np.load(a) as first, np.load(b) as second:
        worst = 0.0
        for kind in first.files:
            x, y = first[kind].astype(float), second[kind].astype(float)
            peak = np.abs(x).reshape(len(x), -1).max(axis=1)
            worst = max(worst, float((np.abs(x - y).reshape(len(x), -1).max(axis=1) / peak).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="a checkout of another commit, measured side by side")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-kind", type=int, default=30)
    parser.add_argument("--config", type=Path, help="the experiment's YAML config (default: the bundled defaults)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    config = None if args.config is None else args.config.resolve()
    if args.child:
        print(json.dumps(per_kind(args.per_kind, config, args.child)))
        return
    trees = {"this": REPO} if args.against is None else {"this": REPO, "against": args.against.resolve()}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            for name in (list(trees) if i % 2 == 0 else list(reversed(trees))):
                runs[name].append(child(trees[name], args.per_kind, config, Path(tmp) / f"{name}.npz"))
                print(f"round {i + 1} {name}: {sum(runs[name][-1].values()):.1f} CPU s", flush=True)
        loads.append(os.getloadavg()[0])
        difference = largest_difference(Path(tmp) / "against.npz", Path(tmp) / "this.npz") if args.against else None
    report: dict = {"per_kind": args.per_kind, "rounds": args.rounds, "config": str(config or "default"),
                    "load_average_1min": loads}
    for name, tree in trees.items():
        commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        medians = {kind: float(statistics.median(run[kind] for run in runs[name])) for kind in runs[name][0]}
        report[name] = {"tree": str(tree), "commit": commit, "cpu_s_per_kind": medians,
                        "cpu_s": sum(medians.values()), "runs": runs[name]}
        kinds = ", ".join(f"{kind} {1000 * s / args.per_kind:.1f}" for kind, s in medians.items())
        print(f"{name} ({commit}): {report[name]['cpu_s']:.1f} CPU s for {args.per_kind} of each kind; ms a frame: "
              f"{kinds}")
    if args.against:
        report["this_over_against"] = report["this"]["cpu_s"] / report["against"]["cpu_s"]
        report["largest_difference_relative_to_peak"] = difference
        print(f"this / against: {report['this_over_against']:.2f} of the CPU; frames differ by at most "
              f"{difference:.2g} of their peak")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
