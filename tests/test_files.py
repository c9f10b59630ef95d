"""read_frames: every format through fabio, every frame of a multi-frame file (decoded a frame at a time),
one-line FrameErrors."""

from __future__ import annotations

import bz2
import gzip
import os
import tracemalloc
from pathlib import Path

import fabio.cbfimage
import fabio.edfimage
import fabio.eigerimage
import fabio.tifimage
import h5py
import numpy as np
import pytest
from PIL import Image

from gisaxs_live.frame import FrameError
from gisaxs_live.sources.files import FileFrames, first_frame, read_file, read_frames
from livehelp import nexus_stack

DATA = np.random.default_rng(3).poisson(20.0, (60, 48)).astype(np.int32)
DATA[:, 20:23] = -1


def gzipped(path: Path) -> Path:
    target = path.with_name(path.name + ".gz")
    target.write_bytes(gzip.compress(path.read_bytes()))
    return target


def truncated(path: Path, keep: float) -> Path:
    target = path.with_name("truncated_" + path.name)
    data = path.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


@pytest.fixture()
def cbf(tmp_path: Path) -> Path:
    path = tmp_path / "frame.cbf"
    fabio.cbfimage.CbfImage(data=DATA).write(str(path))
    return path


@pytest.fixture()
def edf(tmp_path: Path) -> Path:
    path = tmp_path / "frame.edf"
    fabio.edfimage.EdfImage(data=DATA).write(str(path))
    return path


@pytest.fixture()
def tif(tmp_path: Path) -> Path:
    path = tmp_path / "frame.tif"
    fabio.tifimage.TifImage(data=DATA).write(str(path))
    return path


@pytest.mark.parametrize("kind", ["cbf", "edf", "tif", "cbf.gz", "tif.gz", "edf.gz", "EDF.GZ", "edf.bz2"])
def test_single_frame_files_are_read_exactly(kind, request):
    """Compressed ones too, whatever the suffix's letter case (fabio's EDF reader needs its own stream type:
    every .edf.gz was an error row for a while)."""
    path = request.getfixturevalue(kind.split(".")[0].lower())
    if kind.lower().endswith(".gz"):
        path = gzipped(path)
    elif kind.endswith(".bz2"):
        path.with_name(path.name + ".bz2").write_bytes(bz2.compress(path.read_bytes()))
        path = path.with_name(path.name + ".bz2")
    if kind != kind.lower():
        path = path.rename(path.with_name(path.name.upper()))
    (frame,) = read_frames(path)
    assert np.array_equal(frame.data, DATA) and frame.data.dtype == np.int32
    assert frame.source == str(path) and frame.frame_id == 0
    assert frame.t == os.stat(path).st_mtime and frame.mask is None


def test_every_frame_of_a_multi_frame_edf(tmp_path):
    image = fabio.edfimage.EdfImage(data=DATA)
    for i in (1, 2):
        image.append_frame(data=DATA + i)
    path = tmp_path / "series.edf"
    image.write(str(path))
    frames = list(read_frames(path))
    assert [f.frame_id for f in frames] == [0, 1, 2]
    for i, frame in enumerate(frames):
        assert np.array_equal(frame.data, DATA + i)


def test_every_frame_of_eiger_and_nexus_hdf5(tmp_path):
    stack = np.stack([DATA, DATA + 1, DATA + 2, DATA + 3])
    eiger = tmp_path / "eiger_master.h5"
    fabio.eigerimage.EigerImage(data=stack).write(str(eiger))
    nexus = tmp_path / "scan.nxs.h5"
    with h5py.File(nexus, "w") as f:
        f.attrs["default"] = "entry"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs.update(NX_class="NXdata", signal="data")
        data.create_dataset("data", data=stack, compression="gzip")
    for path in (eiger, nexus):
        frames = list(read_frames(path))
        assert [f.frame_id for f in frames] == [0, 1, 2, 3]
        assert all(np.array_equal(f.data, stack[i]) for i, f in enumerate(frames))


