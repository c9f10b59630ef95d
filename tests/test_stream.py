"""The stream source: SIMPLON v1 and simple-protocol decoding, malformed input, the receiver on a real
socket (reconnect, drop, drain), and ``gisaxs-live stream`` + ``gisaxs-live publish`` as processes."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from gisaxs_live.publisher import replay as publisher
from gisaxs_live.config import ConfigError, Stream
from gisaxs_live.frame import Frame
from gisaxs_live.sources import simple_protocol, simplon
from gisaxs_live.sources.stream import MessageHandler, Rejected, StreamSource, check_endpoint
from livehelp import free_endpoint, take_all

RNG = np.random.default_rng(7)
ENDPOINT = "tcp://127.0.0.1:9999"  # a name only, for handler tests


def pixels(dtype: str, shape: tuple[int, int] = (37, 53)) -> np.ndarray:
    data = RNG.poisson(20.0, shape).astype(dtype)
    if np.dtype(dtype).kind == "i":
        data[:, 10:13] = -1  # Pilatus-style gap
    return data


# --- the decode layer ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,encoding", [
    ("uint16", "<"), ("uint32", "<"), ("int32", "<"), ("float32", "<"),
    ("uint16", "lz4<"), ("int32", "lz4<"), ("uint8", "bs8-lz4<"),
    ("uint16", "bs16-lz4<"), ("uint32", "bs32-lz4<"), ("int32", "bs32-lz4<")])
def test_blob_round_trip_is_exact_and_reshaped_y_x(dtype, encoding):
    data = pixels(dtype, (37, 53))  # 37 rows (y) of 53 pixels (x); odd sizes leave a partial bitshuffle block
    blob = simplon.encode_blob(data, encoding)
    decoded = simplon.decode_blob(blob, [53, 37], dtype, encoding)
    assert decoded.shape == (37, 53) and decoded.dtype == data.dtype
    np.testing.assert_array_equal(decoded, data)


def test_bslz4_blob_is_the_hdf5_bitshuffle_chunk():
    """An Eiger's bs32-lz4< blob is the HDF5 bitshuffle/LZ4 filter chunk: decode one written by hdf5plugin."""
    hdf5plugin = pytest.importorskip("hdf5plugin")
    import h5py

    data = pixels("uint32", (64, 96))
    with h5py.File("mem.h5", "w", driver="core", backing_store=False) as f:
        f.create_dataset("d", data=data[np.newaxis], chunks=(1, 64, 96), **hdf5plugin.Bitshuffle(cname="lz4"))
        _, chunk = f["d"].id.read_direct_chunk((0, 0, 0))
    np.testing.assert_array_equal(simplon.decode_blob(chunk, [96, 64], "uint32", "bs32-lz4<"), data)
    ours = simplon.encode_blob(data, "bs32-lz4<")
    assert ours[:12] == struct.pack(">QI", data.nbytes, simplon.BLOCK_BYTES)


def test_lz4_is_one_raw_block_without_size_prefix():
    import lz4.block

    data = pixels("uint32")
    blob = simplon.encode_blob(data, "lz4<")
    assert lz4.block.decompress(blob, uncompressed_size=data.nbytes) == data.tobytes()


@pytest.mark.parametrize("detail,parts", [("none", 1), ("basic", 2), ("all", 8)])
@pytest.mark.parametrize("appendix", [False, True])
def test_header_parts_and_pixel_mask(detail, parts, appendix):
    mask = np.zeros((37, 53), bool)
    mask[3, 40] = True  # row 3, column 40: x = 40, y = 3
    msg = simplon.encode_header(4, detail, {"description": "test"}, mask if detail == "all" else None)
    assert len(msg) == parts
    if appendix:
        msg.append(b'{"user": "beamline"}')
    header = simplon.parse(msg)
    assert isinstance(header, simplon.SeriesHeader) and header.series == 4 and header.detail == detail
    if detail == "all":
        assert header.pixel_mask.shape == (37, 53) and header.pixel_mask[3, 40] and header.pixel_mask.sum() == 1
        assert json.loads(msg[4]) == {"htype": "dpixelmask-1.0", "shape": [53, 37], "type": "uint32"}
    else:
        assert header.pixel_mask is None


def test_image_message_layout():
    data = pixels("uint32")
    parts = simplon.encode_image(3, 11, data, "bs32-lz4<", 100, 200, 100)
    head, desc, blob, times = parts
    assert json.loads(head) == {"htype": "dimage-1.0", "series": 3, "frame": 11,
                                "hash": hashlib.md5(blob).hexdigest()}
    assert json.loads(desc) == {"htype": "dimage_d-1.0", "shape": [53, 37], "type": "uint32",
                                "encoding": "bs32-lz4<", "size": len(blob)}
    assert json.loads(times) == {"htype": "dconfig-1.0", "start_time": 100, "stop_time": 200, "real_time": 100}
    image = simplon.parse(parts + [b"image appendix"])
    assert (image.series, image.frame) == (3, 11)


