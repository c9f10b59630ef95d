"""DECTRIS Stream V2 (CBOR): decoding of every tag and pixel type, cross-checked against a decoder written
after DECTRIS's reference client (``stream_v2/examples/client.py``, here in the test, not the package);
malformed input as error rows; the start's pixel mask and channels; and ``gisaxs-live publish --protocol
stream2`` replayed over real ZeroMQ sockets into the stream source and into ``gisaxs-live stream``.

The dectris/documentation snapshot available to the project has no ``stream_v2/test_data/`` binaries, so
the messages here are built with cbor2's encoder and the real compressors (bitshuffle, lz4).
"""

from __future__ import annotations

import csv
import re
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import cbor2
import numpy as np
import pytest
import zmq

from gisaxs_live.publisher import replay as publisher
from gisaxs_live.config import Stream
from gisaxs_live.frame import Frame
from gisaxs_live.sources import stream2, stream2_encode
from gisaxs_live.sources.stream import MessageHandler, Rejected, StreamSource
from livehelp import free_endpoint, take_all

RNG = np.random.default_rng(23)
ENDPOINT = "tcp://127.0.0.1:31001"  # a name only, for handler tests
PIXEL_TYPES = ("uint8", "uint16", "uint32", "int32", "float32")
COMPRESSIONS = ("none", "bslz4", "lz4")
CLI = [sys.executable, "-m", "gisaxs_live.cli"]


# --- an independent decoder, after DECTRIS's client.py (cbor2 >= 6, dectris-compression) ---------------------

def _client_multi_dim_array(tag, column_major):
    dimensions, contents = tag.value
    if isinstance(contents, list):
        array = np.empty((len(contents),), dtype=object)
        array[:] = contents
    elif isinstance(contents, (np.ndarray, np.generic)):
        array = contents
    else:
        raise cbor2.CBORDecodeError("expected array or typed array")
    return array.reshape(dimensions, order="F" if column_major else "C")


def _client_typed_array(tag, dtype):
    if not isinstance(tag.value, bytes):
        raise cbor2.CBORDecodeError("expected byte string in typed array")
    return np.frombuffer(tag.value, dtype=dtype)


def _client_compression(tag):
    from dectris.compression import decompress

    algorithm, elem_size, encoded = tag.value
    return decompress(encoded, algorithm, elem_size=elem_size)


CLIENT_TYPED = {64: "u1", 65: ">u2", 66: ">u4", 67: ">u8", 68: "u1", 69: "<u2", 70: "<u4", 71: "<u8", 72: "i1",
                73: ">i2", 74: ">i4", 75: ">i8", 77: "<i2", 78: "<i4", 79: "<i8", 80: ">f2", 81: ">f4", 82: ">f8",
                84: "<f2", 85: "<f4", 86: "<f8"}  # client.py's table; 83 and 87 (>f16, <f16) left out: below


def client_loads(message: bytes):
    def tag_hook(tag, immutable):
        if tag.tag == 40:
            return _client_multi_dim_array(tag, column_major=False)
        if tag.tag == 1040:
            return _client_multi_dim_array(tag, column_major=True)
        if tag.tag == 56500:
            return _client_compression(tag)
        if tag.tag in CLIENT_TYPED:
            return _client_typed_array(tag, CLIENT_TYPED[tag.tag])
        return tag

    return cbor2.loads(message, tag_hook=tag_hook)


# --- helpers ------------------------------------------------------------------------------------------------


def pixels(dtype: str, shape: tuple[int, int] = (37, 53)) -> np.ndarray:
    """Poisson counts; signed types get a Pilatus-style gap (-1), the unsigned maximum is kept out."""
    data = RNG.poisson(20.0, shape).astype(dtype)
    if np.dtype(dtype).kind == "i":
        data[:, 10:13] = -1
    if np.dtype(dtype).kind == "f":
        data = data + np.float32(0.25)
    return data


def image_message(data: dict, series: int = 5, image_id: int = 2) -> bytes:
    return stream2_encode.image(series, image_id, data)


def raw_image(array_item, series: int = 5, image_id: int = 2, channel: str = "threshold_1") -> bytes:
    """An image message whose channel holds ``array_item`` (any CBOR item)."""
    return cbor2.dumps({"type": "image", "series_id": series, "image_id": image_id, "data": {channel: array_item}})


def md(dims, typed) -> cbor2.CBORTag:
    return cbor2.CBORTag(40, [dims, typed])


def compressed(algorithm, modifier, blob) -> cbor2.CBORTag:
    return cbor2.CBORTag(56500, [algorithm, modifier, blob])


def bszstd_blob(data: np.ndarray) -> bytes:
    """bitshuffle + Zstandard in the HDF5 framing, as dectris-compression 0.4's ``bszstd`` reads it."""
    import bitshuffle

    block = 8192 // data.itemsize
    return struct.pack(">QI", data.nbytes, 8192) + bitshuffle.compress_zstd(data.ravel(), block).tobytes()


def decode(message: bytes, channel: str | None = None):
    return stream2.parse(stream2.load(message), channel)