@pytest.mark.parametrize("kind", ["nexus", "edf"])
def test_a_multi_frame_file_is_decoded_a_frame_at_a_time(tmp_path, kind):
    """Every multi-frame file was read whole before its first frame was used: a 200-frame Pilatus 1M stack took
    `classify` 1.76 GB, and an Eiger 4M data file of 1,000 frames (18 GB of pixels) would end the monitor out of
    memory, at every restart. ``FileFrames`` decodes a frame as it is reached; ``first_frame`` decodes one alone.
    fabio's EDF reader keeps the frames it decoded: they are let go (a review: a 40-frame EDF peaked at 172 MB)."""
    image = np.random.default_rng(0).poisson(5.0, (512, 512)).astype(np.int32)  # 1 MB
    if kind == "nexus":
        path = nexus_stack(tmp_path / "stack.h5", [image, image + 1], 40)
    else:
        edf = fabio.edfimage.EdfImage(data=image)
        for i in range(1, 40):
            edf.append_frame(data=image + i % 2)
        path = tmp_path / "stack.edf"
        edf.write(str(path))
    reading = FileFrames(path, 7.0)
    tracemalloc.start()
    try:
        read = [(f.frame_id, f.t, int(f.data[0, 0] - image[0, 0])) for f in reading]
        peak = tracemalloc.get_traced_memory()[1]
        frame, problem = first_frame(path, 8.0)
        peak_first = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read == [(i, 7.0, i % 2) for i in range(40)]
    assert (reading.count, reading.available, reading.problem) == (40, 40, None)
    assert peak < 8 * image.nbytes  # whole: 40
    assert problem is None and frame.frame_id == 0 and frame.t == 8.0 and np.array_equal(frame.data, image)
    assert peak_first < 8 * image.nbytes


def test_a_file_read_a_frame_at_a_time_says_where_it_ended(tmp_path):
    """A problem met after some frames: those frames, then the problem, as ``read_file`` gives them."""
    cut = nexus_stack(tmp_path / "series.h5", [DATA, DATA + 1], 4, written=2)
    reading = FileFrames(cut, 0.0)
    assert [f.frame_id for f in reading] == [0, 1]
    assert (reading.count, reading.available) == (2, 2) and reading.problem == read_file(cut, 0.0)[1]
    assert reading.problem.startswith(f"{cut}: frames 2–3 of its 4 not written yet")


def test_the_whole_frames_of_a_multi_frame_edf_cut_short_are_read(tmp_path):
    """A trial: a 4-frame EDF cut at 5/8 of its length gave one error row, for frame 0, and no row for the whole
    frames 0 and 1: fabio marks the file incomplete as a whole. Each frame's own mark is read now."""
    image = fabio.edfimage.EdfImage(data=DATA)
    for i in (1, 2, 3):
        image.append_frame(data=DATA + i)
    image.write(str(tmp_path / "series.edf"))
    cut = truncated(tmp_path / "series.edf", 5 / 8)
    frames, problem = read_file(cut, 0.0)
    assert [int(f.data[0, 0] - DATA[0, 0]) for f in frames] == [0, 1]
    assert problem.startswith(f"{cut} frame 2: truncated EDF: image data")
    whole = (tmp_path / "series.edf").read_bytes()  # cut inside the last frame's header (a review: no error row)
    last_header = whole.rindex(b"{")
    (tmp_path / "cut_header.edf").write_bytes(whole[:last_header + 300])
    frames, problem = read_file(tmp_path / "cut_header.edf", 0.0)
    assert [f.frame_id for f in frames] == [0, 1, 2]
    assert problem == (f"{tmp_path / 'cut_header.edf'}: truncated EDF: it ends inside the header of a frame after "
                       "its 3 frames")


