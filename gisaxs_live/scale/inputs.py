"""Archive inputs → the files to classify: directories (every regular, non-hidden file below, recursively),
glob patterns (``*``, ``?``, ``[…]``) and plain file paths, made absolute (``..`` and ``.`` folded, symbolic
links kept), deduplicated and sorted by path, which is the stable order of the output rows (source, then frame).
Absolute, a file's rows name it the same way however it was given, so that a rerun into the same log (from
another directory, or naming it otherwise) knows it."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

GLOB_CHARS = frozenset("*?[")


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Every file named by ``inputs``, sorted by its path string. A path that does not exist stays in the
    list (it becomes an ``error`` row); a glob that matches nothing raises ``ValueError`` naming it."""
    found: set[Path] = set()
    for item in inputs:
        text = str(item)
        path = Path(os.path.abspath(text))
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
        elif GLOB_CHARS & set(text) and not path.exists():
            matches = [Path(os.path.abspath(m)) for m in glob.glob(text, recursive=True)]
            if not matches:
                raise ValueError(f"{text}: the pattern matches no file")
            found.update(m for m in matches if not m.is_dir())
        else:
            found.add(path)
    return sorted(found, key=str)


def chunks(files: Sequence[Path], size: int) -> list[list[Path]]:
    """``files`` cut into consecutive groups of ``size`` (the last one shorter)."""
    return [list(files[i:i + size]) for i in range(0, len(files), size)]


def task_size(n_files: int, workers: int, largest: int = 100) -> int:
    """Files per task: about 4 tasks per worker for balance, at most ``largest`` files so that the scheduler
    handles a few thousand tasks for 10⁵ files."""
    return max(1, min(largest, -(-n_files // (4 * max(workers, 1)))))


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)