# --- decoding: every pixel type and compression, against the client-style decoder -------------------------

@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("dtype", PIXEL_TYPES)
def test_every_pixel_type_and_compression_matches_the_reference_client(dtype, compression):
    data = pixels(dtype)  # 37 rows x 53 columns: odd sizes leave a partial bitshuffle block
    message = image_message({"threshold_1": stream2_encode.array(data, compression)})
    ours = decode(message)
    theirs = client_loads(message)["data"]["threshold_1"]
    assert ours.data.shape == (37, 53) and ours.data.dtype == data.dtype and ours.channel == "threshold_1"
    assert theirs.shape == (37, 53) and theirs.dtype.newbyteorder("=") == data.dtype
    np.testing.assert_array_equal(ours.data, data)
    np.testing.assert_array_equal(ours.data, theirs)


@pytest.mark.parametrize("tag", sorted(CLIENT_TYPED))
def test_every_typed_array_tag_in_either_byte_order_matches_the_reference_client(tag):
    dtype = np.dtype(CLIENT_TYPED[tag])
    values = (np.arange(6 * 7) - (20 if dtype.kind in "if" else 0)).astype(dtype.newbyteorder("="))
    message = raw_image(md([6, 7], cbor2.CBORTag(tag, values.astype(dtype).tobytes())))
    ours = decode(message).data
    theirs = client_loads(message)["data"]["threshold_1"]
    assert ours.dtype.isnative and ours.shape == (6, 7)
    assert ours.dtype == (np.float32 if dtype.kind == "f" and dtype.itemsize == 2 else dtype.newbyteorder("="))
    np.testing.assert_array_equal(ours, theirs.astype(ours.dtype))
    np.testing.assert_array_equal(ours, values.reshape(6, 7))


def test_column_major_tag_1040_is_read_as_the_client_does():
    values = np.arange(12, dtype="<u4")
    message = raw_image(cbor2.CBORTag(1040, [[3, 4], cbor2.CBORTag(70, values.tobytes())]))
    ours = decode(message).data
    np.testing.assert_array_equal(ours, client_loads(message)["data"]["threshold_1"])
    np.testing.assert_array_equal(ours, values.reshape((3, 4), order="F"))


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "int32", "float32"])
def test_bszstd_of_dectris_compression_0_4_matches_the_reference_client(dtype):
    data = pixels(dtype)
    tag = stream2_encode.TAG_OF[dtype]
    message = raw_image(md([37, 53], cbor2.CBORTag(tag, compressed("bszstd", data.itemsize, bszstd_blob(data)))))
    np.testing.assert_array_equal(decode(message).data, data)
    np.testing.assert_array_equal(client_loads(message)["data"]["threshold_1"], data)


def test_compressed_pixel_mask_and_typed_arrays_of_the_start_message_match_the_reference_client():
    mask = np.zeros((37, 53), bool)
    mask[3, 40] = mask[36, 0] = True
    message = stream2_encode.start(4, (37, 53), np.dtype("uint32"), 9, ("threshold_1", "threshold_2"), mask, "bslz4")
    start = decode(message)
    theirs = client_loads(message)
    assert (start.series, start.expected) == (4, 9)
    np.testing.assert_array_equal(start.pixel_mask, mask)
    np.testing.assert_array_equal(start.pixel_mask, theirs["pixel_mask"]["threshold_1"] != 0)
    np.testing.assert_array_equal(theirs["flatfield"]["threshold_2"], np.ones((37, 53), np.float32))
    assert theirs["countrate_correction_lookup_table"].dtype == np.dtype("<u4")


def test_messages_carry_the_spec_fields_type_first():
    """Field names and CBOR types of stream_v2/README.md, as the reference client sees them."""
    import datetime as dt

    start = client_loads(stream2_encode.start(1, (3, 4), np.dtype("int32"), 2, pixel_mask=np.zeros((3, 4))))
    assert list(start)[0] == "type" and start["type"] == "start"
    spec_start = {"arm_date", "beam_center_x", "beam_center_y", "channels", "count_time",
                  "countrate_correction_enabled", "countrate_correction_lookup_table", "detector_description",
                  "detector_serial_number", "detector_translation", "flatfield", "flatfield_enabled", "frame_time",
                  "goniometer", "image_dtype", "image_size_x", "image_size_y", "incident_energy",
                  "incident_wavelength", "number_of_images", "pixel_mask", "pixel_mask_enabled", "pixel_size_x",
                  "pixel_size_y", "saturation_value", "sensor_material", "sensor_thickness", "series_id",
                  "series_unique_id", "threshold_energy", "user_data", "virtual_pixel_interpolation_enabled"}
    assert set(start) - {"type"} == spec_start
    assert isinstance(start["arm_date"], dt.datetime) and start["arm_date"].tzinfo is not None
    assert (start["image_size_x"], start["image_size_y"], start["image_dtype"]) == (4, 3, "int32")
    image = client_loads(stream2_encode.image(1, 0, {"threshold_1": stream2_encode.array(np.zeros((3, 4), "i4"))},
                                              100, 300))
    assert list(image) == ["type", "data", "image_id", "real_time", "series_date", "series_id", "series_unique_id",
                           "start_time", "stop_time", "user_data"]
    assert list(image["real_time"]) == [200, 10**9] and list(image["start_time"]) == [100, 10**9]
    end = client_loads(stream2_encode.end(1, "abc"))
    assert end == {"type": "end", "series_id": 1, "series_unique_id": "abc"}


