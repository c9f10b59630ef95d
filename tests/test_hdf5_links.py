"""HDF5 files and what they link: nothing followed before it is checked (``sources.hdf5_links``), an Eiger master
known in its three layouts, and every frame on disk either read or named in an error. Real files written by h5py and
fabio; a FIFO where the old code waited, in a child process with a time limit so that a wait cannot hang the suite."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import fabio.eigerimage
import h5py
import numpy as np
import pytest

from gisaxs_live.sources.eiger import each_image_once, linked_files, read_through_data_files
from gisaxs_live.sources.files import read_file
from gisaxs_live.sources.hdf5_links import candidates, survey

DATA = np.random.default_rng(5).poisson(20.0, (24, 16)).astype(np.uint32)


def data_file(path: Path, images: int = 1, offset: int = 0) -> Path:
    fabio.eigerimage.EigerImage(data=np.stack([DATA + offset + i for i in range(images)])).write(str(path))
    return path


def read_in_child(path: Path) -> str:
    """``read_file``'s problem for ``path``, from a child process that must end within 60 s."""
    code = "import sys; from gisaxs_live.sources.files import read_file; print(read_file(sys.argv[1], 0.0)[1])"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    return done.stdout.strip()


def test_a_link_to_a_fifo_anywhere_in_the_file_is_an_error_not_a_wait(tmp_path):
    """A trial: a NeXus file with its own image and /entry/instrument linked from a FIFO froze the whole daemon (HDF5
    opened the FIFO while NeXus groups were looked for, holding the GIL); a virtual dataset over a FIFO made the
    read, and every HDF5 read after it, wait (watch gave each up after 120 s and could not stop)."""
    os.mkfifo(tmp_path / "fifo.h5")
    nexus = tmp_path / "scan.h5"
    with h5py.File(nexus, "w") as f:
        f["entry/data/data"] = DATA
        f["entry/instrument"] = h5py.ExternalLink("fifo.h5", "/entry/instrument")
    virtual = tmp_path / "v_master.h5"
    with h5py.File(virtual, "w") as f:
        layout = h5py.VirtualLayout((1, *DATA.shape), "u4")
        layout[:] = h5py.VirtualSource("fifo.h5", "/entry/data/data", (1, *DATA.shape))
        f.create_group("entry/data").create_virtual_dataset("data", layout)
    started = time.monotonic()
    for path in (nexus, virtual):
        assert read_in_child(path) == (f"{path}: not read: it links fifo.h5, which is not a regular file (a FIFO, a "
                                       "device or a directory)")
    assert time.monotonic() - started < 50
    assert linked_files(virtual) == []  # no master: read, it gets its row


def test_an_eiger_master_is_known_in_its_three_layouts_and_with_absolute_link_paths(tmp_path):
    """A trial: a master whose images are a virtual dataset over its data files, one whose /entry/data holds soft
    links to external links elsewhere (NeXus), and one whose links name the detector's absolute paths (HDF5 then
    looks in the master's directory) were not known as masters: each image got two rows, and the last a false
    'data files not there'."""
    for i in (1, 2):
        data_file(tmp_path / f"s_data_00000{i}.h5", offset=10 * i)
    expected = [tmp_path / "s_data_000001.h5", tmp_path / "s_data_000002.h5"]
    with h5py.File(tmp_path / "vds_master.h5", "w") as f:
        layout = h5py.VirtualLayout((2, *DATA.shape), "u4")
        for i in (1, 2):
            layout[i - 1] = h5py.VirtualSource(f"s_data_00000{i}.h5", "/entry/data/data", (1, *DATA.shape))
        f.create_group("entry/data").create_virtual_dataset("data", layout)
    with h5py.File(tmp_path / "soft_master.nxs", "w") as f:
        for i in (1, 2):
            f[f"entry/instrument/detector/data_00000{i}"] = h5py.ExternalLink(f"s_data_00000{i}.h5",
                                                                               "/entry/data/data")
            f[f"entry/data/data_00000{i}"] = h5py.SoftLink(f"/entry/instrument/detector/data_00000{i}")
    with h5py.File(tmp_path / "abs_master.h5", "w") as f:
        for i in (1, 2):
            f[f"entry/data/data_00000{i}"] = h5py.ExternalLink(f"/detector/dcu/run7/s_data_00000{i}.h5",
                                                                "/entry/data/data")
    for name in ("vds_master.h5", "soft_master.nxs", "abs_master.h5"):
        master = tmp_path / name
        assert linked_files(master) == expected, name
        assert read_through_data_files(master, lambda p: True) == expected
        frames, problem = read_file(master, 0.0)  # read through the master (the data files not watched): no error
        assert problem is None and [int(f.data[0, 0] - DATA[0, 0]) for f in frames] == [10, 20], name
    assert each_image_once(sorted(tmp_path.iterdir()))[0] == expected


