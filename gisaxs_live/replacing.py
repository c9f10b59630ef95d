"""Files written whole or not at all: new content goes to a hidden file beside the target, which replaces it by a
rename once complete and on disk. A full disk or a crash mid-write leaves the old file as it was (a model directory
that worked still works) and no part-written file under the target's name. Where nothing can be made beside the
target (a directory that is not writable, holding a file that is), the target is written in place, as before."""

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
    on device) raises ``Unavailable`` naming ``path``, which is untouched. In a directory where no file can be made
    but ``path`` itself is writable, ``path`` is given to be written in place: there a failed write leaves it cut."""
    path = Path(os.path.realpath(path))
    temporary = path.with_name(f".partial-{os.getpid()}-{path.name}")
    if _only_in_place(temporary, path):
        try:
            yield path
        except OSError as exc:
            raise Unavailable(f"{path}: cannot be written ({exc.strerror or exc})") from None
        return
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


def _only_in_place(temporary: Path, path: Path) -> bool:
    """Whether ``temporary`` cannot be made (its directory not writable) while the existing ``path`` can be
    written: then ``path`` is written in place. Where ``temporary`` could be made it is left there, empty."""
    try:
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666))
        return False
    except PermissionError:
        pass
    except OSError:
        return False  # said by the write to come (a full disk, a missing directory), naming ``path``
    if not path.is_file():
        return False
    try:
        os.close(os.open(path, os.O_WRONLY))  # opened, not truncated: only whether it may be written
    except OSError:
        return False
    return True


def write_bytes_replacing(path: str | Path, data: bytes) -> None:
    """``data`` as the whole new content of ``path`` (``replacing``): a viewer or a web server never sees half a
    picture."""
    with replacing(path) as temporary:
        temporary.write_bytes(data)


def write_text_replacing(path: str | Path, text: str) -> None:
    """``text`` (UTF-8) as the whole new content of ``path`` (``replacing``)."""
    with replacing(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