def test_messages_behind_the_self_describe_tag_as_dectris_sends_them_are_read():
    """DECTRIS's test data (dectris/documentation stream_v2/test_data/) start every message with the self-describe
    tag 55799 (d9 d9 f7), under which cbor2 6 gives immutable maps and arrays: every real message was an error row
    ("CBOR but not a map"). The replay side now sends the tag too; the same bytes without it read the same."""
    data = pixels("uint16")
    handler = MessageHandler(ENDPOINT)
    start = stream2_encode.start(9, (37, 53), np.dtype("uint16"), 2, pixel_mask=np.zeros((37, 53)), compress="bslz4")
    assert start[:3] == b"\xd9\xd9\xf7"
    assert handler.handle([start], 0.0) is None and handler.progress.expected == 2
    tagged = image_message({"threshold_1": stream2_encode.array(data, "bslz4")}, 9, 0)
    assert tagged[:3] == b"\xd9\xd9\xf7"
    frames = [handler.handle([message], 1.0) for message in (tagged, tagged[3:])]
    for frame in frames:
        assert isinstance(frame, Frame), frame
        np.testing.assert_array_equal(frame.data, data)
    assert handler.handle([stream2_encode.end(9)], 2.0) is None


def test_the_chosen_channel_is_decoded_and_the_others_are_not():
    first, second = pixels("uint16"), pixels("uint16")
    corrupt = md([37, 53], cbor2.CBORTag(69, compressed("bslz4", 2, b"\0" * 40)))  # would fail if decoded
    message = image_message({"threshold_1": stream2_encode.array(first), "threshold_2": stream2_encode.array(second),
                             "threshold_3": corrupt})
    np.testing.assert_array_equal(decode(message).data, first)
    image = decode(message, "threshold_2")
    assert image.channel == "threshold_2"
    np.testing.assert_array_equal(image.data, second)
    with pytest.raises(stream2.Stream2Error, match="channel threshold_3: bslz4 header says 0 bytes"):
        decode(message, "threshold_3")


# --- malformed input: an error row, and the next good image its row -----------------------------------------

GOOD = pixels("uint32")
BSLZ4 = stream2_encode.compression.compress(GOOD, "bslz4")[2]
LZ4 = stream2_encode.compression.compress(GOOD, "lz4")[2]
HUGE = [65536, 65536]  # 16 GiB of uint32
LIMIT = "more than the limit of 256 MiB (stream.max_image_bytes)"
WHERE = "series 5 image 2 channel threshold_1"


def _typed(payload, tag=70, dims=(37, 53)):
    return raw_image(md(list(dims), cbor2.CBORTag(tag, payload)))


def _flipped(blob: bytes, at: int) -> bytes:
    out = bytearray(blob)
    out[at:at + 64] = b"\xff" * 64
    return bytes(out)


