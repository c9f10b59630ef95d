"""``gisaxs-live refine``: a least-squares fit of the bundled simulator to each frame (``gisaxs_live/refine``).

Per frame: preprocess as ``classify`` does (mask, regrid onto the model's grid; the empty bins are left out of
the fit, never filled), take the class from --class or the classifier's top-1, start from the size net's
estimate where the model has one, else from a coarse D_y × aspect grid, and fit the class's shape parameters,
the Percus–Yevick volume fraction η, a scale and a flat background by maximum likelihood under Poisson counting
noise (least squares on the deviance residuals). Prints the parameters with 1σ errors (from the Fisher
information, scaled by the reduced χ²: statistical, a lower bound where the model misfits) and the reduced χ²;
--csv writes them, --png DIR a picture of data, fit and residual per frame (<file stem>_<frame>.refine.png). Sizes
in nm, aspect = D_z/D_y (the model card's conventions).

A parameter that ends on a bound of the fit is printed as "at its lower/upper limit" (its value is the bound,
its 1σ meaningless; column at_limits of --csv), a fit that did not converge starts with NOT CONVERGED.

Exit status: 0 every frame fitted and converged, 1 some frames could not be fitted (each says why) or their fit did
not converge, 2 usage or config error."""

from __future__ import annotations

import argparse
import csv
import io
import time
from pathlib import Path

from . import CSV_OF_REFINE, output_directory, output_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("refine", help="least-squares fit of the simulator to frames: parameters ± 1σ, χ²",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("frames", type=Path, nargs="+", metavar="FRAME", help="detector files (every frame is fitted)")
    p.add_argument("--config", type=Path, required=True, help="YAML config with the experiment's geometry")
    p.add_argument("--class", dest="shape_class", default=None, metavar="K",
                   help="fit this class (default: the classifier's top-1 for each frame)")
    p.add_argument("--model", type=Path, default=None, help="model directory (grid, classifier; default: bundled)")
    p.add_argument("--png", type=Path, default=None, metavar="DIR",
                   help="write <file stem>_<frame>.refine.png per frame here")
    p.add_argument("--csv", type=Path, default=None, metavar="OUT",
                   help="write the fitted parameters here (and each frame not fitted, with its cause)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..classify.pipeline import Classifier
    from ..config import load_config
    from ..replacing import write_bytes_replacing
    from ..refine.frame import FrameFitter, NotFitted
    from ..refine.picture import refinement_png
    from ..simulator.shapes import CLASS_NAMES
    from ..sinks.csvlog import escape_source, logged_message
    from ..sinks.text import one_line, plural
    from ..sources.files import FileFrames

    if args.shape_class is not None and args.shape_class not in CLASS_NAMES:
        raise ValueError(f"--class {args.shape_class}: not a class; known: {', '.join(CLASS_NAMES)}")
    config = load_config(args.config, detector=True)
    if args.csv is not None:
        output_file(args.csv, "--csv", args.frames, CSV_OF_REFINE)
    if args.png is not None:
        output_directory(args.png, "--png", "the pictures (a file per frame)")
    classifier = Classifier(config, args.model)
    fitter = FrameFitter(config, classifier.preprocessor)
    rows, failed = [], 0
    for path in args.frames:
        reading = FileFrames(path, time.time())
        source = escape_source(str(path))  # a file name's line ends, controls and bytes not UTF-8 as in every log
        for frame in reading:  # decoded one at a time
            name = f"{path} frame {frame.frame_id}"
            (result,) = classifier.classify([frame])
            shape_class = args.shape_class or (result.ranked()[0][0] if result.ranked() else None)
            try:
                if shape_class is None:
                    raise NotFitted(result.message)
                done = fitter.fit(frame, shape_class, result.size)
            except NotFitted as exc:
                said = f"{name}: not fitted: {str(exc).removeprefix(f'{frame.source} frame {frame.frame_id}: ')}"
                print(one_line(said))
                rows.append({"source": source, "frame": str(frame.frame_id), "message": logged_message(said)})
                failed += 1
                continue
            print(one_line(f"{name}: {done.describe()}"))
            failed += not done.fit.converged
            rows.append(done.row(source, frame.frame_id))
            if args.png is not None:
                title = f"{path.name} frame {frame.frame_id}: {shape_class}, χ²_red {done.fit.chi2_red:.2f}"
                write_bytes_replacing(args.png / f"{path.stem}_{frame.frame_id}.refine.png",
                                      refinement_png(done.data, done.fit, fitter.grid, title))
        if reading.problem:
            print(one_line(reading.problem))  # names the file
            rows.append({"source": source, "frame": "", "message": logged_message(reading.problem)})
            failed += 1
    if args.csv is not None and rows:
        _write_rows(args.csv, rows)
        fits = sum(1 for row in rows if "chi2_red" in row)
        others = f" and {plural(len(rows) - fits, 'row')} for what was not fitted" if len(rows) > fits else ""
        print(f"wrote {plural(fits, 'fit')}{others} to {args.csv}")
    return 1 if failed else 0


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    """``rows`` as a whole new CSV file at ``path`` (columns in order of first appearance, ``message`` last; a
    full disk leaves the file as it was and raises ``Unavailable``)."""
    from ..replacing import write_text_replacing

    columns = [k for k in dict.fromkeys(k for row in rows for k in row) if k != "message"] + ["message"]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    write_text_replacing(path, text.getvalue())
