"""``gisaxs-live classify``: classify detector files (any format fabio reads, every frame) into CSV rows,
the same rows the live monitor writes. Unreadable files become ``error`` rows; the rest go on. A directory
stands for every regular, non-hidden file below it (recursively, sorted by path) and a quoted glob pattern
for the files it matches, as in ``reprocess``; the rows follow the order of the arguments.

The config must give the detector geometry (geometry.distance_mm and direct_beam_px, or poni_file);
without --config the bundled default is used: the geometry of the demo's synthetic Pilatus 1M.

Each error row's cause is also printed to standard error. Exit status: 0 when no row is an error (ok, unknown or
no_signal), 1 when some or all are errors or the rows could not all be written (a full disk, also for the --csv log
at start; a reader of standard output that went away, e.g. ``| head``, ends it quietly), 2 for a usage or
configuration error (nothing classified)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classify", help="classify detector files into CSV rows", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", type=Path, metavar="PATH",
                   help="detector files (CBF, EDF, TIFF, Eiger HDF5, …), directories or quoted glob patterns")
    p.add_argument("--config", type=Path, default=None, help="YAML config with the experiment's geometry")
    p.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    p.add_argument("--csv", type=Path, default=None, help="append rows to this CSV log (default: standard output)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import os
    import sys
    from collections import Counter

    from ..config import load_config
    from ..early_stop import ctrl_c_deferred
    from ..classify.pipeline import Classifier, classify_files
    from ..results import csv_columns
    from ..sinks.csvlog import LogError, escape_source, format_rows, log_rows, open_log
    from ..sinks.text import plural

    files = _files(args.files)
    config = load_config(args.config, detector=True)
    classifier = Classifier(config, args.model)  # warns (logs) if the model was trained for another experiment
    log = None
    if args.csv:
        log = open_log(args.csv, classifier.class_names)  # a full disk: status 1, a bad path: 2
        write = log.write
    else:
        header = [csv_columns(classifier.class_names)]

        def write(results):
            _to_stdout(format_rows(header + log_rows(results)))
            header.clear()

    counts: Counter[str] = Counter()
    ambiguous = 0
    try:
        with ctrl_c_deferred("gisaxs-live classify: stopping after the frames being classified (Ctrl-C again: "
                             "at once)") as stop_asked:
            for results in classify_files(classifier, files):
                write(results)
                counts.update(r.status for r in results)
                for r in results:
                    if r.status == "error":  # the cause on the terminal too, not only in the rows
                        logging.error("%s", escape_source(r.message))
                ambiguous += sum(len(r.answer) > 1 for r in results)
                if stop_asked():
                    raise KeyboardInterrupt
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error as Python exits
        return 1
    except LogError as exc:
        print(f"gisaxs-live classify: stopped after {plural(sum(counts.values()), 'frame')}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        where = f"; their rows are in {args.csv}: reprocess into it classifies the rest" if args.csv else ""
        print(f"gisaxs-live classify: stopped after {plural(sum(counts.values()), 'frame')} of "
              f"{plural(len(files), 'file')}{where}", file=sys.stderr)
        return 130
    finally:
        if log is not None:
            try:
                log.close()
            except LogError:
                pass  # a failed write said so already; closing cannot lose a row
    print(f"classified {plural(sum(counts.values()), 'frame')}: {counts['ok']} ok, {counts['unknown']} unknown, "
          f"{counts['no_signal']} no signal, {plural(counts['error'], 'error')}"
          + (f"; {ambiguous} of the ok rows name more than one family (column answer)" if ambiguous else ""),
          file=sys.stderr)
    return 1 if counts["error"] else 0


def _files(paths: list[Path]) -> list[Path]:
    """The files named by ``paths`` in their order, each directory or glob pattern expanded in place (sorted),
    each file once, each Eiger image once (``sources.eiger.each_image_once``, said on stderr).
    Raises ``ValueError`` for a pattern that matches no file or a directory with none below."""
    import sys

    from ..scale.inputs import expand_inputs, logs_left_out
    from ..sources.eiger import each_image_once

    files: dict[Path, None] = {}
    logs: list[Path] = []
    for path in paths:
        files.update(dict.fromkeys(expand_inputs([path], logs)))
    kept, note = each_image_once(list(files))
    for line in (logs_left_out(logs), note):
        if line:
            print(line, file=sys.stderr)
    return kept


def _to_stdout(text: str) -> None:
    """Write ``text`` to standard output at once; a failure (not a closed pipe) becomes a ``LogError``."""
    import sys

    from ..sinks.csvlog import LogError

    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise LogError(f"standard output: cannot write the rows ({exc.strerror or exc})") from None
