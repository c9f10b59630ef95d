"""``gisaxs-live reprocess``: classify an archive (directories, globs, multi-frame files: every frame) on a
Dask cluster into the CSV rows ``classify`` gives, row for row, sorted by (source, frame).

With no --scheduler it starts a local cluster of --workers processes (one thread each); with
--scheduler tcp://HOST:8786 it runs on an existing cluster (e.g. dask-jobqueue's SLURMCluster), whose
workers must have gisaxs-live installed and read the same paths. Each worker loads the model once.
Rows are appended to --csv in order, one write per task, so a killed run loses nothing written; a rerun
skips the files whose rows are already there. Unreadable files become ``error`` rows.

Exit status: 0 when no new row is an error, 1 when some are, the --csv log cannot be written for a cause that may
pass (a full disk) or the scheduler went away (the rows so far kept, a rerun goes on), 2 for a usage or
configuration error, 130 when stopped by Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from . import at_least


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("reprocess", help="classify an archive on a Dask cluster into CSV rows, resumably",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, directories (recursive) or quoted globs")
    p.add_argument("--config", type=Path, default=None, help="YAML config with the experiment's geometry")
    p.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler to run on, e.g. tcp://host:8786 (default: start a local cluster)")
    p.add_argument("--workers", type=int, default=2, metavar="N",
                   help="worker processes of the local cluster (default: 2; ignored with --scheduler)")
    p.add_argument("--files-per-task", type=int, default=None, metavar="N",
                   help="files per Dask task (default: about 4 tasks per worker, at most 100)")
    p.add_argument("--csv", type=Path, required=True, help="CSV log to append to (and resume from)")
    p.add_argument("--retry-errors", action="store_true",
                   help="also classify again the files whose last row is an error (after mending the config "
                        "that caused it: mask, PONI file, detector shape)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import contextlib
    import logging
    import sys

    from ..classify.predictor import Predictor
    from ..config import load_config
    from ..scale.cluster import ClusterLost, open_cluster
    from ..scale.inputs import expand_inputs, logs_left_out
    from ..scale.reprocess import plan, progress
    from ..sinks.csvlog import LogError, open_log
    from ..sinks.text import plural
    from ..sources.eiger import each_image_once

    at_least(("--workers", args.workers, 1), ("--files-per-task", args.files_per_task, 1))
    config = load_config(args.config, detector=True)
    info = Predictor(args.model).info  # the whole model directory, loaded here: one broken gave every file an error row
    if info.mismatch(config.experiment):
        logging.warning(info.mismatch(config.experiment))
    logs: list[Path] = []
    files, note = each_image_once(expand_inputs(args.paths, logs))
    for line in (logs_left_out(logs), note):
        if line:
            print(line, file=sys.stderr)
    with contextlib.ExitStack() as held:  # closed last to first: the client and its cluster, the log (its lock)
        log = open_log(args.csv, info.class_names)  # a full disk: status 1, a bad path: 2
        held.callback(log.close)
        todo = plan(files, args.csv, args.retry_errors)
        if todo.skipped:
            print(f"{args.csv}: {plural(todo.skipped, 'file')} already classified, skipped", file=sys.stderr)
        if not todo.todo:
            print("nothing to classify", file=sys.stderr)
            return 0
        try:  # Ctrl-C while the cluster starts too: the same line
            client = held.enter_context(open_cluster(args.scheduler, args.workers, "reprocess",
                                                     lambda line: print(line, file=sys.stderr)))
            counts = _classify(args, client, config, log, todo, progress())
        except (LogError, ClusterLost) as exc:  # a full disk, the scheduler gone: the rows so far are whole
            print(f"gisaxs-live reprocess: stopped: {exc}; the rows of the tasks done are in {args.csv}, a rerun "
                  "goes on from there", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"gisaxs-live reprocess: stopped; the rows of the tasks done are in {args.csv}, a rerun goes on "
                  "from there", file=sys.stderr)
            return 130
    print(f"reprocessed {plural(sum(counts.values()), 'frame')}: {counts['ok']} ok, {counts['unknown']} unknown, "
          f"{counts['no_signal']} no signal, {plural(counts['error'], 'error')}", file=sys.stderr)
    return 1 if counts["error"] else 0


def _classify(args: argparse.Namespace, client, config, log, todo, bar) -> Counter:
    """Run the plan's files on ``client`` with the progress ``bar``; the status counts of the rows written."""
    from ..scale.reprocess import run_tasks
    from ..sinks.csvlog import escape_source

    model_dir = str(args.model) if args.model else None
    with bar:
        task = bar.add_task("reprocess", total=len(todo.todo), frames=0, rate=0.0)
        frames = 0

        def advance(n_files: int, results) -> None:
            nonlocal frames
            frames += len(results)
            for r in results:  # the cause on the terminal too, as classify gives it, above the bar
                if r.status == "error":
                    bar.console.print(f"ERROR: {escape_source(r.message)}", markup=False, highlight=False,
                                      soft_wrap=True)
            elapsed = bar.tasks[task].elapsed or 0.0
            bar.update(task, advance=n_files, frames=frames, rate=frames / elapsed if elapsed else 0.0)

        return run_tasks(client, todo.todo, config, model_dir, log, args.files_per_task, advance, todo.logged_frames)