MALFORMED = {
    # not CBOR, or not a Stream V2 message
    "truncated CBOR map": (image_message({"threshold_1": stream2_encode.array(GOOD)})[:-100], "", "not CBOR"),
    "random bytes after a map head": (b"\xbf" + RNG.bytes(200), "", "not CBOR"),
    "deeply nested CBOR": (b"\xa1\x61a" + b"\x81" * 1000 + b"\x00", "", "not CBOR"),
    "CBOR but not a map": (cbor2.dumps(cbor2.CBORTag(40, [1, 2])), "", "CBOR but tag 40, not the map"),
    "CBOR array": (cbor2.dumps([{"type": "end"}]), "", "CBOR but an array, not the map"),
    "unknown type": (cbor2.dumps({"type": "flatfield", "series_id": 5}), "series 5", "unknown message type"),
    "no type": (cbor2.dumps({"series_id": 5, "image_id": 2}), "series 5 image 2", "unknown message type None"),
    # values cbor2 gives as Python objects, and its texts naming Python classes: said in CBOR's words
    "type a simple value": (cbor2.dumps({"type": cbor2.CBORSimpleValue(255)}), "", "type simple value 255 ("),
    "type a date-time": (cbor2.dumps({"type": cbor2.CBORTag(1, 5)}), "", "type date-time 1970-01-01T00:00:05+00:00"),
    "type a regular expression": (cbor2.dumps({"type": cbor2.CBORTag(35, "a.*")}), "",
                                  "type regular expression 'a.*'"),
    "a bignum of text": (cbor2.dumps({"type": cbor2.CBORTag(2, "x")}), "",
                         "bignum value must be a byte string, not a text string"),
    "a date-time of an array": (cbor2.dumps({"type": cbor2.CBORTag(0, [1])}), "",
                                "expected string for tag, got an array instead"),
    # missing or mistyped fields
    "image without image_id": (cbor2.dumps({"type": "image", "series_id": 5, "data": {}}), "series 5",
                               "image message has no image_id field"),
    "image without series_id": (cbor2.dumps({"type": "image", "image_id": 2, "data": {}}), "image 2",
                                "image message has no series_id field"),
    "image without data": (cbor2.dumps({"type": "image", "series_id": 5, "image_id": 2}), "series 5 image 2",
                           "no data field"),
    "negative image_id": (cbor2.dumps({"type": "image", "series_id": 5, "image_id": -2, "data": {}}), "series 5",
                          "image_id -2 is not an integer from 0 to 2^64 - 1"),
    # CBOR bignums: Python writes no integer of more than 4,300 digits, and a series id of 2**20000 ended the process
    "series_id beyond 64 bits": (cbor2.dumps({"type": "image", "series_id": 2**20000, "image_id": 2, "data": {}}),
                                 "image 2", "series_id (a 20,001-bit integer) is not an integer from 0 to 2^64 - 1"),
    "image_id a negative bignum": (cbor2.dumps({"type": "image", "series_id": 5, "image_id": -(2**20000),
                                                "data": {}}), "series 5",
                                   "image_id (a negative 20,001-bit integer) is not an integer from 0 to 2^64 - 1"),
    "type a bignum": (cbor2.dumps({"type": 2**20000, "series_id": 5}), "series 5",
                      "unknown message type (a 20,001-bit integer)"),
    "dimensions bignums": (raw_image(md([2**20000, 53], cbor2.CBORTag(70, b""))), WHERE,
                           "dimensions [(a 20,001-bit integer), 53] are not [rows, columns] of positive integers up to "
                           "2,147,483,647"),
    "data not a map": (cbor2.dumps({"type": "image", "series_id": 5, "image_id": 2, "data": [1]}),
                       "series 5 image 2", "not a map of channel names"),
    "no channels": (cbor2.dumps({"type": "image", "series_id": 5, "image_id": 2, "data": {}}), "series 5 image 2",
                    "image data has no channels"),
    "channel not an array": (raw_image(b"\0" * 16), WHERE, "not a multi-dimensional array"),
    "dimensions not two": (raw_image(md([37, 53, 1], cbor2.CBORTag(70, b""))), WHERE, "not [rows, columns]"),
    "plain array, not typed": (raw_image(md([1, 2], [1, 2])), WHERE, "holds no typed array"),
    "typed array of text": (_typed("text"), WHERE, "holds a text string, not a byte string"),
    # the shape against the data
    "raw data short of its shape": (_typed(GOOD.tobytes()[:-4]), WHERE, "data is 7,840 bytes, the dimensions need 7,844"),
    "raw data longer than its shape": (_typed(GOOD.tobytes() + b"\0" * 4), WHERE, "the dimensions need 7,844"),
    "huge shape, raw": (_typed(b"\0" * 100, dims=HUGE), WHERE, f"65536x65536 uint32 would take 16 GiB, {LIMIT}"),
    "huge shape, bslz4": (_typed(compressed("bslz4", 4, BSLZ4), dims=HUGE), WHERE, LIMIT),
    "huge shape, lz4": (_typed(compressed("lz4", 0, LZ4), dims=HUGE), WHERE, LIMIT),
    "astronomic shape": (_typed(compressed("lz4", 0, LZ4), dims=(2**31 - 1, 2**31 - 1)), WHERE, LIMIT),
    "bslz4 header size against the shape": (_typed(compressed("bslz4", 4, struct.pack(">QI", 2**40, 8192) + BSLZ4[12:])),
                                            WHERE, "header says 1,099,511,627,776 bytes, the declared shape needs"),
    "bslz4 for another shape": (_typed(compressed("bslz4", 4, BSLZ4), dims=(53, 37 * 2)), WHERE, "header says 7,844"),
    "lz4 header size against the shape": (_typed(compressed("lz4", 0, struct.pack(">QI", 2**33, 8192) + LZ4[12:])),
                                          WHERE, "lz4 header says 8,589,934,592 bytes, the array needs 7,844"),
    "bslz4 block size not 8 pixels": (_typed(compressed("bslz4", 4, struct.pack(">QI", 7844, 8188) + BSLZ4[12:])),
                                      WHERE, "block size of 8,188 bytes"),
    "lz4 block size zero": (_typed(compressed("lz4", 0, struct.pack(">QI", 7844, 0) + LZ4[12:])), WHERE,
                            "block size of 0 bytes"),
    "bslz4 too short for its shape": (_typed(compressed("bslz4", 4, BSLZ4[:14]), dims=(2000, 2000)), WHERE,
                                      "header says 7,844"),
    "lz4 too short for 255-fold": (_typed(compressed("lz4", 0, struct.pack(">QI", 8192 * 8192 * 4, 8192)
                                                     + b"\0" * 20), dims=(8192, 8192)), WHERE,
                                   "lz4 data of 20 bytes cannot hold 268,435,456 bytes"),
    "compressed blob shorter than its header": (_typed(compressed("lz4", 0, b"\0" * 5)), WHERE,
                                                "shorter than its 12-byte header"),
    "bslz4 element size against the type": (_typed(compressed("bslz4", 2, BSLZ4)), WHERE,
                                            "bslz4 element size 2 does not fit the array's 4-byte elements"),
    # unknown compression, corrupt blobs
    "unknown compression": (_typed(compressed("zstd", 0, BSLZ4)), WHERE, "unknown compression 'zstd'"),
    "trpx is refused unchecked": (_typed(compressed("trpx", 4, BSLZ4)), WHERE, "compression 'trpx' is not supported"),
    "compression not a triple": (_typed(cbor2.CBORTag(56500, ["bslz4", BSLZ4])), WHERE, "not [algorithm, modifier"),
    "corrupt bslz4": (_typed(compressed("bslz4", 4, _flipped(BSLZ4, 20))), WHERE, "corrupt bslz4"),
    "corrupt lz4": (_typed(compressed("lz4", 0, _flipped(LZ4, 16))), WHERE, "corrupt lz4"),
    "corrupt bszstd": (_typed(compressed("bszstd", 4, _flipped(bszstd_blob(GOOD), 20))), WHERE, "corrupt bszstd"),
    # unknown tags
    "unknown array tag": (raw_image(cbor2.CBORTag(41, [[37, 53], cbor2.CBORTag(70, GOOD.tobytes())])), WHERE,
                          "unknown tag 41 where a multi-dimensional array (tag 40) belongs"),
    "reserved typed-array tag 76": (_typed(GOOD.tobytes(), tag=76), WHERE,
                                    "unknown tag 76 where a typed array (tags 64-87) belongs"),
    "typed-array tag beyond 87": (_typed(GOOD.tobytes(), tag=88), WHERE, "unknown tag 88"),
    "unknown tag for the bytes": (_typed(cbor2.CBORTag(57000, ["x", 0, b""])), WHERE,
                                  "unknown tag 57000 where a byte string or compressed data (tag 56500) belongs"),
    "128-bit floats": (_typed(b"\0" * 37 * 53 * 16, tag=87), WHERE, "128-bit floats (tag 87)"),
}


