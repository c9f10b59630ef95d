"""Archive inputs → the files to classify: directories (every non-hidden, non-CSV entry below, recursively),
glob patterns (``*``, ``?``, ``[…]``) and plain file paths, each named as ``watch`` names it: its directory's
real path (``..``, ``.`` and symbolic links to directories resolved) and its own name; deduplicated and sorted by
path, which is the stable order of the output rows (source, then frame). A file's rows so name it the same way
however it was given, so that a rerun into the same log (from another directory, by another name, or over the
service's log) knows it."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..sinks.text import plural

GLOB_CHARS = frozenset("*?[")


def expand_inputs(inputs: Iterable[str | Path], logs: list[Path] | None = None) -> list[Path]:
    """Every file named by ``inputs``, sorted by its path string. Below a directory (``entries_below``), given or
    matched by a glob, every entry but a directory counts, so that what cannot be a frame (a FIFO, a dangling link)
    and a subdirectory that cannot be listed get ``error`` rows rather than no word; hidden entries and CSV files (the
    logs of this tool written beside the frames, its own ``--csv`` among them) are left out, the latter appended to
    ``logs`` where given. A path that does not exist stays in the list (it becomes an ``error`` row); a glob that
    matches no file (directly or below the directories it matches), or a directory given with no file below, raises
    ``ValueError`` naming it."""
    found: set[Path] = set()
    for item in inputs:
        text = str(item)
        path = canonical(text)
        if path.is_dir():
            below, csv = _files_below(path, logs)
            if not below and not csv:
                raise ValueError(f"{text}: a directory with no files in it")
            if not below:
                raise ValueError(f"{text}: a directory holding only CSV files (logs, not frames)")
            found.update(below)
        elif GLOB_CHARS & set(text) and not path.exists():
            matched: set[Path] = set()
            for match in (canonical(m) for m in glob.glob(text, recursive=True)):
                matched.update(_files_below(match, logs)[0] if match.is_dir() else {match})
            if not matched:
                raise ValueError(f"{text}: the pattern matches no file")
            found.update(matched)
        else:
            found.add(path)
    return sorted(found, key=str)


def _files_below(directory: Path, logs: list[Path] | None) -> tuple[set[Path], list[Path]]:
    """(``entries_below`` the directory but CSV files, the CSV files), the latter also appended to ``logs`` (where
    given, each once: a directory given twice, or one below another)."""
    below = entries_below(directory)
    csv = [p for p in below if p.suffix.lower() == ".csv" and not p.is_dir()]
    if logs is not None:
        known = set(logs)
        logs.extend(p for p in csv if p not in known)
    return set(below) - set(csv), csv


def entries_below(root: Path) -> list[Path]:
    """The non-hidden entries below the directory ``root`` that are not directories (regular files and links to them,
    FIFOs, devices, dangling links), and the directories below it that cannot be listed (their frames are unknown),
    each named by ``canonical``. Links to directories are followed, each real directory walked once, but not those
    to a hidden directory or to ``root`` or a directory above it (a link loop, or the whole file system)."""
    top = os.path.realpath(root)
    found, seen = [], {top}

    def unlisted(exc: OSError) -> None:
        found.append(canonical(exc.filename))

    for folder, dirs, names in os.walk(root, onerror=unlisted, followlinks=True):
        walked = []
        for name in dirs:
            real = os.path.realpath(os.path.join(folder, name))
            above = top == real or top.startswith(real.rstrip(os.sep) + os.sep)  # ``up -> ..``: the tree again
            if not (name.startswith(".") or os.path.basename(real).startswith(".") or above or real in seen):
                seen.add(real)
                walked.append(name)
        dirs[:] = walked
        found += [canonical(os.path.join(folder, name)) for name in names if not name.startswith(".")]
    return found


def logs_left_out(logs: Sequence[Path]) -> str:
    """The line saying which CSV files ``expand_inputs`` left out below a directory ('' if none)."""
    if not logs:
        return ""
    return f"{plural(len(logs), 'CSV file')} below the directories given left out (logs, not frames): {logs[0]}" + (
        f" and {plural(len(logs) - 1, 'other')}" if len(logs) > 1 else "")


def canonical(path: str | Path) -> Path:
    """``path`` as ``watch`` names a file in the directory it watches: the directory's real path, the file's name."""
    absolute = os.path.abspath(path)
    return Path(os.path.realpath(os.path.dirname(absolute))) / os.path.basename(absolute)


def chunks(files: Sequence[Path], size: int) -> list[list[Path]]:
    """``files`` cut into consecutive groups of ``size`` (the last one shorter)."""
    return [list(files[i:i + size]) for i in range(0, len(files), size)]


def task_size(n_files: int, workers: int, largest: int = 100) -> int:
    """Files per task: about 4 tasks per worker for balance, at most ``largest`` files so that the scheduler
    handles a few thousand tasks for 10⁵ files."""
    return max(1, min(largest, -(-n_files // (4 * max(workers, 1)))))