def test_every_page_of_a_multi_page_tiff_is_read(tmp_path):
    """A review: the pages after the first gave "truncated TIFF" (fabio's later TIFF frames have no mark of their own
    for a file cut short, and asking for it raised)."""
    pages = [np.random.default_rng(i).integers(0, 1000, (64, 48)).astype(np.uint16) for i in range(3)]
    path = tmp_path / "pages.tif"
    images = [Image.fromarray(page) for page in pages]
    images[0].save(path, save_all=True, append_images=images[1:])
    frames, problem = read_file(path, 0.0)
    assert problem is None and [f.frame_id for f in frames] == [0, 1, 2]
    assert all(np.array_equal(f.data, page) for f, page in zip(frames, pages))
    assert first_frame(tmp_path / "none.edf", 0.0) == (None, f"{tmp_path / 'none.edf'}: no such file")


def test_an_eiger_master_before_its_data_file_names_the_missing_file(tmp_path):
    """DECTRIS's master file links its frames from data files (HDF5 external links); read before they exist it said
    "no Eiger or NeXus image data found". Once the data file is there, the master's frames read through it."""
    master = tmp_path / "s_master.h5"
    with h5py.File(master, "w") as f:
        data = f.create_group("entry").create_group("data")
        data["data_000001"] = h5py.ExternalLink("s_data_000001.h5", "/entry/data/data")
    with pytest.raises(FrameError, match=r"s_master\.h5: its image data is in s_data_000001\.h5 \(external links, "
                                         r"an Eiger master file's data files\), which is not there \(yet\)$"):
        list(read_frames(master))
    fabio.eigerimage.EigerImage(data=np.stack([DATA, DATA + 1])).write(str(tmp_path / "s_data_000001.h5"))
    assert [f.frame_id for f in read_frames(master)] == [0, 1]


def test_an_eiger_master_with_one_of_its_data_files_missing_reads_the_others_and_names_it(tmp_path):
    """fabio reads the images of the data files that are there and passes over a missing one: the frames read keep
    their rows, and the missing file is an error, not a silently shorter series."""
    master = tmp_path / "s_master.h5"
    with h5py.File(master, "w") as f:
        for i in (1, 2):
            f[f"entry/data/data_00000{i}"] = h5py.ExternalLink(f"s_data_00000{i}.h5", "/entry/data/data")
    fabio.eigerimage.EigerImage(data=np.stack([DATA])).write(str(tmp_path / "s_data_000001.h5"))
    frames, problem = read_file(master, 0.0)
    assert [f.frame_id for f in frames] == [0]
    assert problem == (f"{master}: 1 image read; its data files s_data_000002.h5 (external links) are not there "
                       "(yet), so their images and those after them are missing")
    fabio.eigerimage.EigerImage(data=np.stack([DATA + 1])).write(str(tmp_path / "s_data_000002.h5"))
    frames, problem = read_file(master, 0.0)
    assert [f.frame_id for f in frames] == [0, 1] and problem is None


def test_missing_empty_and_non_files(tmp_path):
    with pytest.raises(FrameError, match=r"nothing\.cbf: no such file$"):
        list(read_frames(tmp_path / "nothing.cbf"))
    (tmp_path / "empty.cbf").write_bytes(b"")
    with pytest.raises(FrameError, match=r"empty\.cbf: empty file$"):
        list(read_frames(tmp_path / "empty.cbf"))
    with pytest.raises(FrameError, match=r": a directory, not a frame file$"):
        list(read_frames(tmp_path))
    os.mkfifo(tmp_path / "pipe.cbf")
    with pytest.raises(FrameError, match=r"pipe\.cbf: not a regular file$"):
        list(read_frames(tmp_path / "pipe.cbf"))


@pytest.mark.parametrize("name, content", [("notes.txt", b"hello\n" * 50), ("notes.cbf", b"hello\n" * 50),
                                           ("noise.edf", bytes(range(256)) * 40)])