MALFORMED_TEXTS = [text for _, _, text in MALFORMED.values()]


def _handler() -> MessageHandler:
    handler = MessageHandler(ENDPOINT)
    assert handler.handle([stream2_encode.start(5, (37, 53), np.dtype("uint32"), 10)], 0.0) is None
    return handler


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_message_becomes_an_error_row_and_the_next_image_its_row(case):
    message, where, text = MALFORMED[case]
    handler = _handler()
    item = handler.handle([message], 1.0)
    assert isinstance(item, Rejected), item
    assert item.message.startswith("malformed message: ") and text in item.message, item.message
    assert "\n" not in item.message and "Error" not in item.message  # one line, no exception class names
    assert not re.search(r"<class|CBOR[A-Z]|datetime\.|re\.compile", item.message)  # nor Python's reprs
    assert item.source == " ".join(filter(None, [ENDPOINT, where]))
    assert item.frame == (2 if "image 2" in where else -1)
    assert handler.counts.malformed == 1
    good = handler.handle([image_message({"threshold_1": stream2_encode.array(GOOD, "bslz4")}, 5, 3)], 2.0)
    assert isinstance(good, Frame) and good.frame_id == 3 and good.source == f"{ENDPOINT} series 5 image 3 channel threshold_1"
    np.testing.assert_array_equal(good.data, GOOD)


def test_a_pixel_mask_that_cannot_be_used_is_a_warning_and_the_series_goes_on(caplog):
    start = dict(cbor2.loads(stream2_encode.start(5, (37, 53), np.dtype("uint32"), 2, pixel_mask=np.zeros((37, 53)))))
    start["pixel_mask"] = {"threshold_1": None}
    start["pixel_mask"]["threshold_1"] = md([37, 53], cbor2.CBORTag(70, compressed("bslz4", 4, b"\0" * 40)))
    handler = MessageHandler(ENDPOINT)
    with caplog.at_level("WARNING"):
        assert handler.handle([cbor2.dumps(start)], 0.0) is None
    assert "pixel mask of channel threshold_1" in caplog.text and "mask from the pixel values" in caplog.text
    frame = handler.handle([image_message({"threshold_1": stream2_encode.array(GOOD)}, 5, 0)], 1.0)
    assert isinstance(frame, Frame) and frame.mask is None
    assert handler.progress.expected == 2 and handler.progress.header