def test_simple_protocol_round_trip():
    data = pixels(">i4")
    parts = simple_protocol.encode(data, 5, source="cam 2", timestamp=1.5e9)
    assert json.loads(parts[0]) == {"shape": [37, 53], "dtype": ">i4", "frame": 5, "source": "cam 2",
                                    "timestamp": 1.5e9}
    frame = simple_protocol.decode(parts)
    np.testing.assert_array_equal(frame.data, data)
    assert (frame.frame, frame.source, frame.timestamp) == (5, "cam 2", 1.5e9)


def test_a_simple_source_that_does_not_print_reaches_no_terminal_raw():
    """A review: a sender's source kept ESC and other control characters, which went raw into the log lines (the
    terminal or journal that shows them would act on an escape sequence). White space runs are one space."""
    parts = simple_protocol.encode(pixels("<i4"), 5, source="cam\t 2\x1b[2J\x07 \u2028end\u00e9")
    assert simple_protocol.decode(parts).source == "cam 2\ufffd[2J\ufffd end\u00e9"


# --- malformed input: each becomes an error record naming series/frame where known ------------------------

def _image(encoding="<", dtype="uint32", series=9, frame=2):
    return simplon.encode_image(series, frame, pixels(dtype), encoding)


def _corrupt(parts, offset):
    blob = bytearray(parts[2])
    blob[offset:offset + 64] = b"\xff" * 64
    return [parts[0], parts[1], bytes(blob), parts[3]]


def _resized(parts, blob):
    desc = json.loads(parts[1])
    desc["size"] = len(blob)
    return [parts[0], json.dumps(desc).encode(), blob, parts[3]]


def _described(parts, **changes):
    desc = json.loads(parts[1])
    desc.update(changes)
    return [parts[0], json.dumps(desc).encode(), *parts[2:]]


def _declared(shape, type_name, encoding, blob=b"\0" * 100):
    """An image of series 9, frame 2 declaring ``shape`` [x, y] of ``type_name`` with the data ``blob``."""
    head, _, _, times = _image()
    desc = {"htype": "dimage_d-1.0", "shape": shape, "type": type_name, "encoding": encoding, "size": len(blob)}
    return [head, json.dumps(desc).encode(), blob, times]


def _long_integer_shape():
    """``_declared`` with a shape of 5,000 digits (json.dumps would not write it)."""
    parts = _declared([1, 2], "uint32", "lz4<")
    parts[1] = parts[1].replace(b"[1, 2]", b"[" + b"9" * 5000 + b", 2]")
    return parts


def _huge_mask():
    parts = simplon.encode_header(9, "all", {}, np.zeros((2, 2), bool))
    parts[4] = json.dumps({"htype": "dpixelmask-1.0", "shape": [65536, 65536], "type": "uint32"}).encode()
    return parts


def _bslz4_header(total, block):
    body = _image("bs32-lz4<")[2]
    return _resized(_image("bs32-lz4<"), struct.pack(">QI", total, block) + body[12:])


GARBAGE_RNG = np.random.default_rng(11)
HUGE = [65536, 65536]  # 16 GiB at 32 bits: lz4.block overflowed on it (OverflowError killed the receiver)
LIMIT = "more than the limit of 256 MiB (stream.max_image_bytes)"

