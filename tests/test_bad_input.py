"""Bad input on a real watched directory: each kind gets one error row whose cause is a sentence about
the file (never a Python exception), the daemon goes on, and the good files around them get their rows.
(Frames that read but cannot be used, e.g. of the wrong shape, NaN or all zero, are in test_daemon's
real-classifier test: their causes come from preprocessing.)"""

import bz2
import gzip
import os
import re
import time
import zlib

import fabio.cbfimage
import fabio.edfimage
import fabio.tifimage
import h5py
import numpy as np
from PIL import Image

from gisaxs_live.sinks.csvlog import escape_source
from livehelp import read_rows, running, write_frame

DATA = np.random.default_rng(5).poisson(50, (40, 32)).astype(np.int32)


def encoded(tmp, kind):
    path = tmp / f"x.{kind}"
    {"cbf": fabio.cbfimage.CbfImage, "edf": fabio.edfimage.EdfImage, "tif": fabio.tifimage.TifImage}[kind](
        data=DATA).write(str(path))
    data = path.read_bytes()
    path.unlink()
    return data


def bad_inputs(tmp):
    """name → (bytes, or a callable that makes the file; the expected cause)."""
    cbf, edf, tif = encoded(tmp, "cbf"), encoded(tmp, "edf"), encoded(tmp, "tif")
    start = cbf.index(b"\x0c\x1a\x04\xd5")
    sum_bad = bytearray(cbf)
    sum_bad[start + 200:start + 264] = bytes(64)  # in the compressed pixels: the MD5 no longer matches
    rng = np.random.default_rng(0)

    def rgb(path):
        Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(path, format="TIFF")

    def h5_empty(path):
        with h5py.File(path, "w") as f:
            f.create_group("entry")

    def h5_corrupt_chunk(path):  # a NeXus image in gzip chunks, bytes flipped inside the compressed data
        with h5py.File(path, "w") as f:
            entry = f.create_group("entry")
            entry.attrs["NX_class"] = "NXentry"
            data = entry.create_group("data")
            data.attrs.update({"NX_class": "NXdata", "signal": "data"})
            data.create_dataset("data", data=rng.poisson(5, (1, 256, 256)).astype(np.int32), chunks=(1, 256, 256),
                                compression="gzip")
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2:len(raw) // 2 + 400] = bytes(b ^ 0x5A for b in raw[len(raw) // 2:len(raw) // 2 + 400])
        path.write_bytes(bytes(raw))

    def cbf_cutoff_text(path):  # fabio parses the Pilatus header's numbers
        fabio.cbfimage.CbfImage(data=DATA, header={"_array_data.header_convention": "PILATUS_1.2",
                                                   "_array_data.header_contents": "# Count_cutoff lots counts"}
                                ).write(str(path))

    def damaged_tiff(compression):  # fabio read these as zeros: a frame without signal, not an error
        def make(path):
            Image.fromarray(DATA).save(path, format="TIFF", compression=compression)
            raw = bytearray(path.read_bytes())
            raw[8:200] = rng.bytes(192)  # the strip's compressed pixels (Pillow writes them before the directory)
            path.write_bytes(bytes(raw))
        return make

    def h5_self_linked(path):  # a master whose data link names itself: it got no row at all
        with h5py.File(path, "w") as f:
            f["entry/data/data_000001"] = h5py.ExternalLink("self_master.h5", "/entry/data/data")

    def h5_cut(path):  # an Eiger-style file fabio reads whole, cut to half
        with h5py.File(path, "w") as f:
            f.create_dataset("entry/data/data", data=np.stack([DATA, DATA]))
        whole = path.read_bytes()
        path.write_bytes(whole[:len(whole) // 2])

    # compressed, cut past its first 64 kB once decompressed (where the cause is first looked for)
    large = fabio.cbfimage.CbfImage(data=rng.poisson(50, (512, 512)).astype(np.int32))
    large_path = tmp / "large.cbf"
    large.write(str(large_path))
    large_gz = gzip.compress(large_path.read_bytes())

    def edf_header(fields: dict) -> bytes:
        text = "{\nHeaderID = EH:000001:000000:000000 ;\nImage = 1 ;\nByteOrder = LowByteFirst ;\n" + "".join(
            f"{k} = {v} ;\n" for k, v in fields.items())
        return (text + " " * (512 - len(text) - 2) + "}\n").encode()

    values = DATA.astype(np.int32).tobytes()
    zlib_short = edf_header({"DataType": "SignedInteger", "Dim_1": 32, "Dim_2": 40, "Size": 100,
                             "Compression": "zlib"}) + zlib.compress(values)[:100]
    huge = edf_header({"DataType": "SignedInteger", "Dim_1": 100000, "Dim_2": 100000, "Size": 40000000000})
    huge_cbf = cbf
    for axis in (b"Second", b"Fastest"):
        huge_cbf = re.sub(rb"X-Binary-Size-%s-Dimension: *\d+" % axis, b"X-Binary-Size-%s-Dimension: 200000" % axis,
                          huge_cbf)

    return {
        "empty.cbf": (b"", "empty file"),
        "zlib_short.edf": (zlib_short, "truncated EDF: "),  # decoded only when its data is read: it ended watch
        "huge_dims.edf": (huge + bytes(4000), "damaged EDF: its header declares an image too large"),
        "huge_dims.cbf": (huge_cbf, "damaged CBF: its header declares 200,000 × 200,000 pixels, more than any "
                                    "detector has"),  # was: its binary data cannot be decoded
        "header_only.cbf.gz": (gzip.compress(cbf[:start]), "truncated CBF: "),  # fabio searched forever
        "corrupt_chunk.h5": (h5_corrupt_chunk, "damaged HDF5: its compressed image data cannot be decoded"),
        "cutoff_text.cbf": (cbf_cutoff_text, "damaged CBF: a value of its header is not a number ('lots')"),
        "truncated.cbf": (cbf[: start + 500], "truncated CBF: "),
        "header_only.cbf": (cbf[:start], "truncated CBF: "),
        "random.cbf": (rng.bytes(3000), "not a detector image: no CBF/EDF/TIFF/HDF5 header"),
        "text.cbf": (b"hello\n" * 40, "not a detector image"),
        "text.tif": (b"not an image\n", "not a detector image"),
        "random.edf": (rng.bytes(3000), "not a detector image"),
        "truncated.edf": (edf[: len(edf) * 3 // 4], "truncated"),
        "truncated.tif": (tif[: len(tif) // 2], "truncated TIFF"),
        "checksum.cbf": (bytes(sum_bad), "damaged CBF: its binary data "),
        "garbage.cbf.gz": (rng.bytes(400), "damaged gzip file"),
        "truncated.cbf.gz": (gzip.compress(cbf)[:300], "truncated gzip file"),
        "gzipped_noise.cbf.gz": (gzip.compress(rng.bytes(3000)), "not a detector image"),
        "garbage.cbf.bz2": (rng.bytes(400), "damaged bzip2 file"),
        "truncated.cbf.bz2": (bz2.compress(cbf)[:300], "truncated bzip2 file"),
        "random.h5": (rng.bytes(2000), "not a detector image"),
        "no_data.h5": (h5_empty, "HDF5 file without a detector image"),
        "self_master.h5": (h5_self_linked, "damaged Eiger master file: it links itself as its own data file"),
        "truncated.h5": (h5_cut, "truncated HDF5: "),
        "truncated_late.cbf.gz": (large_gz[: len(large_gz) * 2 // 3], "truncated gzip file"),
        "not_utf8_\udcff_name.cbf": (cbf[: start + 100], "truncated CBF: "),
        "lzw_damaged.tif": (damaged_tiff("tiff_lzw"), "damaged TIFF: its LZW-compressed image data cannot be decoded"),
        "deflate_damaged.tif": (damaged_tiff("tiff_adobe_deflate"),
                                "damaged TIFF: its deflate-compressed image data cannot be decoded"),
        "photo.tif": (rgb, "expected a 2-D detector image, got 3-D data"),
        "ünïcode_trunc.cbf": (cbf[: start + 100], "truncated CBF: "),
        "new\nline.cbf": (cbf[: start + 100], "truncated CBF: "),
        "empty_header.edf": (b"{\n}\n" + bytes(100), "damaged EDF: "),
    }


def test_every_kind_of_bad_input_gets_a_clear_error_row(tmp_path, capfd):
    frames, log = tmp_path / "frames", tmp_path / "log.csv"
    frames.mkdir()
    kinds = bad_inputs(tmp_path)
    with running(frames, log) as r:
        for i, (name, (content, _)) in enumerate(kinds.items()):
            part = frames / f".{i}.part"
            if callable(content):
                content(part)
            else:
                part.write_bytes(content)
            os.replace(part, frames / name)
            write_frame(frames / f"good_{i:02d}.cbf", value=i + 1)
        os.symlink(tmp_path / "nowhere.cbf", frames / ".link.part")
        os.replace(frames / ".link.part", frames / "dangling.cbf")
        vanishing = frames / "vanishing.cbf"
        vanishing.write_bytes(b"partial")
        time.sleep(0.02)
        vanishing.unlink()
        write_frame(frames / "good_last.cbf")
        (frames / ".upper.part").write_bytes(gzip.compress(encoded(tmp_path, "cbf")))
        os.replace(frames / ".upper.part", frames / "good_upper.CBF.GZ")  # decompressed whatever its letter case
        r.wait_rows(2 * len(kinds) + 4, timeout=60)
        time.sleep(0.3)
        assert r.stop() == 0
    rows = {os.path.basename(row["source"]): row for row in read_rows(log)}
    kinds["dangling.cbf"] = (None, "dangling symbolic link")
    kinds["vanishing.cbf"] = (None, "deleted before it was read")
    assert len(kinds) >= 29 and len(rows) == 2 * len(kinds)
    for name, (_, cause) in kinds.items():
        row = rows[escape_source(name)]  # a line break written as \n, a byte that is not UTF-8 as \xNN
        assert row["status"] == "error" and cause in row["message"], (name, row["message"])
        assert not re.search(r"[A-Z][a-z]+(Error|Exception)\b|Traceback|NoneType", row["message"]), row["message"]
        assert row["message"].startswith(str(frames)), row["message"]  # names the file
    assert all(rows[n]["status"] == "ok" for n in rows if n.startswith("good_"))
    err = capfd.readouterr().err
    assert "Checksum" not in err and "TiffIO" not in err  # fabio's chatter: debug log only