def test_a_pixel_mask_of_another_shape_than_the_images_is_said_once(caplog):
    """A review: a start's mask of 53 x 37 for images of 37 x 53 was dropped without a word."""
    handler = MessageHandler(ENDPOINT)
    start = stream2_encode.start(5, (37, 53), np.dtype("uint32"), 2, pixel_mask=np.ones((53, 37)))
    with caplog.at_level("WARNING"):
        assert handler.handle([start], 0.0) is None
        frames = [handler.handle([image_message({"threshold_1": stream2_encode.array(GOOD)}, 5, i)], 1.0)
                  for i in range(2)]
    assert all(isinstance(f, Frame) and f.mask is None for f in frames)
    assert [r.getMessage() for r in caplog.records] == [
        f"{ENDPOINT}: series 5: its pixel mask is 37x53 pixels, its images 53x37: classified without the detector's "
        "mask (the pixels at the type's maximum are masked)"]


def test_a_message_of_several_parts_on_a_stream2_stream_is_said_to_be_no_stream2_message():
    """A review: after V2 messages, a V2 image sent in two parts got "part 1 is not JSON ('utf-8' codec can't
    decode byte 0xa3 ...)"."""
    handler = _handler()
    message = image_message({"threshold_1": stream2_encode.array(GOOD)}, 5, 2)
    item = handler.handle([message[:10], message[10:]], 1.0)
    assert isinstance(item, Rejected)
    assert item.message == ("malformed message: message has 2 parts; Stream V2 sends one CBOR part (the stream's "
                            "last messages were V2)")


@pytest.mark.parametrize("before", [b"", b" \n", b"\xef\xbb\xbf"])
def test_a_json_message_after_stream2_messages_is_read_as_json_whatever_white_space_or_mark_it_starts_with(before):
    """A trial: after a V2 series, a simple-protocol frame whose header began with a space or a UTF-8 byte-order
    mark (which the JSON reader takes) was a malformed-message row instead of its frame."""
    from gisaxs_live.sources import simple_protocol

    handler = _handler()
    handler.handle([stream2_encode.end(5)], 1.0)
    header, pixels_part = simple_protocol.encode(GOOD, 7, source="cam")
    frame = handler.handle([before + header, pixels_part], 2.0)
    assert isinstance(frame, Frame) and frame.frame_id == 7, getattr(frame, "message", frame)
    np.testing.assert_array_equal(frame.data, GOOD)


def test_the_start_pixel_mask_masks_its_series_and_the_configured_channel_is_classified():
    mask = np.zeros((37, 53), bool)
    mask[5, 7] = True
    handler = MessageHandler(ENDPOINT, channel="threshold_2")
    handler.handle([stream2_encode.start(6, (37, 53), np.dtype("uint16"), 3, ("threshold_1", "threshold_2"),
                                         mask, "lz4")], 0.0)
    one, two = pixels("uint16"), pixels("uint16")
    two[0, 0] = 65535  # DECTRIS marks a defective pixel with the type's maximum
    frame = handler.handle([image_message({"threshold_1": stream2_encode.array(one, "lz4"),
                                           "threshold_2": stream2_encode.array(two, "lz4")}, 6, 0)], 1.0)
    assert frame.source == f"{ENDPOINT} series 6 image 0 channel threshold_2"
    np.testing.assert_array_equal(frame.data, two)
    assert frame.mask[5, 7] and frame.mask[0, 0] and frame.mask.sum() == 2
    other = handler.handle([image_message({"threshold_2": stream2_encode.array(two)}, 7, 0)], 2.0)
    assert other.mask[0, 0] and other.mask.sum() == 1  # the mask stays with series 6
    missing = handler.handle([image_message({"threshold_1": stream2_encode.array(one)}, 7, 1)], 3.0)
    assert isinstance(missing, Rejected) and "no channel 'threshold_2' (stream.channel); it has threshold_1" \
        in missing.message and missing.source == f"{ENDPOINT} series 7 image 1 channel threshold_2"


def test_a_missed_start_is_classified_and_a_series_cut_short_is_reported():
    handler = MessageHandler(ENDPOINT)
    frames = [handler.handle([image_message({"threshold_1": stream2_encode.array(GOOD)}, 8, i)], 0.0)
              for i in (4, 5)]  # joined mid-series: no start
    assert all(isinstance(f, Frame) and f.mask is None for f in frames)
    handler.handle([stream2_encode.start(9, (37, 53), np.dtype("uint32"), 5)], 1.0)
    notices = list(handler.notices)
    handler.notices.clear()
    assert len(notices) == 1 and "series 8 cut short (series 9 started)" in notices[0].message
    for i in (0, 1, 3):  # image 2 skipped
        handler.handle([image_message({"threshold_1": stream2_encode.array(GOOD, "bslz4")}, 9, i)], 2.0)
    handler.handle([stream2_encode.end(9)], 3.0)
    (notice,) = handler.notices
    assert notice.message == "series 9 ended: 3 of 5 images received, 2 missing (ids 2, 4)"
    assert notice.source == f"{ENDPOINT} series 9" and notice.frame == 2
    assert handler.counts.missing == 2 and handler.counts.cut_short == 2


