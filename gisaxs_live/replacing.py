"""Files written whole or not at all: new content goes to a hidden file beside the target, which replaces it by a
rename once complete and on disk. A full disk or a crash mid-write leaves the old file as it was (a model directory
that worked still works) and no part-written file under the target's name."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, ending in its name (Keras wants ``.weights.h5``, NumPy ``.npz``), to write
    the new content to; when the block ends without an exception it is synced and renamed onto ``path``, else
    removed. The write's OSError (no space left on device) reaches the caller naming ``path``, which is untouched."""
    path = Path(path)
    temporary = path.with_name(f".partial-{os.getpid()}-{path.name}")
    try:
        yield temporary
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except OSError as exc:  # named by the file written, not the hidden one
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def write_bytes_replacing(path: str | Path, data: bytes) -> None:
    """``data`` as the whole new content of ``path`` (``replacing``): a viewer or a web server never sees half a
    picture."""
    with replacing(path) as temporary:
        temporary.write_bytes(data)


def write_text_replacing(path: str | Path, text: str) -> None:
    """``text`` (UTF-8) as the whole new content of ``path`` (``replacing``)."""
    with replacing(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