MALFORMED = {
    "image part missing": (_image()[:3], (9, 2), "3 parts"),
    "image with two parts too many": (_image() + [b"appendix", b"more"], (9, 2), "6 parts"),
    "random bytes in every part": ([GARBAGE_RNG.bytes(n) for n in (40, 300, 7)], (None, -1), "part 1 is not JSON"),
    "a single empty part": ([b""], (None, -1), "part 1 is not JSON"),
    "deeply nested JSON": ([b"[" * 100_000], (None, -1), "nested too deeply"),
    "huge shape, raw": (_declared(HUGE, "uint32", "<"), (9, 2), f"65536x65536 uint32 would take 16 GiB, {LIMIT}"),
    "huge shape, lz4": (_declared(HUGE, "uint32", "lz4<"), (9, 2), LIMIT),
    "huge shape, bs8-lz4": (_declared(HUGE, "uint8", "bs8-lz4<"), (9, 2), LIMIT),
    "huge shape, bs16-lz4": (_declared(HUGE, "uint16", "bs16-lz4<"), (9, 2), LIMIT),
    "huge shape, bs32-lz4": (_declared(HUGE, "uint32", "bs32-lz4<"), (9, 2), LIMIT),
    "astronomic shape": (_declared([10**19, 10**19], "uint32", "lz4<"), (9, 2), LIMIT),
    # integers Python cannot even write (more than 4,300 digits) were "Exceeds the limit ... set_int_max_str_digits"
    "an integer of 5,000 digits": (_long_integer_shape(), (9, 2),
                                   "part 2 (dimage_d-1.0) holds an integer of 5,000 digits; no field takes more "
                                   "than 20"),
    "an integer of 21 digits in part 1": ([b'{"htype": "dimage-1.0", "series": 9, "frame": 2' + b"0" * 20 + b"}"],
                                          (None, -1), "part 1 holds an integer of 21 digits"),
    "CBOR, not JSON": ([bytes([0x82, 0x01, 0x02])], (None, -1),
                       "part 1 is not JSON: byte 0 is not UTF-8 text (it starts like CBOR: Stream V2 sends one CBOR"),
    "simple: timestamp beyond a float": ([b'{"shape": [2, 2], "dtype": "<i4", "frame": 4, "timestamp": 1e400}',
                                          b"\0" * 16], (None, 4), "timestamp inf is not a number of seconds"),
    # a latency measured from them was written as inf, a 300-digit number, or 0 for a time in milliseconds
    "simple: timestamp far before 1970": ([b'{"shape": [2, 2], "dtype": "<i4", "frame": 4, "timestamp": -1.7e308}',
                                           b"\0" * 16], (None, 4),
                                          "timestamp -1.7e+308 is not a Unix time in seconds from 1970 to 2106"),
    "simple: timestamp in milliseconds": ([b'{"shape": [2, 2], "dtype": "<i4", "frame": 4, "timestamp": 1764039845250}',
                                           b"\0" * 16], (None, 4), "(one in milliseconds or nanoseconds must be"),
    "lz4 too short for its shape": (_declared([8192, 8192], "uint16", "lz4<"), (9, 2),
                                    "lz4< data of 100 bytes cannot hold 134,217,728 bytes"),
    "bitshuffle too short for its shape": (_declared([53, 37], "uint32", "bs32-lz4<",
                                                     struct.pack(">QI", 53 * 37 * 4, 8192) + b"\0" * 10), (9, 2),
                                           "bs32-lz4< data of 10 bytes cannot hold 7,844 bytes"),
    "bitshuffle block size zero": (_bslz4_header(53 * 37 * 4, 0), (9, 2), "block size of 0 bytes"),
    "bitshuffle block size not 8 pixels": (_bslz4_header(53 * 37 * 4, 8188), (9, 2), "block size of 8,188 bytes"),
    "bitshuffle block size huge": (_bslz4_header(53 * 37 * 4, 2**32 - 32), (9, 2), "block size of 4,294,967,264"),
    "bad JSON in part 1": ([b"{not json", b"x"], (None, -1), "part 1 is not JSON"),
    "bad JSON in part 2": ([_image()[0], b"[1, 2", *_image()[2:]], (9, 2), "part 2"),
    "size does not match shape x type": (_resized(_image(), _image()[2][:-4]), (9, 2), "needs"),
    "size field disagrees with blob": (_described(_image(), size=5), (9, 2), "size 5"),
    "unknown encoding": (_described(_image(), encoding="zstd<"), (9, 2), "unknown encoding"),
    "unknown pixel type": (_described(_image(), type="complex64"), (9, 2), "pixel type"),
    "corrupt lz4": (_corrupt(_image("lz4<"), 8), (9, 2), "corrupt lz4<"),
    "corrupt bitshuffle-lz4": (_corrupt(_image("bs32-lz4<"), 20), (9, 2), "corrupt bs32-lz4<"),
    "bitshuffle header size lies": (_bslz4_header(2**40, 8192), (9, 2), "header says 1,099,511,627,776 bytes"),
    "unknown htype": ([b'{"htype": "dflatfield-2.0", "series": 9}'], (9, -1), "unknown htype"),
    "header part missing": (simplon.encode_header(9, "all", {}, np.zeros((37, 53), bool))[:5], (9, -1),
                            "needs 8 parts"),
    "simple: pixel part missing": (simple_protocol.encode(pixels("int32"), 4)[:1], (None, 4), "expected 2"),
    "simple: size mismatch": ([simple_protocol.encode(pixels("int32"), 4)[0], b"\0" * 10], (None, 4), "needs"),
    "simple: no frame id": ([b'{"shape": [2, 2], "dtype": "<i4"}', b"\0" * 16], (None, -1), "frame"),
    "simple: huge shape": ([b'{"shape": [65536, 65536], "dtype": "<u4", "frame": 4}', b"\0" * 100], (None, 4),
                           LIMIT),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_message_becomes_an_error_record(case):
    parts, (series, frame), text = MALFORMED[case]
    handler = MessageHandler(ENDPOINT)
    item = handler.handle(parts, 1.0)
    assert isinstance(item, Rejected), item
    assert item.frame == frame and text in item.message and item.message.startswith("malformed")
    assert item.source == (ENDPOINT if series is None else f"{ENDPOINT} series {series}")
    assert handler.counts.malformed == 1
    good = handler.handle(_image(series=9, frame=3), 2.0)  # the stream goes on
    assert isinstance(good, Frame) and good.frame_id == 3


def _fake_tables():
    """An ``all`` header as the eiger-simulator emulator sends it: placeholder text for every table blob."""
    parts = simplon.encode_header(9, "all", {}, np.zeros((37, 53), bool))
    for index, what in ((3, b"flatfield"), (5, b"pixelmask"), (7, b"countrate-table")):
        parts[index] = what + b"-data-blob-here"
    return parts


@pytest.mark.parametrize("parts, said", [
    (_huge_mask(), f"pixel mask (parts 5-6) unusable: 65536x65536 uint32 would take 16 GiB, {LIMIT}"),
    (_fake_tables(), "flat field (parts 3-4) unusable: raw data is 24 bytes, 53x37 float32 needs 7844"),
])
def test_an_undecodable_header_table_is_a_warning_once_and_the_series_is_classified(parts, said, caplog):
    """Rows are frames: a header whose optional tables cannot be decoded gives no row, one warning."""
    handler = MessageHandler(ENDPOINT)
    with caplog.at_level(logging.WARNING):
        assert handler.handle(parts, 0.0) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and said in warnings[0] and "series 9" in warnings[0], warnings
    assert "mask from the pixel values" in warnings[0] and "Error" not in warnings[0]
    frames = [handler.handle(_image(series=9, frame=i), 1.0) for i in range(3)]
    assert all(isinstance(f, Frame) and f.mask is None for f in frames)
    assert handler.counts.malformed == 0 and handler.progress.header


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32"])
def test_bitshuffle_blob_without_its_header_is_decoded_when_the_block_chain_is_unambiguous(dtype):
    """Emulators send ``bitshuffle.compress_lz4`` output without the 12-byte header real detectors send."""
    import bitshuffle

    data = np.random.default_rng(3).integers(0, 200, (37, 53)).astype(dtype)
    encoding = f"bs{8 * data.dtype.itemsize}-lz4<"
    headerless = bitshuffle.compress_lz4(data).tobytes()
    handler = MessageHandler(ENDPOINT)
    frame = handler.handle(simplon.encode_image(9, 0, data, encoding, blob=headerless), 1.0)
    assert isinstance(frame, Frame)
    np.testing.assert_array_equal(frame.data, data)
    cut = handler.handle(simplon.encode_image(9, 1, data, encoding, blob=headerless[:-3]), 2.0)
    assert isinstance(cut, Rejected) and cut.message.startswith(f"malformed message: {encoding}")


def test_series_without_header_is_classified_and_the_header_mask_stays_with_its_series():
    handler = MessageHandler(ENDPOINT)
    mid = handler.handle(_image(series=5, frame=40), 1.0)  # joined mid-series: no header seen
    assert isinstance(mid, Frame) and mid.source == f"{ENDPOINT} series 5" and mid.mask is None
    mask = np.zeros((37, 53), bool)
    mask[0, 0] = True
    assert handler.handle(simplon.encode_header(6, "all", {}, mask), 2.0) is None
    frame = handler.handle(_image(series=6, frame=0), 3.0)
    np.testing.assert_array_equal(frame.mask, mask)
    assert handler.handle(simplon.encode_end(6), 4.0) is None
    later = handler.handle(_image(series=7, frame=0), 5.0)  # series 7's header was missed: not series 6's mask
    assert later.mask is None


def test_unsigned_maximum_marks_masked_pixels_and_gaps_count_missing_frames():
    handler = MessageHandler(ENDPOINT)
    handler.handle(simplon.encode_header(1, "basic", {}), 0.0)
    data = pixels("uint32")
    data[2, 3] = 2**32 - 1
    frame = handler.handle(simplon.encode_image(1, 0, data, "bs32-lz4<"), 1.0)
    assert frame.mask[2, 3] and frame.mask.sum() == 1
    handler.handle(_image(series=1, frame=4), 2.0)  # frames 1-3 went elsewhere (another client) or were lost
    assert (handler.counts.received, handler.counts.missing) == (2, 3)


def test_endpoints_are_loopback_unless_configured():
    for ok in ("tcp://127.0.0.1:9999", "tcp://localhost:1", "tcp://[::1]:5", "tcp://127.0.0.2:7", "ipc:///tmp/x"):
        check_endpoint(ok)
    for bad in ("tcp://10.0.0.5:9999", "tcp://*:9999", "tcp://eiger-dcu:9999", "tcp://0.0.0.0:1", "udp://x"):
        with pytest.raises(ConfigError):
            check_endpoint(bad)
    check_endpoint("tcp://eiger-dcu:9999", ("tcp://eiger-dcu:9999",))
    for beyond in ("tcp://127.0.0.1:99999", "tcp://127.0.0.1:0"):  # ZeroMQ would bind 99999 mod 65536 = 34463
        with pytest.raises(ConfigError, match=f"endpoint {beyond}: port .* is out of range"):
            check_endpoint(beyond, (beyond,))


# --- the receiver on a real socket -----------------------------------------------------------------------

def _publish_in_thread(endpoint, msgs):
    thread = threading.Thread(target=publisher.send, args=(endpoint, msgs))
    thread.start()
    return thread


def test_receiver_survives_publisher_restarts_in_both_protocols():
    endpoint = free_endpoint()
    source = StreamSource(endpoint, Stream(queue_size=100))
    source.start()
    try:
        frames = [pixels("int32") for _ in range(4)]
        for protocol, encoding, series in (("simplon", "bslz4", 1), ("simple", "none", 0), ("simplon", "lz4", 2)):
            _publish_in_thread(endpoint, publisher.messages(frames, protocol, encoding, series)).join()
        got, rejected = take_all(source, 12, 10.0)
    finally:
        source.stop()
        source.join()
    assert not rejected and len(got) == 12
    assert [f.source for f in got] == [f"{endpoint} series 1"] * 4 + [endpoint] * 4 + [f"{endpoint} series 2"] * 4
    for frame in got:
        np.testing.assert_array_equal(frame.data, frames[frame.frame_id])


def test_full_queue_drops_frames_with_a_record_and_stop_drains_what_arrived():
    endpoint = free_endpoint()
    source = StreamSource(endpoint, Stream(queue_size=3))
    source.start()
    frames = [pixels("uint16") for _ in range(8)]
    _publish_in_thread(endpoint, publisher.messages(frames, "simplon", "<")).join()
    deadline = time.monotonic() + 10
    while source.counts.received < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    source.stop()
    got, rejected = take_all(source, 8, 10.0)
    source.join()
    assert [f.frame_id for f in got] == [0, 1, 2]
    assert [r.frame for r in rejected] == [3, 4, 5, 6, 7] and "dropped" in rejected[0].message
    assert source.counts.dropped == 5


def test_malformed_messages_from_a_raw_socket_do_not_stop_the_receiver():
    endpoint = free_endpoint()
    source = StreamSource(endpoint, Stream())
    source.start()
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.linger = 1000
    push.bind(endpoint)
    try:
        for parts, _, _ in MALFORMED.values():
            push.send_multipart(parts)
        push.send_multipart(_image(series=9, frame=7))
        got, rejected = take_all(source, len(MALFORMED) + 1, 10.0)
    finally:
        push.close()
        source.stop()
        source.join()
    assert len(rejected) == len(MALFORMED) and all(r.message.startswith("malformed") for r in rejected)
    assert [f.frame_id for f in got] == [7]
    assert source.counts.malformed == len(MALFORMED)


# --- gisaxs-live stream and publish as processes -----------------------------------------------------------

CLI = [sys.executable, "-m", "gisaxs_live.cli"]
N_CBF = 3
CLASSIFIED = ("ok", "unknown", "no_signal")  # the statuses of a frame that went through the classifier


@pytest.fixture(scope="module")
def detector_files(tmp_path_factory) -> dict[str, list[Path]]:
    """Pilatus 1M growth-series CBFs (int32) and a three-frame uint16 EDF of the same frames."""
    from fabio.edfimage import EdfImage

    from gisaxs_live.config import load_config
    from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config

    path = tmp_path_factory.mktemp("frames")
    series = GrowthSeries(demo_config(load_config()), N_CBF)
    cbfs = []
    for i in range(N_CBF):
        cbfs.append(path / f"growth_{i:05d}.cbf")
        cbfs[-1].write_bytes(cbf_bytes(series.frame(i)))
    frames = [np.clip(series.frame(i), 0, None).astype(np.uint16) for i in range(N_CBF)]
    edf = EdfImage(data=frames[0])
    for frame in frames[1:]:
        edf.append_frame(data=frame)
    edf.write(str(path / "multi.edf"))
    return {"cbf": cbfs, "edf": [path / "multi.edf"]}


def _start_stream(endpoint: str, csv_path: Path, model: Path) -> subprocess.Popen:
    config = csv_path.with_suffix(".yaml")
    # a restarted publisher is found again quickly; counts are logged twice a second
    config.write_text("stream:\n  reconnect_max_s: 0.2\n  log_interval_s: 0.5\n"
                      "geometry: {distance_mm: 2000, direct_beam_px: [490, 900]}\n")  # the demo's Pilatus 1M
    return subprocess.Popen([*CLI, "stream", "--no-dashboard", "--config", str(config), "--csv", str(csv_path),
                             "--model", str(model), endpoint], stderr=subprocess.PIPE, text=True)


def _publish(endpoint: str, files, *options: str) -> None:
    subprocess.run([*CLI, "publish", "--endpoint", endpoint, "--rate", "0", *options, *map(str, files)],
                   check=True, timeout=60, capture_output=True)


def _rows(csv_path: Path) -> list[dict[str, str]]:
    if not csv_path.exists():
        return []
    with open(csv_path, newline="") as fh:
        return list(csv.DictReader(fh))


def _wait_rows(csv_path: Path, n: int, timeout: float = 60.0) -> list[dict[str, str]]:
    end = time.monotonic() + timeout
    while len(rows := _rows(csv_path)) < n and time.monotonic() < end:
        time.sleep(0.1)
    return rows


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-3000:]
    return err


