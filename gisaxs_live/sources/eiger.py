"""DECTRIS Eiger series on disk: a master file ``X_master.h5`` whose /entry/data links (HDF5 external links) the
images of its data files ``X_data_000001.h5``, … Both match ``*.h5``, so that each image could be read twice: once
from its data file, once through the master. Every command reads each image once, from its data file where the
data file is read anyway (``watch`` sees it, or it is among the inputs), else through the master. A master is known
by its links, not its name: a NeXus file of another name (``scan_0001.nxs``) that links Eiger data files is one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..sinks.text import plural
from .hdf5_links import survey

#: names of HDF5 files (a master is looked for among them; a NeXus 2-D image too, ``files._nexus_image``)
HDF5_SUFFIXES = (".h5", ".hdf5", ".nxs", ".hdf")


def linked_files(master: str | Path) -> list[Path]:
    """The data files whose images the Eiger master file ``master`` links from its /entry/data (external links, soft
    links to them, a virtual dataset's sources), where HDF5 finds them (``hdf5_links.survey``), sorted; [] for a
    file not named as HDF5, no regular file, one that is not HDF5 or cannot be read, and one that is no master: it
    links nothing, holds images of its own, links itself or a file that is no regular file (read, it gets a row
    saying so)."""
    master = Path(master)
    if master.suffix.lower() not in HDF5_SUFFIXES or not master.is_file():
        return []  # a FIFO would block HDF5's open, and with it every thread (it holds the GIL)
    try:
        found = survey(master)
    except OSError:
        return []
    return list(found.data_files) if found.is_master else []


def read_through_data_files(master: str | Path, read: Callable[[Path], bool]) -> list[Path]:
    """The data files of the Eiger master ``master`` when every one is ``read`` on its own (then the master itself is
    not read), else []. A linked file that is there must be a regular file and no master itself (two masters
    linking each other would each leave its images to the other)."""
    linked = linked_files(master)
    return linked if linked and all(read(p) and _data_file(p) for p in linked) else []


def _data_file(path: Path, links_of: Callable[[Path], list[Path]] = linked_files) -> bool:
    """Whether ``path``, linked by a master, can be a data file: not there yet, or a regular file that is no master
    (``links_of``: its links, ``linked_files`` or those already looked up)."""
    return not path.exists() or (path.is_file() and not links_of(path))


def each_image_once(files: Sequence[Path]) -> tuple[list[Path], str]:
    """``files`` (canonical paths) with each Eiger image once: a master all of whose data files are among them is
    left out (its images are read from those); else the data files among them of a master that is there are left
    out (the master reads them and names those missing). Also a line saying what was left out ('' if nothing)."""
    present = set(files)
    found = {f: linked_files(f) for f in files if f.is_file()}  # each file's links looked at once

    def links_of(path: Path) -> list[Path]:
        return found[path] if path in found else linked_files(path)

    links = {f: linked for f, linked in found.items()  # one missing reads none; masters linking each other: read
             if linked and all(_data_file(p, links_of) for p in linked)}
    through_data = {m for m, linked in links.items() if all(p in present for p in linked)}
    read_by_master = {p for m, linked in links.items() if m not in through_data for p in linked} - set(links)
    kept = [f for f in files if f not in through_data and f not in read_by_master]
    notes = []
    if through_data:
        notes.append(f"{plural(len(through_data), 'Eiger master file')} left out: the images are read from the data "
                     f"files {'it links' if len(through_data) == 1 else 'they link'}")
    data_left_out = len(files) - len(kept) - len(through_data)
    if data_left_out:
        notes.append(f"{plural(data_left_out, 'Eiger data file')} left out: read through the master file that links "
                     "it, which names the data files it misses")
    return kept, "; ".join(notes)