def test_a_virtual_dataset_over_a_missing_file_is_an_error_not_fill_values(tmp_path):
    """A trial: a virtual master read before its source file came gave rows of the fill value (no_signal)."""
    master = tmp_path / "n_master.h5"
    with h5py.File(master, "w") as f:
        layout = h5py.VirtualLayout((1, *DATA.shape), "u4")
        layout[:] = h5py.VirtualSource("n_data_000001.h5", "/entry/data/data", (1, *DATA.shape))
        f.create_group("entry/data").create_virtual_dataset("data", layout)
    frames, problem = read_file(master, 0.0)
    assert frames == [] and problem == (f"{master}: its images are a virtual dataset over n_data_000001.h5, which is "
                                        "not there (yet)")


def test_a_nexus_file_with_images_of_its_own_beside_a_link_is_read_not_left_to_the_link(tmp_path):
    """A trial: a NeXus file with 3 images of its own and an external link to one data file was taken for a master:
    watch read only the data file, and the 3 images got no row."""
    data_file(tmp_path / "l_data_000001.h5")
    scan = tmp_path / "l_scan.h5"
    with h5py.File(scan, "w") as f:
        f["entry/data/data"] = np.stack([DATA + 100 + i for i in range(3)])
        f["entry/data/data_000001"] = h5py.ExternalLink("l_data_000001.h5", "/entry/data/data")
    assert survey(scan).own_images and linked_files(scan) == []
    frames, problem = read_file(scan, 0.0)
    assert problem is None and len(frames) >= 3


def test_masters_linking_each_other_or_a_directory_are_read_and_get_rows(tmp_path):
    """A trial: two masters linking each other each left its images to the other (no row for either), and one linking
    a directory got none either."""
    for a, b in (("g1_master.h5", "g2_master.h5"), ("g2_master.h5", "g1_master.h5")):
        with h5py.File(tmp_path / a, "w") as f:
            f["entry/data/data_000001"] = h5py.ExternalLink(b, "/entry/data/data")
    (tmp_path / "h_data_000001.h5").mkdir()
    with h5py.File(tmp_path / "h_master.h5", "w") as f:
        f["entry/data/data_000001"] = h5py.ExternalLink("h_data_000001.h5", "/entry/data/data")
    for name in ("g1_master.h5", "g2_master.h5"):
        assert read_through_data_files(tmp_path / name, lambda p: True) == []
        assert read_file(tmp_path / name, 0.0)[1] is not None  # an error row
    kept, note = each_image_once([tmp_path / "g1_master.h5", tmp_path / "g2_master.h5"])
    assert len(kept) == 2 and note == ""
    assert read_file(tmp_path / "h_master.h5", 0.0)[1] == (
        f"{tmp_path / 'h_master.h5'}: not read: it links h_data_000001.h5, which is not a regular file (a FIFO, a "
        "device or a directory)")


def test_a_damaged_data_file_of_a_master_read_is_named(tmp_path):
    """A trial: a master (its data files elsewhere) read through a truncated second data file gave the first image's
    row and nothing for the rest."""
    other = tmp_path / "other"
    other.mkdir()
    for i in (1, 2, 3):
        data_file(other / f"t_data_00000{i}.h5", offset=i)
    damaged = other / "t_data_000002.h5"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    master = tmp_path / "t_master.h5"
    with h5py.File(master, "w") as f:
        for i in (1, 2, 3):
            f[f"entry/data/data_00000{i}"] = h5py.ExternalLink(f"other/t_data_00000{i}.h5", "/entry/data/data")
    frames, problem = read_file(master, 0.0)
    assert len(frames) == 1
    assert problem.startswith(f"{master}: 1 image read; its data file t_data_000002.h5 cannot be read (truncated "
                              "HDF5: ") and problem.endswith("), so its images and those after them are missing")


