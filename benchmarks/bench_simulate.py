"""The simulator's per-core rate on the paper grid or on a training set, measured side by side with another tree.

The paper grid (issue 13 s.3): 2,688 patterns of ``paper_specs``; with
``--set training``, a training set as ``train`` simulates it (``--per-class`` patterns of each class drawn at
random with the instrument and sample randomised, ``--config``'s experiment; issue 10 s.7).

Two figures per round, each in a child process importing ``gisaxs_live`` from the tree measured:
  command: ``gisaxs-live simulate --protocol paper --out X`` (``--protocol random --randomise --per-class N
           --config C`` for a training set) as a user runs it (all cores): wall time and the CPU time (user +
           system) of the command and its worker processes;
  serial:  every ``--step``-th pattern (default 2) simulated in one process (``simulate_specs``, 1 worker):
           CPU time per class and patterns per CPU second.
CPU times depend far less on what else the shared machine runs than wall times; the load average is
recorded with every run.

``--against DIR``: a checkout of another commit (``git worktree add /tmp/base COMMIT``) measured side by
side, the trees alternating within each of ``--rounds`` rounds (default 3); medians per tree, ratios this /
DIR, and the last round's two data sets compared (max relative difference of the intensities, image levels
that differ). ``--profile N``: print the N functions with the most own time in a cProfile of the serial run.
Writes benchmarks/results/simulate.json (``--out``). Run: .venv/bin/python benchmarks/bench_simulate.py
[--against DIR] [--rounds N] [--step K] [--profile N] [--set training --per-class N --config C]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULT = Path(__file__).resolve().parent / "results" / "simulate.json"
TRAINING_RESULT = RESULT.with_name("simulate_training.json")
PATTERNS = 2688
TARGET_S = 5.0  # issue 13 s.3: the paper grid on the 2 cores


@dataclass(frozen=True)
class MeasuredSet:
    """The patterns measured: the paper grid, or a training set of ``per_class`` per class at ``config``."""

    kind: str = "paper"
    per_class: int = 200
    config: Path | None = None

    def specs(self) -> list:
        """The patterns' specs, as ``simulate`` makes them (seed 0)."""
        from gisaxs_live.simulator.dataset import Randomisation, paper_specs, random_specs

        if self.kind == "paper":
            return paper_specs(0)
        return random_specs(self.per_class, 0, 0.25, Randomisation())

    def arguments(self) -> list[str]:
        """``gisaxs-live simulate``'s arguments for the same patterns."""
        if self.kind == "paper":
            return ["--protocol", "paper"]
        config = [] if self.config is None else ["--config", str(self.config)]
        return ["--protocol", "random", "--randomise", "--per-class", str(self.per_class), *config]

    def size(self) -> int:
        return PATTERNS if self.kind == "paper" else 8 * self.per_class


def serial(step: int, patterns: MeasuredSet) -> dict:
    """CPU seconds per class of every ``step``-th pattern of ``patterns``, simulated in this process (1 worker)."""
    from gisaxs_live.config import load_config
    from gisaxs_live.simulator.dataset import simulate_specs
    from gisaxs_live.simulator.shapes import CLASS_NAMES

    config = load_config(patterns.config)
    specs = patterns.specs()[::step]
    next(simulate_specs(specs[:1], config, workers=1))  # imports and caches warm
    per_class = {}
    for label, name in enumerate(CLASS_NAMES):
        chosen = [s for s in specs if s.label == label]
        start = time.process_time()
        for _ in simulate_specs(chosen, config, workers=1):
            pass
        per_class[name] = time.process_time() - start
    cpu = sum(per_class.values())
    return {"patterns": len(specs), "cpu_s": cpu, "patterns_per_cpu_s": len(specs) / cpu,
            "set_cpu_s": cpu * patterns.size() / len(specs), "per_class_cpu_s": per_class}


def profile(step: int, top: int, patterns: MeasuredSet) -> None:
    """Print the ``top`` functions by own time of the serial run."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(serial, step, patterns)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def set_options(patterns: MeasuredSet) -> list[str]:
    """This script's options that choose ``patterns``."""
    config = [] if patterns.config is None else ["--config", str(patterns.config)]
    return ["--set", patterns.kind, "--per-class", str(patterns.per_class), *config]


def child_serial(tree: Path, step: int, patterns: MeasuredSet) -> dict:
    """``serial`` in a fresh process importing ``gisaxs_live`` from ``tree``."""
    done = subprocess.run([sys.executable, __file__, "--serial-only", "--step", str(step), *set_options(patterns)],
                          check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)},
                          cwd="/")
    return json.loads(done.stdout)


def command(tree: Path, out: Path, patterns: MeasuredSet) -> dict:
    """Wall and CPU seconds of ``gisaxs-live simulate … --out OUT`` for ``patterns``, run from ``tree``."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gisaxs_live.cli", "simulate", *patterns.arguments(), "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(tree)}, cwd="/")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "patterns_per_s": patterns.size() / wall,
            "load_average_1min": [load, os.getloadavg()[0]]}


def compare(reference: Path, other: Path) -> dict:
    """Max relative difference of two data sets' intensities (bins > 0) and the image levels that differ."""
    import h5py

    with h5py.File(reference) as a, h5py.File(other) as b:
        ia, ib = a["intensity"][()].astype(float), b["intensity"][()].astype(float)
        levels = int((a["images"][()] != b["images"][()]).sum())
    positive = ia > 0
    rel = np.abs(ib[positive] - ia[positive]) / ia[positive]
    return {"intensity_max_rel_diff": float(rel.max()), "zero_bins_equal": bool(np.array_equal(ia[~positive],
            ib[~positive])), "image_levels_differing": levels, "image_levels": int(ia.size)}


