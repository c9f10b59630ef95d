"""DECTRIS Eiger series on disk: a master file ``X_master.h5`` whose /entry/data links (HDF5 external links) the
images of its data files ``X_data_000001.h5``, … Both match ``*.h5``, so that each image could be read twice: once
from its data file, once through the master. Every command reads each image once, from its data file where the
data file is read anyway (``watch`` sees it, or it is among the inputs), else through the master. A master is known
by its links, not its name: a NeXus file of another name (``scan_0001.nxs``) that links Eiger data files is one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..sinks.text import plural

#: names of HDF5 files (a master is looked for among them; a NeXus 2-D image too, ``files._nexus_image``)
HDF5_SUFFIXES = (".h5", ".hdf5", ".nxs", ".hdf")


def linked_files(master: str | Path) -> list[Path]:
    """The files whose images the master file ``master`` links from its /entry/data (external links; relative
    names from its directory, as HDF5 resolves them), in name order; [] for a file not named as HDF5, no regular
    file, one that is not HDF5, cannot be read, links none, or links itself (a damaged master: read, it gets a row
    saying so)."""
    import h5py

    master = Path(master)
    if master.suffix.lower() not in HDF5_SUFFIXES or not master.is_file():
        return []  # a FIFO would block HDF5's open, and with it every thread (it holds the GIL)
    try:
        with h5py.File(master, "r") as f:
            linked = [master.parent / name for name in external_names(f)]
    except OSError:
        return []
    return [] if any(_same_file(p, master) for p in linked) else linked


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def external_names(f) -> list[str]:
    """The names of the files that external links under the open HDF5 file ``f``'s /entry/data point to, sorted."""
    import h5py

    group = f.get("entry/data")
    if not isinstance(group, h5py.Group):
        return []
    links = [group.get(name, getlink=True) for name in group]
    return sorted({link.filename for link in links if isinstance(link, h5py.ExternalLink)})


def read_through_data_files(master: str | Path, read: Callable[[Path], bool]) -> list[Path]:
    """The data files of the Eiger master ``master`` when every one is ``read`` on its own (then the master itself is
    not read), else []."""
    linked = linked_files(master)
    return linked if linked and all(read(p) for p in linked) else []


def each_image_once(files: Sequence[Path]) -> tuple[list[Path], str]:
    """``files`` (canonical paths) with each Eiger image once: a master all of whose data files are among them is
    left out (its images are read from those); else the data files among them of a master that is there are left
    out (the master reads them and names those missing). Also a line saying what was left out ('' if nothing)."""
    present = set(files)
    links = {f: linked for f in files if f.is_file() and (linked := linked_files(f))}  # one missing reads none
    through_data = {m for m, linked in links.items() if all(p in present for p in linked)}
    read_by_master = {p for m, linked in links.items() if m not in through_data for p in linked} - set(links)
    kept = [f for f in files if f not in through_data and f not in read_by_master]
    notes = []
    if through_data:
        notes.append(f"{plural(len(through_data), 'Eiger master file')} left out: the images are read from the data "
                     "files it links")
    data_left_out = len(files) - len(kept) - len(through_data)
    if data_left_out:
        notes.append(f"{plural(data_left_out, 'Eiger data file')} left out: read through the master file that links "
                     "it, which names the data files it misses")
    return kept, "; ".join(notes)
