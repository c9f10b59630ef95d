"""Detector image files → Frames, always through fabio: CBF, EDF, TIFF, Eiger / NeXus HDF5 and the
other formats fabio reads, gzip-compressed (``.gz``) ones included. Multi-frame files give every frame.

Some damage fabio only logs (a CBF whose MD5 checksum does not match, a TIFF that no reader decodes):
an error logged by fabio while it reads a frame makes that frame a FrameError too. Some it passes over: a compressed
(LZW, deflate) TIFF whose data Pillow cannot decode reads as zeros, so such a file is decoded here first. A FrameError's
cause is a sentence about the file ("truncated CBF: 12,288 of 6,224,682 bytes", "not a detector image:
no CBF/EDF/TIFF/HDF5 header"), never a Python exception. fabio's own log lines and prints (checksum
warnings, reader fall-backs) go to this module's log at debug level, each distinct line once.
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import gzip
import io
import logging
import os
import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..frame import Frame, FrameError
from ..sinks.text import listed, plural
from .cutoff import count_cutoff
from .dectris import flagged_pixels
from .eiger import HDF5_SUFFIXES
from .hdf5_links import LinkSurvey, survey
from .tiff_chain import chain_problem

log = logging.getLogger(__name__)


def read_frames(path: str | Path, opened: Callable[[int], None] | None = None) -> Iterator[Frame]:
    """Every frame of the image file ``path``, in order, each decoded as it is reached: ``frame_id`` = its index in
    the file, ``t`` = the file's modification time (Unix s); the ``mask`` of an Eiger HDF5 frame: its pixels at the
    unsigned type's maximum (DECTRIS's mark of defective and gap pixels). ``opened(n)``, once the file is open: it
    holds ``n`` frames, as far as they are written. Raises ``FrameError`` (one line naming the file and the cause)
    for a missing, empty, truncated, corrupt or non-image file, or data that is not 2-D."""
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise FrameError(f"{path}: dangling symbolic link (its target {os.readlink(path)} does not exist)") from None
        raise FrameError(f"{path}: no such file") from None
    except OSError as exc:
        raise FrameError(f"{path}: cannot be read ({exc.strerror})") from None
    if path.is_dir():
        raise FrameError(f"{path}: {_directory_cause(path)}")
    if not path.is_file():
        raise FrameError(f"{path}: not a regular file")
    if stat.st_size == 0:
        raise FrameError(f"{path}: empty file")
    content = _guarded(path, None, _decompressed, path)
    kind = _checked_format(path, content)
    if kind == "TIFF":
        _check_tiff_chain(path, content)
        _check_compressed_tiff(path, content)
    links = _checked_links(path) if kind == "HDF5" and content is None else LinkSurvey()
    image = _guarded(path, None, _open, path, content)
    eiger = _is_eiger(image)
    n = max(int(image.nframes), 1)
    available = n if links.written is None else min(n, links.written)
    if opened is not None:
        opened(available)
    for index in range(available):
        frame = image if index == 0 else _guarded(path, index, image.getframe, index)
        data = _image_data(path, index, frame, _incomplete(image, index, frame))
        _let_go(image, index)
        yield Frame(data, str(path), index, stat.st_mtime, mask=flagged_pixels(data) if eiger else None,
                    count_cutoff=count_cutoff(frame.header))
    if _cut_in_a_header(image, n):
        raise FrameError(f"{path}: truncated EDF: it ends inside the header of a frame after its {plural(n, 'frame')}")
    if links.written is not None and links.written < n:
        which = f"frame {n - 1}" if links.written == n - 1 else f"frames {links.written}–{n - 1}"
        raise FrameError(f"{path}: {which} of its {n} not written yet (their data are not in the file): classified "
                         "once its writer has written them and closed it")
    if eiger and links.data_files:
        _check_data_files(path, n, links)


def _let_go(image: Any, index: int) -> None:
    """fabio's reader of a multi-frame EDF file keeps every frame it has decoded (its frames share one list, fabio
    2026.6): a 1,000-frame file would be held whole. Frame ``index``'s pixels are let go once taken."""
    from fabio.edfimage import EdfImage

    if isinstance(image, EdfImage) and image.nframes > 1:
        image.get_frame(index).data = None