def test_frames_of_a_stack_not_yet_written_are_not_read_as_fill_values(tmp_path):
    """A trial: a writer that makes the stack for the whole series, writes frame 0 and closes the file (then frames 1
    and 2 later) had frames 1 and 2 classified from the fill value, and their real data never."""
    path = tmp_path / "pa_data_000001.h5"
    with h5py.File(path, "w") as f:
        stack = f.create_dataset("entry/data/data", shape=(3, *DATA.shape), dtype="u4", chunks=(1, *DATA.shape))
        stack[0] = DATA
    frames, problem = read_file(path, 0.0)
    assert [f.frame_id for f in frames] == [0]
    assert problem == (f"{path}: frames 1–2 of its 3 not written yet (their data are not in the file): classified "
                       "once its writer has written them and closed it")
    with h5py.File(path, "a") as f:
        f["entry/data/data"][1:] = np.stack([DATA + 1, DATA + 2])
    frames, problem = read_file(path, 0.0)
    assert problem is None and [int(f.data[0, 0] - DATA[0, 0]) for f in frames] == [0, 1, 2]


def test_a_contiguous_stack_with_nothing_written_is_not_a_million_frames_of_zeros(tmp_path):
    """A review: a NeXus stack declared with 10⁶ frames, contiguous and never written, has no storage; HDF5 reads fill
    values for it, and 81,590 frames of zeros came in 5 s, each a row to be, for hours. Once written, it is read."""
    path = tmp_path / "declared.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data/data", shape=(10**6, 64, 64), dtype="u4")
    assert read_file(path, 0.0) == ([], f"{path}: frames 0–999999 of its 1000000 not written yet (their data are "
                                         "not in the file): classified once its writer has written them and closed it")
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data/data", data=np.stack([DATA, DATA + 1]))  # contiguous, written
    frames, problem = read_file(path, 0.0)
    assert problem is None and len(frames) == 2


def test_a_file_its_writer_holds_locked_is_said_to_be_so(tmp_path):
    """A trial: a data file held open by its writer (HDF5 file locking) was 'damaged HDF5: the HDF5 library cannot
    open it'."""
    path = tmp_path / "s_data_000001.h5"
    code = ("import sys, time, h5py, numpy as np; f = h5py.File(sys.argv[1], 'w'); "
            "f['entry/data/data'] = np.ones((1, 8, 8), 'u4'); f.flush(); print('open', flush=True); time.sleep(60)")
    writer = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        problem = read_file(path, 0.0)[1]
    finally:
        writer.kill()
        writer.wait()
    if problem is None:
        pytest.skip("this file system does not lock HDF5 files: the file was read")
    assert problem == f"{path}: locked by a process that has it open for writing (HDF5 file locking): still being written"


def test_linked_names_are_looked_for_where_hdf5_looks(tmp_path, monkeypatch):
    """HDF5's order (H5Lcreate_external): an absolute name as given, then its last part (a relative name whole) under
    HDF5_EXT_PREFIX, the linking file's directory and the current directory."""
    monkeypatch.setenv("HDF5_EXT_PREFIX", "/a:/b")
    monkeypatch.chdir(tmp_path)
    here = Path("/data/run")
    assert candidates("/dcu/run7/x.h5", here) == [Path("/dcu/run7/x.h5"), Path("/a/x.h5"), Path("/b/x.h5"),
                                                  here / "x.h5", tmp_path / "x.h5"]
    assert candidates("sub/x.h5", here) == [Path("/a/sub/x.h5"), Path("/b/sub/x.h5"), here / "sub/x.h5",
                                            tmp_path / "sub/x.h5"]


def test_a_data_file_whose_stack_holds_no_frame_yet_says_so(tmp_path):
    """A trial: an Eiger data file made with 0 images (its writer appends them later) was "HDF5 file without a detector
    image (no Eiger or NeXus image data found)"."""
    path = tmp_path / "i_data_000001.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data/data", shape=(0, *DATA.shape), maxshape=(None, *DATA.shape), dtype="u4",
                         chunks=(1, *DATA.shape))
    assert read_file(path, 0.0) == ([], f"{path}: its image stack /entry/data/data holds no frame yet (0 images)")