def test_stream_classifies_every_frame_of_every_protocol_encoding_and_restarted_publisher(
        tmp_path, model_dir, detector_files):
    endpoint, csv_path = free_endpoint(), tmp_path / "stream.csv"
    proc = _start_stream(endpoint, csv_path, model_dir)
    try:
        runs = [(detector_files["cbf"], ["--encoding", enc, "--series", str(i)])
                for i, enc in enumerate(["<", "lz4<", "bs32-lz4<"], start=1)]
        runs += [(detector_files["edf"], ["--encoding", "bs16-lz4<", "--series", "4", "--header-detail", "all"]),
                 (detector_files["cbf"], ["--protocol", "simple"])]
        for files, options in runs:  # each publish process binds, sends one series and exits: a restart
            _publish(endpoint, files, *options)
        push = zmq.Context.instance().socket(zmq.PUSH)  # then a broken "detector" on the same endpoint
        push.linger = 2000
        push.bind(endpoint)
        for parts, _, _ in MALFORMED.values():
            push.send_multipart(parts)
        push.close()
        expected = 5 * N_CBF + len(MALFORMED)
        rows = _wait_rows(csv_path, expected)
    finally:
        err = _stop(proc)
    assert len(rows) == expected, err[-3000:]
    good, bad = rows[:5 * N_CBF], rows[5 * N_CBF:]
    sources = [f"{endpoint} series {s}" for s in (1, 2, 3, 4)] + [endpoint]
    assert [(r["source"], int(r["frame"])) for r in good] == [(s, i) for s in sources for i in range(N_CBF)]
    assert all(r["status"] in CLASSIFIED for r in good), [r["message"] for r in good]
    assert all(r["status"] == "error" and r["message"].startswith("malformed") for r in bad)
    handler = MessageHandler(endpoint)  # which malformed messages were frames (SIMPLON images, simple frames)
    for parts, _, _ in MALFORMED.values():
        handler.handle(parts, 0.0)
    received = 5 * N_CBF + handler.counts.received
    assert f"received {received}, classified {5 * N_CBF}, malformed {len(MALFORMED)}, dropped 0" in err
    assert err.count("INFO received ") >= 2  # periodically, and once more at the end


