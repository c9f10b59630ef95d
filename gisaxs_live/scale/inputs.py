"""Archive inputs → the files to classify: directories (every regular, non-hidden, non-CSV file below, recursively),
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
    """Every file named by ``inputs``, sorted by its path string; below a directory, hidden files and CSV files
    (the logs of this tool written beside the frames, its own ``--csv`` among them) are left out, the latter
    appended to ``logs`` where given. A path that does not exist stays in the list (it becomes an ``error`` row); a
    glob that matches nothing, or a directory with no file below, raises ``ValueError`` naming it."""
    found: set[Path] = set()
    for item in inputs:
        text = str(item)
        path = canonical(text)
        if path.is_dir():
            root = Path(os.path.realpath(path))
            below = [p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root))]
            if not below:
                raise ValueError(f"{text}: a directory with no files in it")
            csv = [p for p in below if p.suffix.lower() == ".csv"]
            if len(csv) == len(below):
                raise ValueError(f"{text}: a directory holding only CSV files (logs, not frames)")
            if logs is not None:
                logs.extend(csv)
            found.update(set(below) - set(csv))
        elif GLOB_CHARS & set(text) and not path.exists():
            matches = [canonical(m) for m in glob.glob(text, recursive=True)]
            if not matches:
                raise ValueError(f"{text}: the pattern matches no file")
            found.update(m for m in matches if not m.is_dir())
        else:
            found.add(path)
    return sorted(found, key=str)


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


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)
