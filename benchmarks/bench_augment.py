"""The training augmentation's rate (``training.augment.realistic_images`` with the training recipe's
``transfer_realism``): most of a retrain's CPU time goes into it (issue 10 s.7).

Per round, in a child process importing ``gisaxs_live`` from the tree measured, on the same N patterns of a
randomised set (default: 2,000, simulated once into a temporary file; ``--set FILE`` to use another):
  one thread:  ``realistic_images`` of all N in one call: wall and CPU ms a pattern;
  two threads: the N in two halves on two threads with generators spawned as ``train`` spawns them, as
               ``train`` makes each epoch's images: wall and CPU ms a pattern.
``--against DIR``: a checkout of another commit (``git worktree add /tmp/base COMMIT``) measured side by side,
the trees alternating within each of ``--rounds`` rounds (default 3); medians per tree, ratios this / DIR, and
whether the two trees' images are equal bit for bit. Writes benchmarks/results/augment.json.
Run: .venv/bin/python benchmarks/bench_augment.py [--against DIR] [--rounds N] [--patterns N] [--set FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULT = Path(__file__).resolve().parent / "results" / "augment.json"
THREADS = 2  # training.train.AUGMENT_THREADS


def measure(set_path: str, patterns: int, images_out: str) -> dict:
    """The two figures above for the first ``patterns`` of ``set_path``; the one-thread images to ``images_out``."""
    from concurrent.futures import ThreadPoolExecutor

    from gisaxs_live.simulator.shards import PatternSet
    from gisaxs_live.training.augment import realistic_images, set_realism

    data = PatternSet(set_path)
    intensity = data.intensity(np.arange(min(patterns, len(data)))).astype(np.float32)
    realism, decades = set_realism(data.attrs, data.grid), float(data.attrs["scale_decades"])
    realistic_images(intensity[:64], np.random.default_rng(0), decades, realism)  # imports and caches warm
    figures = {}
    wall, cpu = time.perf_counter(), time.process_time()
    images = realistic_images(intensity, np.random.default_rng(1), decades, realism)
    figures["one_thread"] = _per_pattern(wall, cpu, len(intensity))
    np.save(images_out, images)
    cuts = np.linspace(0, len(intensity), THREADS + 1).astype(int)
    with ThreadPoolExecutor(THREADS) as pool:
        wall, cpu = time.perf_counter(), time.process_time()
        parts = [pool.submit(realistic_images, intensity[a:b], rng, decades, realism)
                 for a, b, rng in zip(cuts[:-1], cuts[1:], np.random.default_rng(2).spawn(THREADS))]
        for part in parts:
            part.result()
        figures["two_threads"] = _per_pattern(wall, cpu, len(intensity))
    figures["load_avg_1min"] = os.getloadavg()[0]
    return figures


def _per_pattern(wall: float, cpu: float, n: int) -> dict:
    return {"wall_ms": 1e3 * (time.perf_counter() - wall) / n, "cpu_ms": 1e3 * (time.process_time() - cpu) / n}


def child(tree: Path, set_path: Path, patterns: int, images_out: Path) -> dict:
    """``measure`` in a fresh process importing ``gisaxs_live`` from ``tree``."""
    code = (f"import json, sys; sys.path.insert(0, {str(tree)!r}); sys.path.insert(0, {str(REPO / 'benchmarks')!r}); "
            f"from bench_augment import measure; "
            f"print(json.dumps(measure({str(set_path)!r}, {patterns}, {str(images_out)!r})))")
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def simulate_set(path: Path, per_class: int) -> None:
    subprocess.run([sys.executable, "-m", "gisaxs_live.cli", "simulate", "--protocol", "random", "--randomise",
                    "--per-class", str(per_class), "--seed", "3", "--test-fraction", "0.1", "--out", str(path)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="a checkout of another commit, measured side by side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--patterns", type=int, default=2000)
    parser.add_argument("--set", type=Path, help="a randomised set to take the patterns from")
    args = parser.parse_args()
    trees = {"this": REPO} if args.against is None else {"this": REPO, "against": args.against.resolve()}
    with tempfile.TemporaryDirectory() as tmp:
        set_path = args.set or Path(tmp) / "set.h5"
        if args.set is None:
            simulate_set(set_path, -(-args.patterns // 8))
        runs: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                runs[name].append(child(tree, set_path, args.patterns, Path(tmp) / f"{name}.npy"))
        identical = (bool(np.array_equal(np.load(Path(tmp) / "this.npy"), np.load(Path(tmp) / "against.npy")))
                     if "against" in trees else None)
    report = {"patterns": args.patterns, "rounds": args.rounds, "runs": runs, "cpus": os.cpu_count(),
              "python": platform.python_version(), "images_identical": identical, "median": {}}
    for name, each in runs.items():
        report["median"][name] = {f"{part}_{kind}": statistics.median(r[part][kind] for r in each)
                                  for part in ("one_thread", "two_threads") for kind in ("wall_ms", "cpu_ms")}
        m = report["median"][name]
        loads = [r["load_avg_1min"] for r in each]
        print(f"{name:8s} one thread {m['one_thread_wall_ms']:.3f} ms a pattern (CPU {m['one_thread_cpu_ms']:.3f}); "
              f"two threads {m['two_threads_wall_ms']:.3f} ms (CPU {m['two_threads_cpu_ms']:.3f}); "
              f"load {min(loads):.1f}-{max(loads):.1f}")
    if "against" in trees:
        this, other = report["median"]["this"], report["median"]["against"]
        report["this_over_against"] = {key: this[key] / other[key] for key in this}
        ratio = report["this_over_against"]
        print(f"this / against: one thread {ratio['one_thread_wall_ms']:.2f}, two threads "
              f"{ratio['two_threads_wall_ms']:.2f} (wall); images identical: {identical}")
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
