"""The reprocessing client: files → tasks on a Dask cluster → the CSV log in (source, frame) order.

Tasks finish in any order; their rows are held until every earlier task's rows are written, then each
task's rows go out in one write (``CsvLog``), so a killed run leaves whole tasks on disk and a rerun
(``resume_point``) skips their files. A task whose worker dies is run again elsewhere (``RETRIES``); one
that still fails is split, each of its files a task of its own, so that a file that kills its worker (a decoder's
crash, memory) costs no other file its rows; a file that still fails gives an ``error`` row, and the run goes on."""

from __future__ import annotations

import logging
import math
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..causes import first_line
from ..config import Config
from ..results import Result
from ..sinks.csvlog import CsvLog, resume_point
from .cluster import ClusterLost, cancelled_if_left, task_result
from .inputs import chunks, task_size
from .tasks import classify_files

logger = logging.getLogger(__name__)

RETRIES = 3  # further tries of a task whose worker was lost


@dataclass
class Plan:
    """The files still to classify (``todo``), how many a previous run already logged (``skipped``), and per file
    of ``todo`` read before up to an error row, how many of its frames have rows (``logged_frames``)."""

    todo: list[Path]
    skipped: int
    logged_frames: dict[str, int] = field(default_factory=dict)


def plan(files: Sequence[Path], out: Path, retry_errors: bool = False) -> Plan:
    """Drop the files whose rows ``out`` already holds (their last row final, or an error written after
    the file last changed; with ``retry_errors``, an error is never final), but those changed after their final
    rows (``daemon.changed_since_row``: a stack appended to since), which are read for their frames beyond those with
    rows."""
    from ..daemon import changed_since_row

    resume = resume_point(out, {str(f) for f in files}, retry_errors)
    times = {str(f): _times(f) for f in files}
    changed = changed_since_row([(path, mtime, ctime) for path, (mtime, ctime) in times.items()
                                 if path in resume.logged and mtime < math.inf], resume, set())
    todo = [f for f in files if not resume.done(str(f), times[str(f)][0]) or str(f) in changed]
    logged = {str(f): resume.error_frames[str(f)] for f in todo if resume.error_frames.get(str(f))}
    logged.update((path, resume.logged_frames[path]) for path in changed)
    return Plan(todo, len(files) - len(todo), logged)


def not_logged(results: Sequence[Result], logged_frames: Mapping[str, int]) -> list[Result]:
    """``results`` without the rows of frames that a log already holds (``Plan.logged_frames``: a file read again
    after an error row part-way through it); error rows always stay."""
    if not logged_frames:
        return list(results)
    return [r for r in results if r.status == "error" or r.frame >= logged_frames.get(r.source, 0)]


def run_tasks(client, files: Sequence[Path], config: Config, model_dir: str | None, log: CsvLog,
              per_task: int | None = None, on_task: Callable[[int, list[Result]], None] | None = None,
              logged_frames: Mapping[str, int] | None = None) -> Counter:
    """Classify ``files`` on ``client``'s cluster, appending rows to ``log`` in order, but those of the frames that
    ``logged_frames`` (``Plan``) says the log holds; ``on_task(files, results)`` after each task's rows are written.
    Returns the count of rows per status."""
    from distributed import as_completed

    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    groups = chunks(list(files), per_task or task_size(len(files), workers))
    futures = client.map(classify_files, [[str(f) for f in g] for g in groups], config=config, model_dir=model_dir,
                         retries=RETRIES, pure=False, key=[f"reprocess-{i}" for i in range(len(groups))])
    index = {f.key: i for i, f in enumerate(futures)}
    held: dict[int, list[Result]] = {}
    counts: Counter[str] = Counter()
    following = 0

    def file_by_file(i: int, group: Sequence[Path]) -> list[Result]:
        """Task ``i``'s files, after it failed every try, each in a task of its own (waited for here)."""
        singles = client.map(classify_files, [[str(f)] for f in group], config=config, model_dir=model_dir,
                             retries=RETRIES, pure=False, key=[f"reprocess-{i}-file-{j}" for j in range(len(group))])
        return [r for f, single in zip(group, singles) for r in _outcome(single, [f], log.class_names)]

    with cancelled_if_left(client, futures):
        for future in as_completed(futures):
            i = index[future.key]
            outcome = _outcome(future, groups[i], log.class_names, lambda group, i=i: file_by_file(i, group))
            held[i] = not_logged(outcome, logged_frames or {})
            future.release()
            while following in held:
                results = held.pop(following)
                log.write(results)
                counts.update(r.status for r in results)
                if on_task:
                    on_task(len(groups[following]), results)
                following += 1
    return counts


def _outcome(future, group: Sequence[Path], class_names: Sequence[str],
             file_by_file: Callable[[Sequence[Path]], list[Result]] | None = None) -> list[Result]:
    """The task's Results; when it failed every try, ``file_by_file(group)`` for a task of several files, else an
    ``error`` Result per file; raises ``ClusterLost`` where the scheduler went away."""
    from ..results import utc_now

    try:
        return task_result(future)
    except ClusterLost:
        raise
    except Exception as exc:  # a worker lost more than RETRIES times, or a bug: the other tasks go on
        reason = first_line(exc, "its worker stopped")
        if file_by_file is not None and len(group) > 1:
            logger.warning("a task of %d files failed %d times (%s): its files are classified one by one", len(group),
                        RETRIES + 1, reason)
            return file_by_file(group)
        return [Result(str(f), 0, "error", message=f"{f}: not classified: its task failed {RETRIES + 1} times "
                                                   f"({reason})", time_utc=utc_now(), class_names=tuple(class_names))
                for f in group]


def _times(path: Path) -> tuple[float, float]:
    """(mtime, ctime) of ``path`` (Unix s); infinite where it is missing: classify it (into an error row) again."""
    try:
        stat = path.stat()
    except OSError:
        return float("inf"), float("inf")
    return stat.st_mtime, stat.st_ctime


def progress(stream=None):
    """A rich progress bar on ``stream`` (default: the standard error of the moment) if a terminal (files done of the
    task's total, frames/s, ETA from the files left); silent otherwise."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(file=stream or sys.stderr)
    return Progress(TextColumn("reprocess"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                    TextColumn("{task.fields[frames]:,} frames, {task.fields[rate]:.1f} frames/s"),
                    TimeRemainingColumn(), console=console, disable=not console.is_terminal, transient=False)