def _checked_links(path: Path) -> LinkSurvey:
    """The links of the HDF5 file ``path`` (``hdf5_links.survey``), once checked: a FrameError for a file that links
    one that is no regular file (HDF5 would wait on a FIFO for good, holding every thread), links itself, or takes its
    images from a virtual dataset whose source files are not all there (their frames would read as fill values). An
    empty survey where HDF5 cannot open the file: fabio's reading says why."""
    try:
        links = survey(path)
    except OSError:
        return LinkSurvey()
    if links.unsafe:
        raise FrameError(f"{path}: not read: it links {', '.join(links.unsafe)}, which "
                         f"{'is' if len(links.unsafe) == 1 else 'are'} not a regular file (a FIFO, a device or a "
                         "directory)")
    if links.links_itself:
        raise FrameError(f"{path}: damaged Eiger master file: it links itself as its own data file")
    if links.virtual and links.missing:
        raise FrameError(f"{path}: its images are a virtual dataset over {listed(links.missing)}, which "
                         f"{'is' if len(links.missing) == 1 else 'are'} not there (yet)")
    return links


def _check_data_files(path: Path, n: int, links: LinkSurvey) -> None:
    """Raise a FrameError when an Eiger master file ``path``, of which ``n`` images were read, links data files that
    are not there or cannot be read: fabio reads the images up to the first such one and passes over the rest."""
    import h5py

    if links.missing:
        raise FrameError(f"{path}: {plural(n, 'image')} read; its data files {listed(links.missing)} (external links) "
                         "are not there (yet), so their images and those after them are missing")
    for data_file in links.data_files:
        try:
            h5py.File(data_file, "r").close()
        except OSError:
            raise FrameError(f"{path}: {plural(n, 'image')} read; its data file {data_file.name} cannot be read "
                             f"({_hdf5_failure(data_file)}), so its images and those after them are missing") from None


def _is_eiger(image: Any) -> bool:
    """Whether fabio read ``image`` as a DECTRIS Eiger HDF5 file: its defective and gap pixels hold the
    pixel type's maximum (``dectris.flagged_pixels``)."""
    from fabio.eigerimage import EigerImage

    return isinstance(image, EigerImage)


#: Start of a CBF binary section; fabio 2026.6 loops forever looking for it in a file cut before it.
CBF_BINARY_START = b"\x0c\x1a\x04\xd5"


def _checked_format(path: Path, content: bytes | None) -> str | None:
    """The format of ``path`` by its first bytes (``MAGIC``; None if none), once a CBF is checked to hold a binary
    section: a header-only file caught half-written is rejected before fabio reads it. ``content``: a compressed
    file's bytes once decompressed (``_decompressed``), else None (the file itself is read, a CBF up to its binary
    section)."""
    if content is not None:
        kind = _format(content)
        if kind == "CBF" and CBF_BINARY_START not in content:
            raise FrameError(f"{path}: truncated CBF: {len(content):,} bytes once decompressed, it ends before its "
                             "binary data")
        return kind
    with path.open("rb") as f:
        head = f.read(MAGIC_BYTES)
        kind = _format(head)
        if kind != "CBF":
            return kind
        tail, size = head[-3:], len(head)
        while chunk := f.read(1 << 16):
            if CBF_BINARY_START in tail + chunk:
                return kind
            tail, size = chunk[-3:], size + len(chunk)
    raise FrameError(f"{path}: truncated CBF: {size:,} bytes, it ends before its binary data")


#: Pillow's names of the TIFF compressions fabio reads itself (``TiffIO``); it hands the others to Pillow
FABIO_TIFF_COMPRESSIONS = ("raw", "packbits")
#: Pillow's names of the other TIFF compressions, in words (others: Pillow's name)
TIFF_COMPRESSION_NAMES = {"tiff_lzw": "LZW", "tiff_adobe_deflate": "deflate", "tiff_deflate": "deflate",
                          "tiff_jpeg": "JPEG", "jpeg": "JPEG", "tiff_ccitt": "CCITT"}


