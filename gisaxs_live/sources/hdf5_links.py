"""What an HDF5 file links to, found without following a single link (``survey``).

HDF5 opens a linked file when a link is followed (an external link, a virtual dataset's source). Opening a FIFO
waits for a writer, and HDF5 holds its global lock and Python's GIL meanwhile: one file linking a FIFO anywhere froze
the whole process, and a virtual dataset over one left every later HDF5 read waiting. So before anything follows a
link, the file's links are walked as they are stored (``Group.visititems_links``: hard links are recursed into, soft and
external links only read), and every linked file is looked for where HDF5 would look for it (``candidates``).

The survey also says what the file's ``/entry/data`` group holds: the data files its images come from (external links,
soft links to external links elsewhere in the file, as NeXus writers make, and the source files of a virtual
dataset: an Eiger master file's three layouts), whether it holds images of its own, and how many frames of its
``/entry/data/data`` stack have been written (a writer may create the stack at its full size and fill it later:
HDF5 allocates a chunk when it is written, and an unwritten frame reads as the fill value, no detector image).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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
    """The links of the HDF5 file ``path``; raises OSError where HDF5 cannot open it."""
    import h5py

    path = Path(path)
    with h5py.File(path, "r") as f:
        links: dict[str, Any] = {}
        f.visititems_links(links.__setitem__)
        targets = {name: link.filename for name, link in links.items() if isinstance(link, h5py.ExternalLink)}
        linked = [(file, _EXT) for file in targets.values()]  # every file linked, with its prefix variable
        in_data = [(file, _EXT) for name in links if _parent(name) == DATA_GROUP
                   and (file := _linked_name(links, targets, name)) is not None]
        own_images, virtual, written, empty = False, False, None, False
        for name, link in links.items():
            node = f.get(name) if isinstance(link, h5py.HardLink) else None  # all hard links on the way: no follow
            if not isinstance(node, h5py.Dataset):
                continue
            if node.is_virtual:
                sources = [(s.file_name, _VDS) for s in node.virtual_sources() if s.file_name != "."]
                linked += sources
                virtual = virtual or _parent(name) == DATA_GROUP
                in_data += sources if _parent(name) == DATA_GROUP else []
            elif _parent(name) == DATA_GROUP and node.ndim >= 2 and node.size > 0:
                own_images = True
                written = _frames_written(node) if name == IMAGE_STACK else written
            elif name == IMAGE_STACK and node.ndim == 3 and node.shape[0] == 0:
                empty = True
    directory = path.parent
    unsafe = sorted({file for file, variable in linked
                     if (where := find(file, directory, variable)) is not None and not where.is_file()})
    data_files, missing, itself = [], [], False
    for file, variable in sorted(set(in_data)):
        where = find(file, directory, variable)
        if where is None:
            missing.append(file)
            where = directory / Path(file).name
        itself = itself or _same_file(where, path)
        data_files.append(where)
    return LinkSurvey(tuple(dict.fromkeys(data_files)), tuple(missing), tuple(unsafe), own_images, itself, virtual,
                      written, empty)


#: environment variables of the prefixes HDF5 looks in first, for external links and for virtual datasets' sources
_EXT, _VDS = "HDF5_EXT_PREFIX", "HDF5_VDS_PREFIX"


def candidates(name: str, directory: Path, prefix_variable: str = _EXT) -> list[Path]:
    """Where HDF5 looks for a linked file ``name`` of a file in ``directory``, in its order (H5Lcreate_external,
    H5Pset_virtual_prefix): an absolute name as it is, then the name (for an absolute one, its last part) under
    the prefixes of ``prefix_variable`` (colon-separated), under ``directory``, and under the current directory."""
    given = Path(name)
    relative = Path(given.name) if given.is_absolute() else given
    prefixes = [Path(p) for p in os.environ.get(prefix_variable, "").split(":") if p]
    return ([given] if given.is_absolute() else []) + [p / relative for p in prefixes] + [directory / relative,
                                                                                           Path.cwd() / relative]


def find(name: str, directory: Path, prefix_variable: str = _EXT) -> Path | None:
    """The file HDF5 opens for the linked name ``name`` (the first of ``candidates`` that is there), or None."""
    return next((p for p in candidates(name, directory, prefix_variable) if p.exists()), None)


def _parent(name: str) -> str:
    return name.rpartition("/")[0]


def _linked_name(links: dict[str, Any], targets: dict[str, str], name: str) -> str | None:
    """The file that the link ``name`` points into: an external link's, or that of the external link a soft link
    names (followed through at most 8 soft links, within the file's own links)."""
    import h5py

    for _ in range(8):
        if name in targets:
            return targets[name]
        link = links.get(name)
        if not isinstance(link, h5py.SoftLink):
            return None
        name = link.path.strip("/")
    return None


def _frames_written(stack: Any) -> int | None:
    """The frames of a chunked 3-D image stack whose chunks are all written, counted from the first up to the
    first one that is not; None where all are, or the stack is no chunked 3-D dataset (then nothing is known)."""
    if stack.ndim != 3 or stack.chunks is None or stack.shape[0] == 0:
        return None
    depth, rows, columns = stack.chunks
    per_block = -(-stack.shape[1] // rows) * -(-stack.shape[2] // columns)
    counts: dict[int, int] = {}
    stack.id.chunk_iter(lambda info: counts.__setitem__(info.chunk_offset[0],
                                                        counts.get(info.chunk_offset[0], 0) + 1))
    written = 0
    while written < stack.shape[0] and counts.get(written, 0) == per_block:
        written += depth
    return None if written >= stack.shape[0] else written


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False