def test_a_given_protocol_makes_messages_of_another_error_rows():
    v2 = image_message({"threshold_1": stream2_encode.array(GOOD)}, 5, 2)
    v1 = publisher.simplon.encode_end(5)
    only_v2 = MessageHandler(ENDPOINT, protocol="stream2")
    assert "message is JSON (SIMPLON v1 or the simple protocol), not the CBOR of Stream V2" in \
        only_v2.handle(v1, 0.0).message
    assert "Stream V2 sends one CBOR part" in only_v2.handle([v2, b"x"], 0.0).message
    assert isinstance(only_v2.handle([v2], 0.0), Frame)
    only_v1 = MessageHandler(ENDPOINT, protocol="simplon")
    assert only_v1.handle(v1, 0.0) is None
    assert only_v1.handle([v2], 0.0).message == ("malformed message: a Stream V2 (CBOR) message, but the stream was "
                                                 "started with --protocol simplon")  # was: "part 1 is not JSON (...)"
    assert "part 1 is not JSON" in only_v1.handle([b"\x1c garbage"], 0.0).message
    told = MessageHandler(ENDPOINT)  # auto: after V2 messages, garbage is judged as V2
    told.handle([v2], 0.0)
    assert "not CBOR" in told.handle([b"\x1c garbage"], 0.0).message


# --- replay over real sockets ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def detector_files(tmp_path_factory) -> list[Path]:
    """Three Pilatus 1M growth-series CBFs (int32, gaps -1) written by fabio."""
    from gisaxs_live.config import load_config
    from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config

    path = tmp_path_factory.mktemp("frames")
    series = GrowthSeries(demo_config(load_config()), 3)
    files = []
    for i in range(3):
        files.append(path / f"growth_{i:05d}.cbf")
        files[-1].write_bytes(cbf_bytes(series.frame(i)))
    return files


REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "insitu_desy_2024"