def _check_tiff_chain(path: Path, content: bytes | None) -> None:
    """Reject a TIFF whose image directories loop before fabio reads it (``tiff_chain``: fabio would spin for good).
    ``content``: a compressed file's bytes, as for ``_checked_format``."""
    with (path.open("rb") if content is None else io.BytesIO(content)) as f:
        problem = chain_problem(f)
    if problem is not None:
        raise FrameError(f"{path}: {problem}")


def _check_compressed_tiff(path: Path, content: bytes | None) -> None:
    """Reject a compressed TIFF (LZW, deflate, …) whose image data Pillow cannot decode, before fabio reads it:
    fabio reads those through Pillow and, when Pillow's decoder fails, returns an image of zeros (fabio 2026.6), which
    would be classified as a frame without signal. ``content``: a compressed file's bytes, as for
    ``_checked_format``."""
    from PIL import Image

    try:
        image = Image.open(path if content is None else io.BytesIO(content))
    except Image.DecompressionBombError:
        raise FrameError(f"{path}: damaged TIFF: its header declares an image too large to hold in memory") from None
    except (OSError, ValueError, SyntaxError):
        return  # a header Pillow cannot read: fabio's reading says what is wrong
    with image:
        compression = image.info.get("compression", "raw")
        if compression in FABIO_TIFF_COMPRESSIONS:
            return
        try:
            image.load()
        except (OSError, ValueError, SyntaxError) as exc:
            log.debug("%s: Pillow could not decode it: %r", path, exc)
            raise FrameError(f"{path}: damaged TIFF: its {TIFF_COMPRESSION_NAMES.get(compression, compression)}-"
                             "compressed image data cannot be decoded") from None


#: bytes a compressed file may decompress to (an EIGER2 16M frame is 72 MB): beyond, it is refused, not held whole
MAX_DECOMPRESSED_BYTES = 512 << 20


def _decompressed(path: Path) -> bytes | None:
    """The bytes of a ``.gz``/``.bz2`` file once decompressed (read once, for the checks and for fabio); None for
    other files. A FrameError for one that decompresses to more than ``MAX_DECOMPRESSED_BYTES``."""
    opener, name = _compression(path)
    if opener is open:
        return None
    with opener(path, "rb") as f:
        content = f.read(MAX_DECOMPRESSED_BYTES + 1)
    if len(content) > MAX_DECOMPRESSED_BYTES:
        raise FrameError(f"{path}: not read: it decompresses to more than {MAX_DECOMPRESSED_BYTES >> 20} MiB, too "
                         f"much to hold in memory (decompress it with {'gunzip' if name == 'gzip' else 'bunzip2'} "
                         "and classify the file itself)")
    return content


def _compression(path: Path) -> tuple[Any, str]:
    """(opener, name) of the file's compression by its suffix in any letter case: gzip, bzip2 or none
    (``open``, '')."""
    return {".gz": (gzip.open, "gzip"), ".bz2": (bz2.open, "bzip2")}.get(path.suffix.lower(), (open, ""))


def _open(path: Path, content: bytes | None) -> Any:
    """fabio's image of ``path``, or of ``content`` (a compressed file's bytes, ``_decompressed``)."""
    import fabio

    _route_fabio_log()
    if content is not None:
        # decompressed by us, not by fabio: its suffix test is case-sensitive (X.CBF.GZ was read as a plain CBF),
        # and it prints a debug line to stdout when it opens a compressed file (stdout is the CSV's)
        from fabio.fabioutils import BytesIO  # fabio's own: its EDF reader locks the stream (io.BytesIO has no lock)

        return fabio.open(BytesIO(content))
    if path.suffix.lower() in HDF5_SUFFIXES:
        image = _nexus_image(path)
        if image is not None:
            return fabio.open(f"{path}::{image}")  # fabio's HDF5 reader, for the one dataset
    return fabio.open(str(path))