def _gated(msgs, open_after: int, gate: threading.Event):
    """``msgs``, holding back all but the first ``open_after`` until ``gate`` is set."""
    for i, msg in enumerate(msgs):
        if i == open_after:
            assert gate.wait(60)
        yield msg


def test_sigterm_with_frames_in_flight_loses_none(tmp_path, model_dir, detector_files):
    """The stream process is frozen (SIGSTOP) after frame 0, the rest is pushed at it, and SIGTERM is
    pending when it resumes: every other frame is in flight when the stop is asked for, yet all get rows."""
    endpoint, csv_path = free_endpoint(), tmp_path / "stream.csv"
    proc = _start_stream(endpoint, csv_path, model_dir)
    repeat = 12
    n = repeat * N_CBF
    msgs = publisher.messages(publisher.replay_frames(detector_files["cbf"]), "simplon", "<", repeat=repeat)
    gate, sent = threading.Event(), []
    thread = threading.Thread(target=lambda: sent.append(publisher.send(endpoint, _gated(msgs, 2, gate))),
                              daemon=True)  # a lost frame leaves it blocked: the test fails, not hangs
    thread.start()  # the series header and frame 0, then the rest once the gate opens
    try:
        assert len(_wait_rows(csv_path, 1)) == 1
        proc.send_signal(signal.SIGSTOP)
        gate.set()
        time.sleep(0.5)  # the publisher fills ZeroMQ's and the kernel's buffers towards the frozen process
        assert len(_rows(csv_path)) == 1
    finally:
        gate.set()
        proc.send_signal(signal.SIGTERM)  # pending until the process resumes
        proc.send_signal(signal.SIGCONT)
        thread.join(timeout=60)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert sent == [n]
    rows = _rows(csv_path)
    assert [int(r["frame"]) for r in rows] == list(range(n)), err[-3000:]
    assert all(r["status"] in CLASSIFIED for r in rows), [r["message"] for r in rows]
    assert f"received {n}, classified {n}, malformed 0, dropped 0" in err