def _source_pixels(paths) -> list[np.ndarray]:
    import fabio

    return [fabio.open(str(p)).data for p in paths]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_publish_process_replays_files_bit_exact_into_the_stream_source(compression, detector_files):
    """``gisaxs-live publish --protocol stream2`` (a process, real PUSH socket) into the stream source: every
    image arrives, bit-exact against the files as fabio reads them, masked with the start's pixel mask."""
    real = sorted(REAL.glob("*.cbf"))[:2]  # Pilatus 2M frames, where the shared data is present
    files = detector_files + real
    endpoint = free_endpoint()
    source = StreamSource(endpoint, Stream(queue_size=100))
    source.start()
    try:
        proc = subprocess.run([*CLI, "publish", "--protocol", "stream2", "--compression", compression,
                               "--endpoint", endpoint, "--rate", "0", "--series", "11", "--header-detail", "all",
                               *map(str, files)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        frames, rejected = take_all(source, len(files), 20.0)
    finally:
        source.stop()
        source.join()
    expected = _source_pixels(files)
    assert not rejected and len(frames) == len(files)
    assert [f.source for f in frames] == [f"{endpoint} series 11 image {i} channel threshold_1"
                                          for i in range(len(files))]
    for frame, pixels_on_disk in zip(frames, expected):
        assert frame.data.dtype == pixels_on_disk.dtype
        np.testing.assert_array_equal(frame.data, pixels_on_disk)
    np.testing.assert_array_equal(frames[0].mask, expected[0] < 0)  # header_detail all: the first frame's gaps
    assert source.counts.missing == 0 and source.counts.cut_short == 0
    assert f"sent {len(files)} frames (stream2, {compression})" in proc.stderr


def test_one_client_takes_stream_v2_simplon_and_simple_publishers_in_turn():
    endpoint = free_endpoint()
    source = StreamSource(endpoint, Stream(queue_size=100))
    source.start()
    frames = [pixels("int32") for _ in range(3)]
    try:
        for protocol, encoding, series in (("stream2", "bslz4", 1), ("simplon", "bslz4", 2), ("simple", "none", 0),
                                           ("stream2", "lz4", 3)):
            thread = threading.Thread(target=publisher.send,
                                      args=(endpoint, publisher.messages(frames, protocol, encoding, series)))
            thread.start()
            thread.join()
        got, rejected = take_all(source, 12, 20.0)
    finally:
        source.stop()
        source.join()
    assert not rejected and len(got) == 12
    assert [f.source for f in got] == ([f"{endpoint} series 1 image {i} channel threshold_1" for i in range(3)]
                                       + [f"{endpoint} series 2"] * 3 + [endpoint] * 3
                                       + [f"{endpoint} series 3 image {i} channel threshold_1" for i in range(3)])
    for frame in got:
        np.testing.assert_array_equal(frame.data, frames[frame.frame_id])


def test_malformed_v2_messages_from_a_raw_push_socket_each_get_a_row_through_the_monitor(tmp_path):
    """Through StreamMonitor and the CSV log (a stand-in classifier): every malformed kind is one error row
    and every good image after it its own row."""
    from gisaxs_live.commands.stream import StreamMonitor
    from gisaxs_live.results import Result, utc_now
    from gisaxs_live.sinks.csvlog import CsvLog

    class Classifier:
        def classify(self, frames):
            return [Result(f.source, f.frame_id, "ok", (0.125,) * 8, time_utc=utc_now()) for f in frames]

        def error(self, source, frame_id, message, t):
            return Result(source, frame_id, "error", message=message, time_utc=utc_now())

    endpoint, csv_path = free_endpoint(), tmp_path / "rows.csv"
    monitor = StreamMonitor(StreamSource(endpoint, Stream(queue_size=200)), Classifier, CsvLog(csv_path))
    thread = threading.Thread(target=monitor.run)
    thread.start()
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.linger = 5000
    push.bind(endpoint)
    expected = []
    try:
        push.send(stream2_encode.start(5, (37, 53), np.dtype("uint32")))  # no count given
        for message, _, _ in MALFORMED.values():  # the good images are image 2 too, as the broken ones say
            push.send(message)
            push.send(image_message({"threshold_1": stream2_encode.array(GOOD, "bslz4")}, 5, 2))
            expected += ["error", "ok"]
        push.send(stream2_encode.end(5))
        expected.append("error")  # the end's row: every image said id 2, so ids 0 and 1 never came
        end = time.monotonic() + 30
        while len(rows := _rows(csv_path)) < len(expected) and time.monotonic() < end:
            time.sleep(0.1)
    finally:
        push.close()
        monitor.request_stop()
        thread.join(timeout=20)
    assert len(rows) == len(expected)
    # a batch's error rows are written before its frames' rows: compare each kind in order
    errors, good = [r for r in rows if r["status"] == "error"], [r for r in rows if r["status"] != "error"]
    assert [text in r["message"] for r, text in zip(errors, MALFORMED_TEXTS)] == [True] * len(MALFORMED)
    assert errors[-1]["message"].startswith("series 5 ended: 1 image received, 2 missing between them (ids 0–1)")
    assert len(good) == len(MALFORMED)
    assert all(r["status"] == "ok" and (r["source"], r["frame"]) == (f"{endpoint} series 5 image 2 channel "
                                                                     "threshold_1", "2") for r in good)


def _rows(csv_path: Path) -> list[dict[str, str]]:
    if not csv_path.exists():
        return []
    with open(csv_path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_gisaxs_live_stream_classifies_every_image_of_a_stream2_replay(tmp_path, model_dir, detector_files):
    """``publish --protocol stream2`` (each compression, one process each: a restarted detector) into
    ``gisaxs-live stream --protocol stream2`` with the bundled model: one classified row per image."""
    endpoint, csv_path = free_endpoint(), tmp_path / "stream.csv"
    config = tmp_path / "stream.yaml"
    config.write_text("stream:\n  reconnect_max_s: 0.2\n  channel: threshold_1\n"
                      "geometry: {distance_mm: 2000, direct_beam_px: [490, 900]}\n")  # the demo's Pilatus 1M
    proc = subprocess.Popen([*CLI, "stream", "--no-dashboard", "--protocol", "stream2", "--config", str(config),
                             "--csv", str(csv_path), "--model", str(model_dir), endpoint],
                            stderr=subprocess.PIPE, text=True)
    try:
        for series, compression in enumerate(COMPRESSIONS, start=1):
            subprocess.run([*CLI, "publish", "--protocol", "stream2", "--compression", compression, "--endpoint",
                            endpoint, "--rate", "0", "--series", str(series), *map(str, detector_files)],
                           check=True, timeout=60, capture_output=True)
        expected = len(COMPRESSIONS) * len(detector_files)
        end = time.monotonic() + 60
        while len(rows := _rows(csv_path)) < expected and time.monotonic() < end:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-3000:]
    assert [(r["source"], r["frame"]) for r in rows] == [
        (f"{endpoint} series {s} image {i} channel threshold_1", str(i))
        for s in range(1, len(COMPRESSIONS) + 1) for i in range(len(detector_files))]
    assert all(r["status"] in ("ok", "unknown", "no_signal") for r in rows), [r["message"] for r in rows]
    assert "Stream V2 (CBOR) messages (first message)" in err
    assert f"received {expected}, classified {expected}, malformed 0, dropped 0, missing 0, series cut short 0" in err


@pytest.mark.parametrize("args,text", [
    (["--protocol", "stream2", "--encoding", "lz4<"], "Stream V2 takes --compression"),
    (["--compression", "lz4"], "--compression is for --protocol stream2"),
    (["--protocol", "simple"], "give --endpoint for --protocol simple"),
    (["--protocol", "simple", "--series", "3", "--endpoint", "tcp://127.0.0.1:5555"],
     "--series is for SIMPLON v1 and Stream V2: the simple protocol has no series"),
    # a review: NaN ended in "cannot convert float NaN to integer", 1e-300 in an OverflowError traceback
    (["--rate", "nan"], "argument --rate: 'nan' is not a finite number"),
    (["--rate", "1e-300"], "argument --rate: 1e-300: must be 0 or from 0.000001 to 1,000,000")])
def test_publish_refuses_mixed_up_options(detector_files, args, text):
    proc = subprocess.run([*CLI, "publish", *args, str(detector_files[0])], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and text in proc.stderr and "Traceback" not in proc.stderr