def test_a_fifo_two_links_away_is_found_too(tmp_path):
    """A review: a file linking a regular file that links a FIFO (a master whose data file's stack is a link, a
    virtual dataset over another, a NeXus file's instrument group in a second file) still froze the process: HDF5
    follows the chain."""
    os.mkfifo(tmp_path / "fifo.h5")
    with h5py.File(tmp_path / "x_data_000001.h5", "w") as f:
        f["entry/data/data"] = h5py.ExternalLink("fifo.h5", "/entry/data/data")
    master = tmp_path / "x_master.h5"
    with h5py.File(master, "w") as f:
        f["entry/data/data_000001"] = h5py.ExternalLink("x_data_000001.h5", "/entry/data/data")
    assert survey(master).unsafe == ("x_data_000001.h5",) and linked_files(master) == []
    assert read_in_child(master) == (f"{master}: not read: it links x_data_000001.h5, which is not a regular file (a "
                                     "FIFO, a device or a directory)")


def test_a_damaged_file_or_a_link_name_not_utf8_is_an_error_row_not_a_traceback(tmp_path):
    """A review: h5py's walk raised SystemError for a link name that is not UTF-8 and RuntimeError for damaged link
    tables ("bad local heap signature"); classify ended with a traceback before its other files."""
    odd = tmp_path / "b1.h5"
    with h5py.File(odd, "w") as f:
        f["entry/data/data"] = np.stack([DATA])
        f.id.links.create_soft(b"\xff\xfe", b"/entry/data/data")
    assert survey(odd).own_images
    frames, problem = read_file(odd, 0.0)
    assert len(frames) == 1 and problem is None
    damaged = data_file(tmp_path / "run_data_000001.h5", images=20)
    raw = bytearray(damaged.read_bytes())
    rng = np.random.default_rng(1)
    for _ in range(40):  # bytes of the link tables and heaps: some copies make h5py raise other errors than OSError
        copy = tmp_path / "copy_data_000001.h5"
        spoilt = bytearray(raw)
        for at in rng.integers(100, 12_000, 4):
            spoilt[at] ^= 0xFF
        copy.write_bytes(bytes(spoilt))
        try:
            survey(copy)
        except OSError:
            pass
        frames, problem = read_file(copy, 0.0)
        assert problem is None or problem.startswith(str(copy))


def test_a_chunk_of_several_frames_is_read_only_once_the_next_one_is_there(tmp_path):
    """A review: with 4 frames to a chunk, a stack with frame 0 written read frames 1-3 as fill values: a chunk is
    there once any of its frames is, so the last chunk there is taken as not yet whole while chunks are missing."""
    path = tmp_path / "pa_data_000001.h5"
    with h5py.File(path, "w") as f:
        stack = f.create_dataset("entry/data/data", shape=(12, *DATA.shape), dtype="u4", chunks=(4, *DATA.shape))
        stack[0] = DATA
    frames, problem = read_file(path, 0.0)
    assert frames == [] and problem.endswith("frames 0–11 of its 12 not written yet (their data are not in the file): "
                                             "classified once its writer has written them and closed it")
    with h5py.File(path, "a") as f:
        f["entry/data/data"][1:5] = np.stack([DATA + i for i in range(1, 5)])
    frames, problem = read_file(path, 0.0)
    assert [f.frame_id for f in frames] == [0, 1, 2, 3] and "frames 4–11 of its 12" in problem


def test_a_virtual_dataset_prefix_may_name_the_linking_file_s_directory(tmp_path, monkeypatch):
    """A review: HDF5_VDS_PREFIX='${ORIGIN}/sub' (HDF5 puts the virtual file's directory for ${ORIGIN}) was not
    expanded, and a working virtual dataset was refused as over a file not there."""
    (tmp_path / "sub").mkdir()
    data_file(tmp_path / "sub" / "s_data_000001.h5")
    master = tmp_path / "v_master.h5"
    with h5py.File(master, "w") as f:
        layout = h5py.VirtualLayout((1, *DATA.shape), "u4")
        layout[:] = h5py.VirtualSource("s_data_000001.h5", "/entry/data/data", (1, *DATA.shape))
        f.create_group("entry/data").create_virtual_dataset("data", layout)
    monkeypatch.setenv("HDF5_VDS_PREFIX", "${ORIGIN}/sub")
    assert survey(master).data_files == (tmp_path / "sub" / "s_data_000001.h5",) and not survey(master).missing
