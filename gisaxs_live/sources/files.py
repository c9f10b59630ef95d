"""Detector image files → Frames, always through fabio: CBF, EDF, TIFF, Eiger / NeXus HDF5 and the
other formats fabio reads, gzip-compressed (``.gz``) ones included. Multi-frame files give every frame.

Some damage fabio only logs (a CBF whose MD5 checksum does not match, a TIFF that no reader decodes):
an error logged by fabio while it reads a frame makes that frame a FrameError too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..frame import Frame, FrameError


def read_frames(path: str | Path) -> Iterator[Frame]:
    """Every frame of the image file ``path``, in order: ``frame_id`` = its index in the file, ``t`` =
    the file's modification time (Unix s). Raises ``FrameError`` (one line naming the file and the
    cause) for a missing, empty, truncated, corrupt or non-image file, or data that is not 2-D."""
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise FrameError(f"{path}: no such file") from None
    except OSError as exc:
        raise FrameError(f"{path}: cannot be read ({exc.strerror})") from None
    if not path.is_file():
        raise FrameError(f"{path}: not a regular file")
    if stat.st_size == 0:
        raise FrameError(f"{path}: empty file")
    _check_cbf_binary_section(path)
    image = _guarded(path, "cannot be read as a detector image", _open, path)
    for index in range(max(int(image.nframes), 1)):
        frame = image if index == 0 else _guarded(path, f"frame {index} cannot be read", image.getframe, index)
        yield Frame(_image_data(path, index, frame), str(path), index, stat.st_mtime)


#: Start of a CBF binary section; fabio 2026.6 loops forever looking for it in a file cut before it.
CBF_BINARY_START = b"\x0c\x1a\x04\xd5"


def _check_cbf_binary_section(path: Path) -> None:
    """Reject a CBF (its first bytes are ``###CBF``) that holds no binary section, e.g. a header-only
    file caught half-written, before fabio reads it."""
    with path.open("rb") as f:
        if f.read(6) != b"###CBF":
            return
        tail = b""
        while chunk := f.read(1 << 16):
            if CBF_BINARY_START in tail + chunk:
                return
            tail = chunk[-3:]
    raise FrameError(f"{path}: truncated CBF (no binary data section)")


_STDOUT_LOCK = threading.Lock()


def _open(path: Path) -> Any:
    import fabio

    if path.suffix in (".gz", ".bz2"):
        # fabio 2026.6 prints a debug line to stdout when it opens a compressed file: keep stdout for the
        # CSV. The redirection is process-wide, so readers in other threads take turns here.
        with _STDOUT_LOCK, contextlib.redirect_stdout(sys.stderr):
            return fabio.open(str(path))
    return fabio.open(str(path))


def _guarded(path: Path, what: str, call: Any, *args: Any) -> Any:
    """``call(*args)``, turning whatever fabio raises or logs as an error for a bad file into a
    one-line FrameError."""
    with _fabio_errors() as logged:
        try:
            result = call(*args)
        except Exception as exc:  # fabio's errors for broken files are of many unrelated types
            lines = str(exc).strip().splitlines()
            detail = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
            raise FrameError(f"{path}: {what} ({detail})") from None
    if logged:
        raise FrameError(f"{path}: {what} (fabio: {logged[0].getMessage().strip().splitlines()[0]})")
    return result


@contextlib.contextmanager
def _fabio_errors() -> Iterator[list[logging.LogRecord]]:
    """Collect the errors fabio logs in this thread while the block runs."""
    records: list[logging.LogRecord] = []
    thread = threading.get_ident()
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(lambda record: record.thread == thread)
    logger = logging.getLogger("fabio")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def _image_data(path: Path, index: int, image: Any) -> np.ndarray:
    """The 2-D pixel array of one fabio frame, checked."""
    where = f"{path}" if index == 0 else f"{path} frame {index}"
    data = image.data
    if data is None:
        raise FrameError(f"{where}: no image data (truncated or not an image)")
    if image.incomplete_file:
        raise FrameError(f"{where}: truncated file (data stream incomplete)")
    data = np.asarray(data)
    if data.ndim != 2:
        raise FrameError(f"{where}: expected a 2-D detector image, got {data.ndim}-D data of shape {data.shape}")
    if min(data.shape) < 2:
        raise FrameError(f"{where}: 1-D data of shape {data.shape}, not a detector image")
    return data


def read_file(path: str | Path, t: float) -> tuple[list[Frame], str | None]:
    """Every frame of ``path`` stamped with arrival time ``t`` (Unix s), and the one-line problem that
    ended reading early (None if none); frames read before a problem are kept."""
    frames: list[Frame] = []
    try:
        for frame in read_frames(path):
            frames.append(dataclasses.replace(frame, t=t))
    except FrameError as exc:
        return frames, str(exc)
    except OSError as exc:
        return frames, f"{path}: cannot read ({exc.strerror or exc})"
    return frames, None
