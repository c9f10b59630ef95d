"""How well does the per-frame mirror check (``preprocess/mirror.py``) tell a wrong direct-beam column? Each set is
read with its own config, and again with the config's direct beam moved sideways by ``--shifts`` pixels; per set
and shift: the frames flagged (asymmetry above ``geometry.max_asymmetry``), those without a verdict (too few
counts), and the median, smallest and largest asymmetry. At shift 0 a flag is a false flag.

Sets, none made by this project's simulator but the last:
  desy      the real in-situ series (../shared/data/real/insitu_desy_2024, config/real/desy_insitu_2024.yaml);
  galaxi    the real GALAXI frame (../shared/data/real/galaxi, config/real/galaxi.yaml);
  bornagain BornAgain's frames of the cross-simulator set (``--crosssim DIR``: ``make crosssim``'s output;
            the config of each geometry sits beside its directory);
  demo      8 frames of the bundled demo series (this project's simulator on a Pilatus 1M).
A set whose files are absent is left out, with a line saying so. Usage:

    python benchmarks/bench_mirror.py [--crosssim DIR] [--shifts 0 5 10 20 40] [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"


def sets(crosssim: Path) -> dict[str, list[tuple[Path, list[Path]]]]:
    """name → [(config, frame files)], for the sets present."""
    found = {"desy": [(ROOT / "config/real/desy_insitu_2024.yaml", sorted((REAL / "insitu_desy_2024").glob("*.cbf")))],
             "galaxi": [(ROOT / "config/real/galaxi.yaml", sorted((REAL / "galaxi").glob("*.tif*")))],
             "bornagain": [(crosssim / f"{d.name}.yaml", sorted(d.glob("*.cbf")))
                           for d in sorted(p for p in crosssim.glob("*") if p.is_dir())]}
    return {name: [(c, files) for c, files in groups if files] for name, groups in found.items()}


def demo_files(directory: Path) -> list[Path]:
    """8 frames of the bundled demo series written as CBF into ``directory``."""
    from gisaxs_live.config import load_config
    from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config

    series = GrowthSeries(demo_config(load_config()), 8)
    paths = []
    for i in range(8):
        path = directory / f"demo_{i:02d}.cbf"
        path.write_bytes(cbf_bytes(series.frame(i)))
        paths.append(path)
    return paths


def asymmetries(config, files: list[Path], shift: float) -> list[float | None]:
    """Each frame's asymmetry with the config's direct beam ``shift`` px further along the rows."""
    from gisaxs_live.classify.card import ModelInfo
    from gisaxs_live.frame import FrameError
    from gisaxs_live.preprocess.prepare import FramePreprocessor
    from gisaxs_live.sources.files import read_frames

    column, row = config.geometry.direct_beam_px
    moved = dataclasses.replace(config, geometry=dataclasses.replace(config.geometry, direct_beam_px=(column + shift, row)))
    info = ModelInfo.read(None)
    preprocessor = FramePreprocessor(moved, info.grid, info.decades)
    values = []
    for path in files:
        for frame in read_frames(path):
            try:
                values.append(preprocessor.prepare(frame).asymmetry)
            except FrameError:
                values.append(None)
    return values


def summarise(values: list[float | None], limit: float) -> dict:
    told = np.array([v for v in values if v is not None])
    return {"frames": len(values), "flagged": int(np.count_nonzero(told > limit)), "no_verdict": len(values) - told.size,
            "median": float(np.median(told)) if told.size else None,
            "min": float(told.min()) if told.size else None, "max": float(told.max()) if told.size else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crosssim", type=Path, default=ROOT / "benchmarks" / "crosssim" / "data")
    parser.add_argument("--shifts", type=float, nargs="+", default=[0, 5, 10, 20, 40])
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "mirror.json")
    args = parser.parse_args()
    from gisaxs_live.config import load_config
    from gisaxs_live.publisher.demo_series import demo_config

    report: dict = {"shifts_px": args.shifts, "sets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        groups = sets(args.crosssim)
        groups["demo"] = [(None, demo_files(Path(tmp)))]
        for name, members in groups.items():
            if not members:
                print(f"{name}: no frames found, left out")
                continue
            rows = {}
            for shift in args.shifts:
                values, limit = [], None
                for config_path, files in members:
                    config = load_config(config_path, detector=True) if config_path else demo_config(load_config())
                    limit = config.geometry.max_asymmetry
                    values += asymmetries(config, files, shift)
                rows[str(shift)] = summarise(values, limit)
                r = rows[str(shift)]
                print(f"{name:9s} shift {shift:+5.0f} px: {r['flagged']:3d} of {r['frames']:3d} flagged "
                      f"(> {limit:g}), {r['no_verdict']} without a verdict; asymmetry median "
                      f"{r['median'] if r['median'] is None else round(r['median'], 3)}, range "
                      f"{r['min'] if r['min'] is None else round(r['min'], 3)}-"
                      f"{r['max'] if r['max'] is None else round(r['max'], 3)}", flush=True)
            report["sets"][name] = {"limit": limit, "by_shift": rows}
    report["load_average_1min"] = os.getloadavg()[0]
    report["date"] = time.strftime("%Y-%m-%d")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