def test_non_image_files(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FrameError) as error:
        list(read_frames(path))
    message = str(error.value)
    assert message.startswith(f"{path}: ") and "\n" not in message


@pytest.mark.parametrize("kind", ["cbf", "edf", "tif", "cbf.gz"])
def test_truncated_files(kind, request):
    path = request.getfixturevalue(kind.split(".")[0])
    if kind.endswith(".gz"):
        path = gzipped(path)
    cut = truncated(path, 0.6)
    with pytest.raises(FrameError) as error:
        list(read_frames(cut))
    assert str(error.value).startswith(f"{cut}: ") and "\n" not in str(error.value)


def test_corrupt_cbf_fails_its_checksum(cbf):
    data = bytearray(cbf.read_bytes())
    middle = len(data) - 2000
    data[middle:middle + 64] = bytes(64)
    cbf.write_bytes(bytes(data))
    with pytest.raises(FrameError, match=r"frame\.cbf: damaged CBF: its binary data does not match its MD5 checksum$"):
        list(read_frames(cbf))


def test_causes_are_sentences_about_the_file_and_fabio_stays_off_stderr(tmp_path, cbf, capfd):
    data = cbf.read_bytes()
    start = data.index(b"\x0c\x1a\x04\xd5") + 4
    cases = {
        "cut.cbf": (data[: start + 100], f"truncated CBF: {start + 100:,} of "),
        "random.cbf": (bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8)),
                       "not a detector image: no CBF/EDF/TIFF/HDF5 header"),
        "garbage.cbf.gz": (b"\x00garbage" * 50, "damaged gzip file: not valid gzip data"),
        "cut.cbf.gz": (gzip.compress(data)[:300], "truncated gzip file: the compressed data ends early"),
    }
    for name, (content, cause) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(FrameError) as error:
            list(read_frames(tmp_path / name))
        assert str(error.value).startswith(f"{tmp_path / name}: {cause}"), str(error.value)
        assert "Error" not in str(error.value) and "'" not in str(error.value)
    empty_h5 = tmp_path / "nodata.h5"
    h5py.File(empty_h5, "w").close()
    with pytest.raises(FrameError, match="HDF5 file without a detector image"):
        list(read_frames(empty_h5))
    os.symlink(tmp_path / "missing.cbf", tmp_path / "link.cbf")
    with pytest.raises(FrameError, match=r"link\.cbf: dangling symbolic link \(its target .*missing\.cbf does not exist\)"):
        list(read_frames(tmp_path / "link.cbf"))
    bad = bytearray(data)
    bad[-2000:-1936] = bytes(64)
    (tmp_path / "sum.cbf").write_bytes(bytes(bad))
    for _ in range(4):  # retries: fabio's checksum line never reaches stderr
        with pytest.raises(FrameError, match="MD5 checksum"):
            list(read_frames(tmp_path / "sum.cbf"))
    assert "Checksum" not in capfd.readouterr().err


def test_data_that_is_not_a_2d_image(tmp_path):
    rgb = tmp_path / "photo.tif"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(rgb)
    with pytest.raises(FrameError, match=r"photo\.tif: expected a 2-D detector image, got 3-D data of shape \(20, 30, 3\)"):
        list(read_frames(rgb))
    line = tmp_path / "profile.npy"
    np.save(line, np.arange(100.0))
    with pytest.raises(FrameError, match=r"profile\.npy: 1-D data of shape \(1, 100\)"):
        list(read_frames(line))


def test_a_nexus_file_with_one_2d_image_is_read(tmp_path):
    """A NeXus file whose NXdata signal is a single 2-D frame (fabio reads stacks only from the file itself)."""
    path = tmp_path / "frame.nxs"
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "counts"
        data["counts"] = DATA
    (frame,) = read_frames(path)
    assert frame.frame_id == 0 and np.array_equal(frame.data, DATA)
    assert frame.source == str(path)


