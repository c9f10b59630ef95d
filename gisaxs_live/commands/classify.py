"""``gisaxs-live classify``: classify detector files (any format fabio reads, every frame) into CSV rows,
the same rows the live monitor writes. Unreadable files become ``error`` rows; the rest go on."""

from __future__ import annotations

import argparse
from pathlib import Path

BATCH = 64


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classify", help="classify detector files into CSV rows", description=__doc__)
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="CBF, EDF, TIFF, Eiger HDF5, …")
    p.add_argument("--config", type=Path, default=None, help="YAML config with the experiment's geometry")
    p.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    p.add_argument("--csv", type=Path, default=None, help="append rows to this CSV (default: standard output)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    from ..config import load_config
    from ..frame import FrameError
    from ..pipeline import Classifier
    from ..sinks.csvlog import CsvLog
    from ..sources.files import read_frames

    config = load_config(args.config)
    classifier = Classifier(config, args.model)
    if classifier.mismatch:
        print(f"warning: {classifier.mismatch}", file=sys.stderr)
    log = CsvLog(args.csv, classifier.class_names) if args.csv else CsvLog.to_stream(sys.stdout, classifier.class_names)
    counts = {"ok": 0, "no_signal": 0, "error": 0}
    batch = []

    def flush() -> None:
        for result in classifier.classify(batch):
            log.write(result)
            counts[result.status] += 1
        batch.clear()

    with log:
        for path in args.files:
            t = time.time()
            frames = read_frames(path)
            while True:
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                except FrameError as exc:
                    result = classifier.error(str(path), 0, str(exc), t)
                    log.write(result)
                    counts["error"] += 1
                    break
                batch.append(frame)
                if len(batch) >= BATCH:
                    flush()
        flush()
    print(f"classified {sum(counts.values())} frames: {counts['ok']} ok, {counts['no_signal']} no signal, "
          f"{counts['error']} errors", file=sys.stderr)
    return 0