def test_a_stream_stalled_longer_than_its_keepalive_loses_no_image_and_no_end(tmp_path, model_dir, detector_files):
    """The stream process frozen (SIGSTOP) for 5 s, longer than 3 keepalive intervals, while a 5 Hz series arrives:
    ZeroMQ's heartbeat, used before, timed out the moment the process ran again and closed the connection before
    the messages received meanwhile were read (a trial lost the last images and the end of 7 of 26 series)."""
    endpoint, csv_path = free_endpoint(), tmp_path / "stream.csv"
    proc = _start_stream(endpoint, csv_path, model_dir)
    n = 12 * N_CBF
    msgs = publisher.messages(publisher.replay_frames(detector_files["cbf"]), "stream2", "bslz4", repeat=12)
    sent = []
    thread = threading.Thread(target=lambda: sent.append(publisher.send(endpoint, msgs, rate_hz=5.0)), daemon=True)
    thread.start()
    try:
        assert len(_wait_rows(csv_path, 8)) >= 8
        proc.send_signal(signal.SIGSTOP)
        time.sleep(5.0)
        proc.send_signal(signal.SIGCONT)
        thread.join(timeout=60)
        rows = _wait_rows(csv_path, n, timeout=30)
    finally:
        proc.send_signal(signal.SIGCONT)
        err = _stop(proc)
    assert sent == [n]
    assert [int(r["frame"]) for r in rows] == list(range(n)), err[-3000:]
    assert "went away" not in err and "ended" in err, err[-3000:]