def test_an_eiger_master_whose_data_file_is_a_fifo_is_an_error_not_a_wait(tmp_path):
    """HDF5 opened a linked data file that is a FIFO and waited forever for a writer: ``classify`` never ended (watch
    gave up after its 120-s read limit). Run in a child process, so that the old wait cannot hang the suite."""
    import subprocess
    import sys

    master = tmp_path / "s_master.h5"
    with h5py.File(master, "w") as f:
        f["entry/data/data_000001"] = h5py.ExternalLink("s_data_000001.h5", "/entry/data/data")
    data = tmp_path / "s_data_000001.h5"
    os.mkfifo(data)
    # the FIFO itself arrives too (it matches *.h5): the daemon's look for a master's links opened it in HDF5, which
    # blocked every thread of the process (the GIL held), the read time limit's too
    code = ("import sys; from gisaxs_live.sources.eiger import read_through_data_files; "
            "from gisaxs_live.sources.files import read_file; "
            "print(read_file(sys.argv[1], 0.0)[1]); print(read_through_data_files(sys.argv[2], bool)); "
            "print(read_file(sys.argv[2], 0.0)[1])")
    done = subprocess.run([sys.executable, "-c", code, str(master), str(data)], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.splitlines() == [
        f"{master}: not read: it links s_data_000001.h5, which is not a regular file (a FIFO, a device or a "
        "directory)", "[]", f"{data}: not a regular file"], done.stderr


def test_a_compressed_file_that_decompresses_beyond_any_frame_is_refused_not_held(tmp_path, cbf, monkeypatch):
    """A trial: a 4 MB .cbf.gz holding a frame and 768 MB of zeros took `classify` 2.2 GB: the file was decompressed
    whole into memory. Beyond ``MAX_DECOMPRESSED_BYTES`` it is an error row; below, the frame is read."""
    import gisaxs_live.sources.files as files

    monkeypatch.setattr(files, "MAX_DECOMPRESSED_BYTES", 1 << 20)
    padded = tmp_path / "padded.cbf.gz"
    with gzip.open(padded, "wb") as f:
        f.write(cbf.read_bytes() + bytes(2 << 20))
    assert read_file(padded, 0.0) == ([], f"{padded}: not read: it decompresses to more than 1 MiB, too much to hold "
                                          "in memory (decompress it with gunzip and classify the file itself)")
    (frame,) = read_file(gzipped(cbf), 0.0)[0]
    assert np.array_equal(frame.data, DATA)


def test_a_tiff_whose_image_directories_loop_is_an_error_not_a_spinning_reader(tmp_path, tif):
    """A trial: a TIFF whose last image directory points back at the first made fabio's reader spin for good, its
    memory growing by 2.4 MB/s; `watch` gave it up after 120 s, but its thread went on (8.3 GB after 50 min) and held
    the GIL (the next frame's row took 2 s), and `classify` never ended. Read in a child process with a time limit,
    so that a regression fails here instead of hanging the suite."""
    import struct
    import subprocess
    import sys

    data = bytearray(tif.read_bytes())
    (first,) = struct.unpack("<I", data[4:8])
    (entries,) = struct.unpack("<H", data[first:first + 2])
    data[first + 2 + 12 * entries:first + 6 + 12 * entries] = struct.pack("<I", first)  # the last points at the first
    looping = tmp_path / "loop.tif"
    looping.write_bytes(bytes(data))
    code = "import sys; from gisaxs_live.sources.files import read_file; print(read_file(sys.argv[1], 0.0)[1])"
    run = subprocess.run([sys.executable, "-c", code, str(looping)], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == f"{looping}: damaged TIFF: its image directories loop (the one at byte {first:,} " \
                                 "comes again)"
    (frame,) = read_file(tif, 0.0)[0]  # the chain of a good file ends
    assert np.array_equal(frame.data, DATA)