def measure(trees: dict[str, Path], rounds: int, step: int, patterns: MeasuredSet) -> dict:
    """``rounds`` rounds of command and serial for each tree, in alternating order."""
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            order = list(trees) if i % 2 == 0 else list(reversed(trees))
            for name in order:
                result = {"command": command(trees[name], Path(tmp) / f"{name}.h5", patterns),
                          "serial": child_serial(trees[name], step, patterns)}
                runs[name].append(result)
                c, s = result["command"], result["serial"]
                print(f"round {i + 1} {name}: command {c['wall_s']:.1f} s wall, {c['cpu_s']:.1f} s CPU (load "
                      f"{c['load_average_1min'][0]:.1f}-{c['load_average_1min'][1]:.1f}); serial "
                      f"{s['patterns_per_cpu_s']:.0f} patterns per CPU s", flush=True)
        equality = compare(Path(tmp) / "against.h5", Path(tmp) / "this.h5") if "against" in trees else None
    median = lambda values: float(statistics.median(values))  # noqa: E731
    report: dict = {"rounds": rounds, "step": step, "set": {"kind": patterns.kind, "patterns": patterns.size(),
                                                             "config": str(patterns.config or "default")}}
    for name, tree in trees.items():
        commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        each = runs[name]
        report[name] = {
            "tree": str(tree), "commit": commit,
            "command_wall_s": median(r["command"]["wall_s"] for r in each),
            "command_cpu_s": median(r["command"]["cpu_s"] for r in each),
            "serial_patterns_per_cpu_s": median(r["serial"]["patterns_per_cpu_s"] for r in each),
            "serial_set_cpu_s": median(r["serial"]["set_cpu_s"] for r in each),
            "serial_per_class_cpu_s": {k: median(r["serial"]["per_class_cpu_s"][k] for r in each)
                                       for k in each[0]["serial"]["per_class_cpu_s"]},
            "runs": each,
        }
    if "against" in trees:
        this, other = report["this"], report["against"]
        report["this_over_against"] = {key: this[key] / other[key] for key in
                                       ("command_wall_s", "command_cpu_s", "serial_set_cpu_s")}
        report["datasets"] = equality
    this = report["this"]
    if patterns.kind == "paper":
        report["target"] = {"paper_grid_s": TARGET_S, "command_wall_s": this["command_wall_s"],
                            "meets_target_at_this_load": this["command_wall_s"] <= TARGET_S}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="a checkout of another commit, measured side by side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--step", type=int, default=2, help="serial run: every STEP-th pattern of the set")
    parser.add_argument("--profile", type=int, metavar="N", help="print a cProfile of the serial run (top N)")
    parser.add_argument("--set", choices=("paper", "training"), default="paper",
                        help="the paper grid, or a training set as train simulates it")
    parser.add_argument("--per-class", type=int, default=200, help="with --set training: patterns per class")
    parser.add_argument("--config", type=Path, help="with --set training: the experiment's YAML config")
    parser.add_argument("--serial-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=f"JSON report (default {RESULT.name}, or "
                                                               f"{TRAINING_RESULT.name} with --set training)")
    args = parser.parse_args()
    if args.config is not None and args.set != "training":
        parser.error("--config is for --set training (the paper grid is the default experiment's)")
    patterns = MeasuredSet(args.set, args.per_class, None if args.config is None else args.config.resolve())
    if args.serial_only:
        print(json.dumps(serial(args.step, patterns)))
        return
    if args.profile:
        profile(args.step, args.profile, patterns)
        return
    args.out = args.out or (RESULT if args.set == "paper" else TRAINING_RESULT)
    trees = {"this": REPO} if args.against is None else {"this": REPO, "against": args.against.resolve()}
    report = measure(trees, args.rounds, args.step, patterns)
    report["machine"] = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                         "python": platform.python_version(), "numpy": np.__version__}
    for name in trees:
        r = report[name]
        classes = ", ".join(f"{k} {v:.2f}" for k, v in r["serial_per_class_cpu_s"].items())
        print(f"{name} ({r['commit']}), medians of {args.rounds}: command {r['command_wall_s']:.1f} s wall, "
              f"{r['command_cpu_s']:.1f} s CPU; serial {r['serial_patterns_per_cpu_s']:.0f} patterns per CPU s "
              f"({r['serial_set_cpu_s']:.1f} CPU s for the set; per class: {classes})")
    if args.against:
        ratio, same = report["this_over_against"], report["datasets"]
        print(f"this / against: command wall {ratio['command_wall_s']:.2f}, command CPU {ratio['command_cpu_s']:.2f}, "
              f"serial CPU {ratio['serial_set_cpu_s']:.2f}; data sets: intensity max rel diff "
              f"{same['intensity_max_rel_diff']:.2g}, {same['image_levels_differing']} image levels differ")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
