"""Files written whole or not at all: new content goes to a hidden file beside the target, which replaces it by a
rename once complete and on disk. A full disk or a crash mid-write leaves the old file as it was (a model directory
that worked still works) and no part-written file under the target's name."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from .causes import Unavailable


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``, ending in its name (Keras wants ``.weights.h5``, NumPy ``.npz``), to write
    the new content to; when the block ends without an exception it is synced, given the mode of the file it
    replaces, and renamed onto it, else removed. A link given is written through. A write that fails (no space left
    on device) raises ``Unavailable`` naming ``path``, which is untouched."""
    path = Path(os.path.realpath(path))
    temporary = path.with_name(f".partial-{os.getpid()}-{path.name}")
    try:
        yield temporary
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(temporary, path)
    except OSError as exc:
        raise Unavailable(f"{path}: cannot be written ({exc.strerror or exc})") from None
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
