"""What an HDF5 file links to, found without following a single link (``survey``).

HDF5 opens a linked file when a link is followed (an external link, a virtual dataset's source). Opening a FIFO
waits for a writer, and HDF5 holds its global lock and Python's GIL meanwhile: one file linking a FIFO anywhere froze
the whole process, and a virtual dataset over one left every later HDF5 read waiting. So before anything follows a
link, the file's links are walked as they are stored (H5Lvisit through h5py's low-level API: hard links are recursed
into, soft and external links only read), every linked file is looked for where HDF5 would look for it
(``candidates``), and the files it links in turn are walked the same way (HDF5 follows chains of links).

The survey also says what the file's ``/entry/data`` group holds: the data files its images come from (external links,
soft links to external links elsewhere in the file, as NeXus writers make, and the source files of a virtual
dataset: an Eiger master file's three layouts), whether it holds images of its own, and how many frames of its
``/entry/data/data`` stack have been written (a writer may create the stack at its full size and fill it later:
HDF5 allocates a chunk when it is written, and an unwritten frame reads as the fill value, no detector image).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the group of an Eiger master file (and of most NeXus writers) that holds or links the images
DATA_GROUP = "entry/data"
#: the image stack of an Eiger data file and of most NeXus writers
IMAGE_STACK = "entry/data/data"


@dataclass(frozen=True)
class LinkSurvey:
    """An HDF5 file's links. ``data_files``: the files that ``/entry/data`` takes images from, where HDF5 finds them
    (or, for one not found, where it looks first), sorted; ``missing``: the names of those found nowhere;
    ``unsafe``: linked files (anywhere in the file) that are there but no regular file (a FIFO, a device, a
    directory); ``own_images``: ``/entry/data`` holds an image dataset of its own; ``links_itself``: a data file is
    the file itself; ``virtual``: its images are a virtual dataset's (a frame whose source file is not there reads as
    the fill value); ``written``: the frames of ``/entry/data/data`` written so far where the stack is chunked and
    not all are (else None); ``empty_stack``: that stack is there and holds no frame yet."""

    data_files: tuple[Path, ...] = ()
    missing: tuple[str, ...] = ()
    unsafe: tuple[str, ...] = ()
    own_images: bool = False
    links_itself: bool = False
    virtual: bool = False
    written: int | None = None
    empty_stack: bool = False

    @property
    def is_master(self) -> bool:
        """Whether the file is an Eiger master file: its images are all in the data files it links."""
        return bool(self.data_files) and not self.own_images and not self.links_itself and not self.unsafe


def survey(path: str | Path) -> LinkSurvey:
    """The links of the HDF5 file ``path``, those of the files it links checked in turn (HDF5 follows a chain of
    them); raises OSError where HDF5 cannot open or walk it (damaged: h5py raises many kinds of error then)."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            walk = _walk(f)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - RuntimeError, SystemError, UnicodeDecodeError of a damaged file
        raise OSError(f"damaged HDF5: {exc}") from None
    directory = path.parent
    unsafe = sorted({file for file, variable in set(walk.linked)
                     if not _safe(find(file, directory, variable), {path.resolve()}, MAX_CHAIN)})
    data_files, missing, itself = [], [], False
    for file, variable in sorted(set(walk.in_data)):
        where = find(file, directory, variable)
        if where is None:
            missing.append(file)
            where = directory / Path(file).name
        itself = itself or _same_file(where, path)
        data_files.append(where)
    return LinkSurvey(tuple(dict.fromkeys(data_files)), tuple(missing), tuple(unsafe), walk.own_images, itself,
                      walk.virtual, walk.written, walk.empty_stack)


#: links followed from file to file when looking for one that is no regular file (HDF5 follows chains of them)
MAX_CHAIN = 8


@dataclass
class _Walk:
    """What one walk over a file's links found: every file linked (name, prefix variable), those of /entry/data's
    images, and the state of its own image stack."""

    linked: list[tuple[str, str]] = field(default_factory=list)
    in_data: list[tuple[str, str]] = field(default_factory=list)
    own_images: bool = False
    virtual: bool = False
    written: int | None = None
    empty_stack: bool = False