def _nexus_image(path: Path) -> str | None:
    """The path inside the HDF5 file ``path`` of its NeXus image when that is a single 2-D frame: the signal of an
    NXdata group of an NXentry (``/entry/data/data`` for most writers). fabio reads a stack of frames (an Eiger
    file, a NeXus 3-D signal) from the file itself, but refuses a 2-D one there; None otherwise. Its links were
    checked before (``_checked_links``): every file they lead to is a regular file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            for entry in _nx_groups(f, "NXentry"):
                for group in _nx_groups(entry, "NXdata"):
                    data = group.get(_attribute(group, "signal", "data"))
                    if isinstance(data, h5py.Dataset) and data.ndim == 2:
                        return data.name
    except (OSError, KeyError, ValueError):
        return None  # not HDF5, damaged, or a link not there: fabio's reading says which
    return None


def _nx_groups(parent: Any, nx_class: str) -> list[Any]:
    """The HDF5 groups in ``parent`` of the NeXus class ``nx_class``."""
    import h5py

    return [g for g in parent.values() if isinstance(g, h5py.Group) and _attribute(g, "NX_class", "") == nx_class]


def _attribute(node: Any, name: str, default: str) -> str:
    """The HDF5 attribute ``name`` of ``node`` as text (writers store it as bytes or as a string)."""
    value = node.attrs.get(name, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def _guarded(path: Path, index: int | None, call: Any, *args: Any) -> Any:
    """``call(*args)`` (opening the file, or reading frame ``index``), turning whatever fabio raises or
    logs as an error for a bad file into a one-line FrameError about the file."""
    with _fabio_errors() as logged:
        try:
            result = call(*args)
        except FrameError:
            raise  # our own line about the file
        except Exception as exc:  # fabio's errors for broken files are of many unrelated types
            log.debug("%s: fabio raised %r", path, exc)
            raised = "cannot allocate the image" if isinstance(exc, MemoryError) else str(exc)
            raise FrameError(f"{path}{'' if index is None else f' frame {index}'}: "
                             f"{describe_failure(path, [r.getMessage() for r in logged], raised)}") from None
    if logged:
        raise FrameError(f"{path}{'' if index is None else f' frame {index}'}: "
                         f"{describe_failure(path, [r.getMessage() for r in logged], '')}")
    return result


#: first bytes (after decompression) → the format's name
MAGIC = ((b"###CBF", "CBF"), (b"{", "EDF"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
         (b"\x89HDF\r\n\x1a\n", "HDF5"))
#: bytes that ``MAGIC`` reads at most
MAGIC_BYTES = max(len(magic) for magic, _ in MAGIC)


def _format(head: bytes) -> str | None:
    """The format's name by a file's first bytes (``MAGIC``), or None."""
    return next((name for magic, name in MAGIC if head.startswith(magic)), None)


def describe_failure(path: Path, logged: list[str], raised: str) -> str:
    """Why fabio could not read ``path``, as a sentence about the file (``logged``: fabio's error lines,
    ``raised``: the text of what it raised)."""
    head, problem = _head(path)
    if problem is not None:
        return problem
    kind = _format(head)
    said = " ".join(logged + [raised])
    if kind is None:
        return "not a detector image: no CBF/EDF/TIFF/HDF5 header"
    if kind == "CBF":
        return _cbf_failure(path, head, said)
    if kind == "HDF5":
        if re.search(r"filter|inflate|decompress|checksum", said, re.IGNORECASE):
            return "damaged HDF5: its compressed image data cannot be decoded"
        return _hdf5_failure(path)
    incomplete = re.search(r"incomplete: (\d+) < expected (\d+)", said)
    if incomplete:
        return f"truncated {kind}: image data {int(incomplete[1]):,} of {int(incomplete[2]):,} bytes"
    if "truncated" in said or "incomplete" in said:
        return f"truncated {kind}: the image data ends early"
    if "allocate" in said:
        return f"damaged {kind}: its header declares an image too large to hold in memory"
    return f"damaged {kind}: its image data cannot be decoded"


def _hdf5_failure(path: Path) -> str:
    """The cause for an HDF5 file fabio rejects: truncated (fewer bytes than its superblock says), locked by its
    writer, damaged (HDF5 cannot open it), or no image data in it."""
    try:
        links = survey(path)
    except OSError as exc:
        said = str(exc)
        truncated = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", said)
        if truncated:
            return f"truncated HDF5: {int(truncated[1]):,} of {int(truncated[2]):,} bytes"
        if "unable to lock file" in said:
            return "locked by a process that has it open for writing (HDF5 file locking): still being written"
        if "already open for write" in said:
            return ("marked as open for writing by a writer that has not closed it (still being written, or its "
                    "writer died: h5clear -s clears the mark)")
        return "damaged HDF5: the HDF5 library cannot open it"
    if links.missing:
        return (f"its image data is in {listed(links.missing)} (external links, an Eiger master file's data files), "
                "which is not there (yet)")
    if links.empty_stack:
        return "its image stack /entry/data/data holds no frame yet (0 images)"
    return "HDF5 file without a detector image (no Eiger or NeXus image data found)"


def _head(path: Path, size: int = 1 << 16) -> tuple[bytes, str | None]:
    """The first ``size`` bytes of ``path``, decompressed for ``.gz``/``.bz2``, or the problem found (read to the
    end for a compressed file: a stream cut after its first ``size`` bytes is truncated all the same)."""
    opener, name = _compression(path)
    try:
        with opener(path, "rb") as fh:
            head = fh.read(size)
            while opener is not open and fh.read(1 << 20):
                pass
            return head, None
    except EOFError:
        return b"", f"truncated {name} file: the compressed data ends early"
    except (OSError, zlib.error, ValueError):
        if opener is open:
            raise
        return b"", f"damaged {name} file: not valid {name} data"


def _directory_cause(path: Path) -> str:
    """Why the directory ``path`` is no frame: one below a directory given that could not be listed, its frames
    unknown (``scale.inputs.entries_below``), or one named as a frame."""
    try:
        os.scandir(path).close()
    except OSError as exc:
        return f"a directory that cannot be listed ({exc.strerror}): the frames in it are not classified"
    return "a directory, not a frame file"


#: pixels of the largest CBF believed (a PILATUS4 / EIGER2 16M has 1.8e7); a header declaring more is damaged
MAX_CBF_PIXELS = 1 << 28


def _cbf_failure(path: Path, head: bytes, said: str) -> str:
    """The cause for a CBF fabio rejects: truncated (fewer bytes than its header says), a checksum
    mismatch, or damage."""
    start = head.find(CBF_BINARY_START)
    declared = re.search(rb"X-Binary-Size:\s*(\d+)", head)
    if start >= 0 and declared and _compression(path)[0] is open:
        have, need = path.stat().st_size, start + 4 + int(declared[1])
        if have < need:
            return f"truncated CBF: {have:,} of {need:,} bytes"
    if "Checksum" in said or "MD5" in said:
        return "damaged CBF: its binary data does not match its MD5 checksum"
    dims = [re.search(rb"X-Binary-Size-%s-Dimension:\s*(\d+)" % axis, head) for axis in (b"Second", b"Fastest")]
    if all(dims) and int(dims[0][1]) * int(dims[1][1]) > MAX_CBF_PIXELS:
        return (f"damaged CBF: its header declares {int(dims[0][1]):,} × {int(dims[1][1]):,} pixels, more than any "
                "detector has")
    value = re.search(r"invalid literal for \w+\(\) with base \d+: ('[^']*')", said)
    if value:
        return f"damaged CBF: a value of its header is not a number ({value[1]})"
    return "damaged CBF: its binary data cannot be decoded"


_SEEN: OrderedDict[str, None] = OrderedDict()  # library lines already logged (bounded)
_ROUTED = threading.Lock()


def _debug_once(message: str) -> None:
    """``message`` to this module's log at debug level, unless it was logged recently."""
    with _ROUTED:
        if message in _SEEN:
            return
        _SEEN[message] = None
        if len(_SEEN) > 256:
            _SEEN.popitem(last=False)
    log.debug("%s", message)


