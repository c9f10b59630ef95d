"""``gisaxs-live check-geometry``: one picture to look at before trusting a run's geometry. The frame in log
scale with the configured mask, the direct beam, the specular beam expected from the config (α_f = α_i), the
sample horizon, the Yoneda line of the configured substrate and q_y / q_z contours, beside the model input
(the model's 90 × 70 grid) and the simulated pattern of the frame's top-1 class (at the size net's
estimate where the model has one, else at the class's default parameters). It prints the masked fraction, the empty bins and where the intensity maximum
above the horizon lies against the expected specular beam (or Yoneda band), and says DISAGREES when they are
more than a few pixels apart (a wrong beam centre, distance, incidence angle or axis flip).

Exit status: 0 when the geometry agrees with the frame, 1 when it disagrees, 2 for an unusable frame (one
without usable signal too: it cannot tell) or config."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import PNG_PICTURE, output_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("check-geometry", help="picture and numbers: does the config's geometry fit a frame?",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("frame", type=Path, metavar="FRAME", help="a detector file (its first frame is checked)")
    p.add_argument("--config", type=Path, required=True, help="YAML config with the experiment's geometry")
    p.add_argument("--model", type=Path, default=None, help="model directory for the grid (default: bundled)")
    p.add_argument("--out", type=Path, default=None,
                   help="picture (default: <frame stem>.check.png in the current directory)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from ..classify.pipeline import Classifier
    from ..config import load_config
    from ..frame import FrameError
    from ..pictures.geometry_check import check_geometry, geometry_figure, simulated_input, summary
    from ..replacing import write_bytes_replacing
    from ..sources.files import first_frame

    config = load_config(args.config, detector=True)
    out = output_file(args.out or Path(f"{args.frame.stem}.check.png"), "--out", [args.frame], PNG_PICTURE)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out {out}: give a .png file (the picture is a PNG)")
    frame, problem = first_frame(args.frame, time.time())
    if frame is None:
        raise ValueError(problem)
    classifier = Classifier(config, args.model)
    info = classifier.predictor.info
    try:
        check = check_geometry(config, frame, classifier.preprocessor)
    except FrameError as exc:
        raise ValueError(str(exc)) from None
    lines = summary(check, str(args.frame))
    (result,) = classifier.classify([frame])
    ranked = result.ranked()
    lines.insert(-1, f"top-1 class: {ranked[0][0]} ({ranked[0][1]:.3f}, {result.status})" if ranked
                 else f"top-1 class: none ({result.status})")
    print("\n".join(lines))
    simulated = simulated_input(result, info.grid, config.experiment, config.simulation, info.decades)
    import io

    buffer = io.BytesIO()
    geometry_figure(check, frame.data, f"{args.frame.name} with {args.config.name}: {lines[-1].split(':')[0]}",
                    simulated).savefig(buffer, format="png")
    write_bytes_replacing(out, buffer.getvalue())
    print(f"picture: {out}")
    if check.prepared.status != "ok":
        return 2
    return 0 if check.agrees() else 1