def _walk(f: Any) -> _Walk:
    """The links of the open HDF5 file ``f``, with the low-level API: names as bytes (a name that is not UTF-8 broke
    h5py's high-level walk), a soft or external link's value read, a hard link's object opened (nothing followed)."""
    from h5py import h5d, h5i, h5l, h5o

    kinds: dict[bytes, int] = {}
    f.id.links.visit(lambda name, info: kinds.__setitem__(name, info.type), info=True)
    externals = {name: os.fsdecode(f.id.links.get_val(name)[0]) for name, kind in kinds.items()
                 if kind == h5l.TYPE_EXTERNAL}
    walk = _Walk(linked=[(file, _EXT) for file in externals.values()])
    data = DATA_GROUP.encode()
    for name, kind in kinds.items():
        in_data = name.rpartition(b"/")[0] == data
        if kind != h5l.TYPE_HARD:  # soft, external (or a user-defined kind: not opened)
            file = _linked_name(f, kinds, externals, name)
            walk.in_data += [(file, _EXT)] if in_data and file is not None else []
            continue
        node = h5o.open(f.id, name)  # every group on the way is a hard link's: nothing is followed
        if h5i.get_type(node) != h5i.DATASET:
            continue
        plist = node.get_create_plist()
        if plist.get_layout() == h5d.VIRTUAL:
            sources = [(os.fsdecode(plist.get_virtual_filename(i)), _VDS) for i in range(plist.get_virtual_count())]
            sources = [(file, variable) for file, variable in sources if file != "."]
            walk.linked += sources
            walk.virtual = walk.virtual or in_data
            walk.in_data += sources if in_data else []
        elif in_data and len(node.shape) >= 2:
            stack = name == IMAGE_STACK.encode()
            if math.prod(node.shape) > 0:
                walk.own_images = True
                walk.written = _frames_written(node, plist) if stack else walk.written
            elif stack and len(node.shape) == 3 and node.shape[0] == 0:
                walk.empty_stack = True
    return walk


def _safe(found: Path | None, seen: set[Path], depth: int) -> bool:
    """Whether the linked file ``found`` (None: not there) and every file it links in turn, to ``depth`` links on,
    is a regular file or not there (HDF5 would wait on a FIFO for good); a file that cannot be walked is not looked
    into (HDF5 cannot open it either)."""
    import h5py

    if found is None:
        return True
    if not found.is_file():
        return False
    real = found.resolve()
    if real in seen or depth == 0:
        return True
    seen.add(real)
    try:
        with h5py.File(found, "r") as f:
            linked = _walk(f).linked
    except Exception:  # noqa: BLE001 - not HDF5, or damaged: nothing is followed from it
        return True
    return all(_safe(find(file, found.parent, variable), seen, depth - 1) for file, variable in linked)


#: environment variables of the prefixes HDF5 looks in first, for external links and for virtual datasets' sources
_EXT, _VDS = "HDF5_EXT_PREFIX", "HDF5_VDS_PREFIX"


def candidates(name: str, directory: Path, prefix_variable: str = _EXT) -> list[Path]:
    """Where HDF5 looks for a linked file ``name`` of a file in ``directory``, in its order (H5Lcreate_external,
    H5Pset_virtual_prefix): an absolute name as it is, then the name (for an absolute one, its last part) under
    the prefixes of ``prefix_variable`` (colon-separated; for virtual datasets, ``${ORIGIN}`` is the linking file's
    directory), under ``directory``, and under the current directory."""
    given = Path(name)
    relative = Path(given.name) if given.is_absolute() else given
    text = os.environ.get(prefix_variable, "")
    if prefix_variable == _VDS:
        text = text.replace("${ORIGIN}", str(directory))
    prefixes = [Path(p) for p in text.split(":") if p]
    return ([given] if given.is_absolute() else []) + [p / relative for p in prefixes] + [directory / relative,
                                                                                           Path.cwd() / relative]


def find(name: str, directory: Path, prefix_variable: str = _EXT) -> Path | None:
    """The file HDF5 opens for the linked name ``name`` (the first of ``candidates`` that is there), or None."""
    return next((p for p in candidates(name, directory, prefix_variable) if p.exists()), None)


def _linked_name(f: Any, kinds: dict[bytes, int], externals: dict[bytes, str], name: bytes) -> str | None:
    """The file that the link ``name`` points into: an external link's, or that of the external link a soft link
    names (followed through at most 8 soft links, within the file's own links)."""
    from h5py import h5l

    for _ in range(8):
        if name in externals:
            return externals[name]
        if kinds.get(name) != h5l.TYPE_SOFT:
            return None
        name = f.id.links.get_val(name).strip(b"/")
    return None


def _frames_written(stack: Any, plist: Any) -> int | None:
    """The frames of a chunked 3-D image stack (a dataset id and its creation property list) whose chunks are all
    written, counted from the first up to the first that is not; None where all are, or the stack is no chunked 3-D
    dataset (then nothing is known). A chunk of several frames is there once any of them is written: the last one
    there is taken as not yet whole. A contiguous stack with no storage yet has none written (HDF5 gives fill values
    for all: a stack declared with a million frames and nothing written read as a million frames of zeros)."""
    from h5py import h5d

    shape = stack.shape
    if len(shape) != 3 or shape[0] == 0:
        return None
    if plist.get_layout() == h5d.CONTIGUOUS:
        return 0 if stack.get_storage_size() == 0 else None
    if plist.get_layout() != h5d.CHUNKED:
        return None
    depth, rows, columns = plist.get_chunk()
    per_block = -(-shape[1] // rows) * -(-shape[2] // columns)
    counts: dict[int, int] = {}
    stack.chunk_iter(lambda info: counts.__setitem__(info.chunk_offset[0], counts.get(info.chunk_offset[0], 0) + 1))
    written = 0
    while written < shape[0] and counts.get(written, 0) == per_block:
        written += depth
    if written >= shape[0]:
        return None
    return written if depth == 1 else max(written - depth, 0)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False