class _ToDebug(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        _debug_once(f"{record.name}: {record.getMessage()}")


def _route_fabio_log() -> None:
    """fabio's log lines go to this module's log at debug level, once each, not to the application's
    handlers (stderr)."""
    fabio_log = logging.getLogger("fabio")
    if not any(isinstance(h, _ToDebug) for h in fabio_log.handlers):
        fabio_log.addHandler(_ToDebug())
        fabio_log.propagate = False


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


def _incomplete(image: Any, index: int, frame: Any) -> bool:
    """Whether frame ``index`` (fabio's ``frame`` of ``image``) ends early. fabio marks an EDF file cut short as
    incomplete as a whole, on its first frame: each frame's own mark is read instead, so that the whole frames before
    the cut get their rows (a 4-frame EDF cut at 5/8 of its length gave one error row, none for frames 0 and 1;
    ``_cut_in_a_header`` tells a cut in a header). The later frames of a multi-page TIFF have no mark of their own:
    the file's counts for them."""
    from fabio.edfimage import EdfImage

    if isinstance(image, EdfImage):
        return bool(image.get_frame(index).incomplete_data)
    return bool(getattr(frame, "incomplete_file", image.incomplete_file))


def _cut_in_a_header(image: Any, n: int) -> bool:
    """Whether the EDF file of fabio's ``image``, its ``n`` frames whole, was cut inside a further frame's header:
    fabio then marks the file incomplete, and none of its frames."""
    from fabio.edfimage import EdfImage

    return (isinstance(image, EdfImage) and bool(image.incomplete_file)
            and not any(image.get_frame(i).incomplete_data for i in range(n)))


def _image_data(path: Path, index: int, image: Any, incomplete: bool) -> np.ndarray:
    """The 2-D pixel array of one fabio frame, checked."""
    where = f"{path}" if index == 0 else f"{path} frame {index}"
    data = _guarded(path, index or None, lambda: image.data)  # EDF and others decode only here
    if data is None:
        raise FrameError(f"{where}: no image data (truncated, or not an image)")
    if incomplete:
        raise FrameError(f"{where}: truncated file: its image data ends early")
    data = np.asarray(data)
    if data.ndim != 2:
        raise FrameError(f"{where}: expected a 2-D detector image, got {data.ndim}-D data of shape {data.shape}")
    if min(data.shape) < 2:
        raise FrameError(f"{where}: 1-D data of shape {data.shape}, not a detector image")
    return data


class FileFrames:
    """The frames of the image file ``path``, stamped with arrival time ``t`` (Unix s), decoded one at a time as they
    are iterated: a multi-frame file is never held whole (an Eiger 4M data file of 1,000 frames is 18 GB of pixels).
    Iterating never raises for the file: once it ends, ``problem`` is the one-line problem that ended reading early
    (None if none), and ``count`` the frames read. ``available``: how many frames the file holds as far as written,
    once it is open (None before, and for a file that could not be opened)."""

    def __init__(self, path: str | Path, t: float) -> None:
        self.path, self.t = path, t
        self.problem: str | None = None
        self.count = 0
        self.available: int | None = None

    def __iter__(self) -> Iterator[Frame]:
        path = self.path
        self.problem, self.count, self.available = None, 0, None  # each iteration reads the file anew
        try:
            for frame in read_frames(path, self._opened):
                self.count += 1
                yield dataclasses.replace(frame, t=self.t)
        except FrameError as exc:
            self.problem = str(exc)
        except OSError as exc:
            self.problem = f"{path}: cannot read ({exc.strerror or exc})"
        except Exception as exc:  # noqa: BLE001 - a reader's surprise must not end the daemon: the file gets a row
            log.debug("%s: reading raised %r", path, exc)
            self.problem = f"{path}: cannot be read as a detector image ({_cause_in_words(path, exc)})"

    def _opened(self, n: int) -> None:
        self.available = n


def read_file(path: str | Path, t: float) -> tuple[list[Frame], str | None]:
    """Every frame of ``path`` stamped with arrival time ``t`` (Unix s), all in memory, and the one-line problem that
    ended reading early (None if none); frames read before a problem are kept. For a file of many frames, iterate
    ``FileFrames`` instead."""
    reading = FileFrames(path, t)
    return list(reading), reading.problem


def first_frame(path: str | Path, t: float) -> tuple[Frame | None, str | None]:
    """The first frame of ``path`` stamped with arrival time ``t`` (Unix s), the rest not decoded, or None and the
    one-line problem that kept it from being read."""
    reading = FileFrames(path, t)
    frame = next(iter(reading), None)
    return frame, None if frame is not None else reading.problem or f"{path}: holds no image"


def _cause_in_words(path: Path, exc: Exception) -> str:
    """``describe_failure`` for what reading ``path`` raised; a plain phrase where even that fails."""
    try:
        return describe_failure(Path(path), [], str(exc))
    except Exception:  # noqa: BLE001
        return "the reader failed on it"