# --- the stream command's loop, in-process with a stand-in classifier ---------------------------------------

class _Classifier:
    """Stand-in for pipeline.Classifier: every frame ``ok`` with uniform probabilities."""

    def classify(self, frames):
        from gisaxs_live.results import Result, utc_now

        return [Result(f.source, f.frame_id, "ok", (0.125,) * 8, time_utc=utc_now()) for f in frames]

    def error(self, source, frame_id, message, t):
        from gisaxs_live.results import Result, utc_now

        return Result(source, frame_id, "error", message=message, time_utc=utc_now())


class _Recorder:
    critical = False

    def __init__(self):
        self.updates = []

    def update(self, update):
        self.updates.append(update)

    def close(self):
        pass


def test_monitor_writes_a_row_per_frame_and_error_and_shows_the_counts(tmp_path):
    from rich.console import Console

    from gisaxs_live.commands.stream import StreamMonitor
    from gisaxs_live.sinks.csvlog import CsvLog
    from gisaxs_live.sinks.dashboard import DashboardState, render

    endpoint, csv_path = free_endpoint(), tmp_path / "rows.csv"
    recorder = _Recorder()
    monitor = StreamMonitor(StreamSource(endpoint, Stream()), _Classifier, CsvLog(csv_path), [recorder])
    thread = threading.Thread(target=monitor.run)
    thread.start()
    try:
        _publish_in_thread(endpoint, publisher.messages([pixels("uint32")] * 3, "simplon", "bslz4", 2)).join()
        push = zmq.Context.instance().socket(zmq.PUSH)
        push.linger = 1000
        push.bind(endpoint)
        push.send_multipart(MALFORMED["unknown encoding"][0])
        push.close()
        rows = _wait_rows(csv_path, 4, timeout=10)
    finally:
        monitor.request_stop()
        thread.join(timeout=10)
    assert [(r["status"], r["frame"]) for r in rows] == [("ok", "0"), ("ok", "1"), ("ok", "2"), ("error", "2")]
    assert rows[-1]["source"] == f"{endpoint} series 9" and "unknown encoding" in rows[-1]["message"]
    line = recorder.updates[-1].source
    assert line.startswith("received 4, classified 3, malformed 1, dropped 0, missing 0")
    state = DashboardState()
    for update in recorder.updates:
        state.add(update)
    console = Console(width=160, record=True)
    console.print(render(state, time.time()))
    assert "received 4, classified 3, malformed 1, dropped 0" in console.export_text()


def test_stream_command_refuses_a_non_loopback_endpoint(tmp_path, capsys):
    from gisaxs_live.cli import main

    assert main(["stream", "--csv", str(tmp_path / "x.csv"), "tcp://192.0.2.7:9999"]) == 2
    assert "stream.allowed_endpoints" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_the_frames_waiting_are_bounded_in_bytes_as_in_number():
    """A review: each 1.5-MB message of a 16384 x 16384 uint8 image decoded to 256 MiB in the queue, and 64 of them
    (stream.queue_size) would have held 16 GiB. Past ``stream.max_queue_bytes`` a frame is dropped with its row."""
    endpoint = free_endpoint()
    source = StreamSource(endpoint, Stream(max_queue_bytes=2**20))
    source.start()
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.linger = 1000
    push.bind(endpoint)
    big = np.zeros((512, 1024), np.uint8)  # 0.5 MiB
    try:
        for i in range(5):
            push.send_multipart(simple_protocol.encode(big, i))
        deadline = time.monotonic() + 30
        while source.counts.received < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        frames, rejected = take_all(source, 5, 10.0)
    finally:
        push.close()
        source.stop()
        source.join()
    assert [f.frame_id for f in frames] == [0, 1]  # 1 MiB waiting: no room for a third
    assert [(r.frame, r.message) for r in rejected] == [
        (i, "dropped: the frames waiting for the classifier held 1 MiB (stream.max_queue_bytes); frame not decoded")
        for i in (2, 3, 4)]
    assert source.counts.dropped == 3


def test_an_ipv6_loopback_endpoint_connects():
    """A review: tcp://[::1]:PORT was taken as loopback but never connected (ZeroMQ's IPv6 option is off by
    default), and ``publish`` could not bind it ("No such device")."""
    import socket

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback here")
    endpoint = f"tcp://[::1]:{port}"
    source = StreamSource(endpoint, Stream())
    source.start()
    sender = threading.Thread(target=publisher.send, args=(endpoint, [publisher.Outgoing(
        simple_protocol.encode(pixels("int32"), i), True) for i in range(3)]), daemon=True)
    sender.start()
    try:
        frames, rejected = take_all(source, 3, 30.0)
    finally:
        sender.join(30)
        source.stop()
        source.join()
    assert [f.frame_id for f in frames] == [0, 1, 2] and rejected == []


def test_a_value_a_sender_controls_is_shown_short_whatever_it_is():
    """A review: ``shown`` walked lists only, so a map holding a bignum gave Python's "Exceeds the limit (4300
    digits)" text, a cyclic value (CBOR value sharing) "maximum recursion depth exceeded", and a shared value nested
    d levels deep took 8^d steps (hours at d = 12, the receiver stalled)."""
    from gisaxs_live.sources.shown import shown
    from gisaxs_live.sources.stream2 import Tagged

    cyclic: list = []
    cyclic.append(cyclic)
    shared: list = [1]
    for _ in range(30):
        shared = [shared] * 8
    started = time.monotonic()
    texts = [shown(v) for v in ({"type": 2**20000}, cyclic, shared, Tagged(40, [[2**20000, 2], b"\0" * 99]))]
    assert time.monotonic() - started < 1.0
    assert texts[0] == "{'type': (a 20,001-bit integer)}" and texts[1] == "[[[[...]]]]"
    assert texts[3].startswith("tag 40 of [[(a 20,001-bit integer), 2], b'")
    assert all(len(t) <= 60 for t in texts)


def test_a_connection_closed_before_the_handshake_is_tried_again_and_warned_of_only_when_it_recurs(caplog):
    """A review: a sender restarting may close one connection before ZeroMQ's handshake. Its retry timer outlived
    the handshake that followed, and a second later tore the working connection down (its queued messages lost);
    and it was warned of as a peer that is no PUSH socket. Now the warning comes at the second refusal in a row, and
    a handshake clears the retry."""
    source = StreamSource("tcp://127.0.0.1:5999", Stream())
    with caplog.at_level(logging.WARNING):
        source._connection(zmq.EVENT_DISCONNECTED)  # the TCP peer closed before the handshake
        assert source._retry_at is not None and not caplog.records
        source._connection(zmq.EVENT_HANDSHAKE_SUCCEEDED)  # ZeroMQ's own reconnect reached the PUSH socket
        assert source.connected and source._retry_at is None and not caplog.records
        source._connection(zmq.EVENT_DISCONNECTED)  # lost: ZeroMQ connects again itself
        assert source._retry_at is None and not source.connected
        for _ in range(3):  # a PUB socket there: refused at each try, said once
            source._connection(zmq.EVENT_DISCONNECTED)
    assert [r.getMessage() for r in caplog.records] == [
        "stream: tcp://127.0.0.1:5999: a peer there takes the connection but no ZeroMQ PUSH socket answers (a PUB or "
        "REQ socket, or no ZeroMQ at all): nothing can be received from it; the sender must be a PUSH socket (said "
        "once until one connects; tried again every 1 s)"]
