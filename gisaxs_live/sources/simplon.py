"""DECTRIS SIMPLON stream v1 ("legacy" multi-part JSON) messages: decoding and encoding.

An Eiger or Pilatus4 detector control unit binds a ZeroMQ PUSH socket (port 9999) and sends three kinds of
multi-part messages; a client connects a PULL socket. Layouts (``shape`` is ``[x, y]``, i.e. width first; the
image is ``y`` rows of ``x`` pixels, so it is reshaped as ``(y, x)``):

series header (once per series, after ``arm``)::

    1  {"htype": "dheader-1.0", "series": <id>, "header_detail": "all" | "basic" | "none"}
    2  detector configuration (JSON object)                          basic, all
    3  {"htype": "dflatfield-1.0", "shape": [x, y], "type": "float32"}       all
    4  flat-field blob                                                       all
    5  {"htype": "dpixelmask-1.0", "shape": [x, y], "type": "uint32"}        all
    6  pixel-mask blob (non-zero = bad pixel)                                all
    7  {"htype": "dcountrate_table-1.0", "shape": [...], "type": "float32"}  all
    8  count-rate table blob                                                 all
    +  header appendix (optional; whatever the user set in ``stream/config/header_appendix``)

image (one per frame)::

    1  {"htype": "dimage-1.0", "series": <id>, "frame": <index from 0>, "hash": <md5 of the blob>}
    2  {"htype": "dimage_d-1.0", "shape": [x, y], "type": "uint32", "encoding": <enc>, "size": <blob bytes>}
    3  data blob
    4  {"htype": "dconfig-1.0", "start_time": <ns>, "stop_time": <ns>, "real_time": <ns>}
    5  image appendix (optional)

series end::

    1  {"htype": "dseries_end-1.0", "series": <id>}

Encodings: ``<`` raw little-endian; ``lz4<`` one raw LZ4 block (no size prefix); ``bs8-lz4<``, ``bs16-lz4<``,
``bs32-lz4<`` bitshuffle + LZ4 in the HDF5-filter layout: a 12-byte header (big-endian uint64 total
uncompressed bytes, big-endian uint32 block size in bytes), then per block a big-endian uint32 compressed
length and the LZ4 block of the bit-shuffled data (a blob without the 12-byte header, as emulators send,
is decoded where its block chain leaves no doubt: ``with_bslz4_header``). Decoding uses ``lz4`` (raw blocks) and
``dectris-compression`` (bitshuffle-LZ4, which bounds-checks every block); encoding uses ``lz4`` and
``bitshuffle``. Before any decoder sees a blob, ``sizeguard`` checks its declared size against the limit
(``stream.max_image_bytes``), its length against what the codec can expand to, and a bitshuffle blob's
12-byte header against the declared shape.

Sources relied on (layouts cross-checked between them, not taken from one): dectris/documentation
``stream_v2/README.md`` (stream config keys header_detail, header_appendix, image_appendix; ``format: legacy``
is this multi-part JSON stream v1); areaDetector/ADEiger ``streamApi.cpp`` (a PULL client connecting to port
9999; header parts per header_detail: 1, 1 + 1 for basic, 1 + 7 for all; ``lz4<`` is one raw LZ4 block;
``bs*-lz4<`` data start 12 bytes in); cctbx/dxtbx ``FormatEigerStream.py`` (shape is [x, y], reshaped
``shape[::-1]``; the block size is the big-endian uint32 at byte 8); dectris/compression ``src/compression.c``
(the 12-byte header and per-block framing); public Eiger simulators and replay scripts (the ``all`` header
as dflatfield/dpixelmask/dcountrate_table description + blob pairs, each message one ZeroMQ multi-part
message; the four image parts and their keys).
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from ..config import Stream
from .decoded import Image, SeriesEnd, SeriesStart
from .shown import shown
from .series import expected_images, plural
from .sizeguard import BlobError, check_bslz4_header, check_declared, check_lz4_length

HEADER, IMAGE, IMAGE_D, IMAGE_CONFIG, SERIES_END = (
    "dheader-1.0", "dimage-1.0", "dimage_d-1.0", "dconfig-1.0", "dseries_end-1.0")
FLATFIELD, PIXEL_MASK, COUNTRATE = "dflatfield-1.0", "dpixelmask-1.0", "dcountrate_table-1.0"
HEADER_DETAILS = ("all", "basic", "none")
ENCODINGS = ("<", "lz4<", "bs8-lz4<", "bs16-lz4<", "bs32-lz4<")
#: Pixel types accepted in ``dimage_d-1.0``: DECTRIS sends unsigned ones; the replayer may send the others.
TYPES = ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float32")
BLOCK_BYTES = 8192  # bitshuffle block size the encoder uses (bytes); decoders read it from the blob
_BSLZ4 = re.compile(r"bs(8|16|32)-lz4<")
_HEADER_PARTS = {"none": 1, "basic": 2, "all": 8}  # without the optional appendix

Part = Union[bytes, bytearray, memoryview]


class MessageError(ValueError):
    """A malformed message; ``series`` and ``frame`` name what it belongs to where they could be read."""

    def __init__(self, text: str, series: int | None = None, frame: int | None = None) -> None:
        super().__init__(text)
        self.series = series
        self.frame = frame


@dataclass(frozen=True)
class SeriesHeader:
    """``dheader-1.0``: the detector ``config`` (basic, all) and, with ``all``, ``pixel_mask`` as bool
    (y, x), True = bad. Appendix, flat field and count-rate table are checked, not kept. An optional
    table (flat field, pixel mask, count-rate table) that cannot be decoded is left out, with a
    ``warning``: a series-level problem, not a malformed message (the frames are classified all the same)."""

    series: int
    detail: str
    config: dict[str, Any] = field(default_factory=dict)
    pixel_mask: np.ndarray | None = None
    warning: str | None = None

    def start(self) -> SeriesStart:
        """The protocol-neutral series start: the images the config announces (nimages x ntrigger), the mask."""
        mask = "no pixel mask" if self.pixel_mask is None else f"pixel mask {self.pixel_mask.shape}"
        return SeriesStart(self.series, expected_images(self.config), self.pixel_mask,
                           f"header_detail {self.detail}, {mask}", self.warning)


#: ``dimage-1.0`` decodes to the shared ``Image`` (the dconfig times and the appendix are checked, not kept),
#: ``dseries_end-1.0`` to ``SeriesEnd``.
Message = Union[SeriesHeader, Image, SeriesEnd]


#: digits of the longest integer a message may hold: 20, those of 2⁶⁴ − 1 (Python would not even write one of more
#: than 4,300 digits in a message)
MAX_INT_DIGITS = 20


class _LongInteger(Exception):
    """An integer of more than MAX_INT_DIGITS digits met while JSON is read; args: its digits."""


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _LongInteger(digits)
    return int(text)


def load_json(part: Part, what: str, series: int | None = None, frame: int | None = None) -> dict[str, Any]:
    """Parse one JSON-object part (UTF-8), or raise MessageError naming ``what``."""
    raw = bytes(part)
    try:
        value = json.loads(raw.decode("utf-8-sig"), parse_int=_bounded_int)
    except UnicodeDecodeError as exc:
        cbor = " (it starts like CBOR: Stream V2 sends one CBOR part)" if 0x80 <= raw[0] <= 0xDB else ""
        raise MessageError(f"{what} is not JSON: byte {exc.start} is not UTF-8 text{cbor}", series, frame) from None
    except json.JSONDecodeError as exc:
        raise MessageError(f"{what} is not JSON ({exc})", series, frame) from None
    except _LongInteger as exc:
        raise MessageError(f"{what} holds an integer of {exc.args[0]:,} digits; no field takes more than "
                           f"{MAX_INT_DIGITS}", series, frame) from None
    except RecursionError:
        raise MessageError(f"{what} is not JSON this reader takes (nested too deeply)", series, frame) from None
    if not isinstance(value, dict):
        raise MessageError(f"{what} is not a JSON object", series, frame)
    return value


def parse(parts: Sequence[Part], first: dict[str, Any] | None = None,
          limit: int = Stream.max_image_bytes) -> Message:
    """Decode one multi-part SIMPLON message; ``first`` is part 1 already parsed, if the caller has it;
    ``limit``: the most bytes an image or pixel mask may declare."""
    first = load_json(parts[0], "part 1") if first is None else first
    htype = first.get("htype")
    if htype == IMAGE:
        return _parse_image(parts, first, limit)
    if htype == HEADER:
        return _parse_header(parts, first, limit)
    if htype == SERIES_END:
        return SeriesEnd(_int(first, "series", "dseries_end-1.0"))
    raise MessageError(f"unknown htype {shown(htype)}", _maybe_int(first.get("series")), _maybe_int(first.get("frame")))


def _parse_image(parts: Sequence[Part], head: dict[str, Any], limit: int) -> Image:
    series = _int(head, "series", "dimage-1.0")
    frame = _int(head, "frame", "dimage-1.0", series)
    if len(parts) not in (4, 5):
        raise MessageError(f"image message has {plural(len(parts), 'part')}, expected 4 (or 5 with an appendix)",
                           series, frame)
    desc = load_json(parts[1], "part 2 (dimage_d-1.0)", series, frame)
    if desc.get("htype") != IMAGE_D:
        raise MessageError(f"part 2 has htype {shown(desc.get('htype'))}, expected {IMAGE_D!r}", series, frame)
    times = load_json(parts[3], "part 4 (dconfig-1.0)", series, frame)
    if times.get("htype") != IMAGE_CONFIG:
        raise MessageError(f"part 4 has htype {shown(times.get('htype'))}, expected {IMAGE_CONFIG!r}", series, frame)
    blob = parts[2]
    size = desc.get("size")
    if size is not None and (not isinstance(size, int) or size != len(memoryview(blob))):
        raise MessageError(f"dimage_d size {shown(size)} but the data part is {len(memoryview(blob))} bytes",
                           series, frame)
    try:
        data = decode_blob(blob, desc.get("shape"), desc.get("type"), desc.get("encoding"), limit)
    except MessageError as exc:
        raise MessageError(str(exc), series, frame) from None
    return Image(series, frame, data)


def _parse_header(parts: Sequence[Part], head: dict[str, Any], limit: int) -> SeriesHeader:
    series = _int(head, "series", "dheader-1.0")
    detail = head.get("header_detail")
    if detail not in HEADER_DETAILS:
        raise MessageError(f"header_detail {shown(detail)} is not one of {', '.join(HEADER_DETAILS)}", series)
    expected = _HEADER_PARTS[detail]
    if len(parts) not in (expected, expected + 1):
        raise MessageError(f"header_detail {shown(detail)} needs {expected} parts (+1 appendix), got {len(parts)}",
                           series)
    config = load_json(parts[1], "part 2 (detector config)", series) if expected >= 2 else {}
    mask, warnings = None, []
    if detail == "all":
        for index, htype, what in ((2, FLATFIELD, "flat field"), (4, PIXEL_MASK, "pixel mask"),
                                   (6, COUNTRATE, "count-rate table")):
            try:
                table = _header_table(parts[index], parts[index + 1], htype, limit)
            except MessageError as exc:
                warnings.append(f"{what} (parts {index + 1}-{index + 2}) unusable: {exc}")
                continue
            if htype == PIXEL_MASK:
                mask = table != 0
    warning = None
    if warnings:
        warning = "; ".join(warnings) + ("; the series is classified with the mask from the pixel values"
                                         if mask is None else "; the series is classified all the same")
    return SeriesHeader(series, detail, config, mask, warning)


def _header_table(desc_part: Part, blob: Part, htype: str, limit: int) -> np.ndarray:
    """One optional table of an ``all`` header (description part, raw little-endian blob), decoded."""
    desc = load_json(desc_part, htype)
    if desc.get("htype") != htype:
        raise MessageError(f"htype {shown(desc.get('htype'))}, expected {shown(htype)}")
    return decode_blob(blob, desc.get("shape"), desc.get("type"), "<", limit)


def decode_blob(blob: Part, shape: Any, type_name: Any, encoding: Any,
                limit: int = Stream.max_image_bytes) -> np.ndarray:
    """Decode a data blob of ``shape`` [x, y] and pixel ``type_name`` to an array (y, x), little-endian;
    a shape declaring more than ``limit`` bytes is refused before anything is decoded.

    Raw data are a read-only view of ``blob``; compressed data are decoded into a new buffer.
    """
    y, x = _yx(shape)
    dtype = _dtype(type_name)
    nbytes = x * y * dtype.itemsize
    view = memoryview(blob).cast("B")
    try:
        check_declared(nbytes, f"{x}x{y} {type_name}", limit)
        return _decode_checked(view, x, y, dtype, type_name, encoding, nbytes, limit)
    except BlobError as exc:
        raise MessageError(str(exc)) from None


def _decode_checked(view: memoryview, x: int, y: int, dtype: np.dtype, type_name: str, encoding: Any,
                    nbytes: int, limit: int) -> np.ndarray:
    """``decode_blob`` once the declared size is within the limit."""
    if encoding == "<":
        if len(view) != nbytes:
            raise MessageError(f"raw data is {len(view)} bytes, {x}x{y} {type_name} needs {nbytes}")
        return np.frombuffer(view, dtype).reshape(y, x)
    if encoding == "lz4<":
        import lz4.block

        check_lz4_length(len(view), nbytes, encoding)
        try:
            raw = lz4.block.decompress(view, uncompressed_size=nbytes)
        except lz4.block.LZ4BlockError as exc:
            raise MessageError(f"corrupt lz4< data ({exc})") from None
    elif isinstance(encoding, str) and (match := _BSLZ4.fullmatch(encoding)):
        if int(match.group(1)) != 8 * dtype.itemsize:
            raise MessageError(f"encoding {encoding} does not fit pixel type {type_name}")
        view = with_bslz4_header(view, nbytes, dtype.itemsize)
        # checked before decoding: the blob's header must not decide how much memory is taken
        check_bslz4_header(view, nbytes, dtype.itemsize, encoding, limit)
        from dectris.compression import decompress

        try:
            raw = decompress(view, "bslz4", elem_size=dtype.itemsize)
        except RuntimeError as exc:
            raise MessageError(f"corrupt {encoding} data ({exc})") from None
    else:
        raise MessageError(f"unknown encoding {shown(encoding)} (known: {', '.join(ENCODINGS)})")
    if len(raw) != nbytes:
        raise MessageError(f"{encoding} data decode to {len(raw)} bytes, {x}x{y} {type_name} needs {nbytes}")
    return np.frombuffer(raw, dtype).reshape(y, x)


def with_bslz4_header(view: memoryview, nbytes: int, itemsize: int) -> memoryview:
    """``view`` as sent, or, for a bitshuffle-LZ4 blob without the 12-byte header (as some Eiger emulators
    send ``bitshuffle.compress_lz4`` output), the blob with the header prepended: only where the length
    makes the layout unambiguous, i.e. the chain of big-endian block lengths, at bitshuffle's default
    block size (BLOCK_BYTES), ends exactly where the blob does (after the < 8 trailing pixels kept raw)."""
    if len(view) >= 12 and int.from_bytes(view[:8], "big") == nbytes:
        return view  # the header real detectors send
    pixels, block = nbytes // itemsize, BLOCK_BYTES // itemsize
    blocks = pixels // block + (1 if (pixels % block) // 8 else 0)
    offset = 0
    for _ in range(blocks):
        if offset + 4 > len(view):
            return view
        offset += 4 + int.from_bytes(view[offset:offset + 4], "big")
    if offset + (pixels % 8) * itemsize != len(view):
        return view
    return memoryview(struct.pack(">QI", nbytes, BLOCK_BYTES) + bytes(view))


def encode_blob(data: np.ndarray, encoding: str) -> bytes:
    """Encode a 2-D array (y, x) of a type in TYPES with ``encoding`` (one of ENCODINGS)."""
    data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
    if encoding == "<":
        return data.tobytes()
    if encoding == "lz4<":
        import lz4.block

        return lz4.block.compress(data, store_size=False)
    match = _BSLZ4.fullmatch(encoding)
    if match is None:
        raise ValueError(f"unknown encoding {shown(encoding)} (known: {', '.join(ENCODINGS)})")
    if int(match.group(1)) != 8 * data.dtype.itemsize:
        raise ValueError(f"encoding {encoding} does not fit pixel type {data.dtype.name}")
    import bitshuffle

    block = BLOCK_BYTES // data.dtype.itemsize
    body = bitshuffle.compress_lz4(data.ravel(), block).tobytes()
    return struct.pack(">QI", data.nbytes, BLOCK_BYTES) + body


def encoding_for(dtype: np.dtype, compression: str) -> str:
    """The SIMPLON encoding name: ``compression`` ``none``/``lz4``/``bslz4`` for pixels of ``dtype``."""
    names = {"none": "<", "lz4": "lz4<", "bslz4": f"bs{8 * np.dtype(dtype).itemsize}-lz4<"}
    return names[compression]


def encode_header(series: int, detail: str = "basic", config: dict[str, Any] | None = None,
                  pixel_mask: np.ndarray | None = None) -> list[bytes]:
    """The ``dheader-1.0`` parts. ``pixel_mask`` (y, x; non-zero = bad) is sent as uint32 with ``all``."""
    if detail not in HEADER_DETAILS:
        raise ValueError(f"header_detail {shown(detail)} is not one of {', '.join(HEADER_DETAILS)}")
    parts = [_dump({"htype": HEADER, "series": series, "header_detail": detail})]
    if detail != "none":
        parts.append(_dump(config or {}))
    if detail == "all":
        if pixel_mask is None:
            raise ValueError("header_detail 'all' needs a pixel mask")
        y, x = pixel_mask.shape
        parts += [_dump({"htype": FLATFIELD, "shape": [x, y], "type": "float32"}),
                  np.ones((y, x), "<f4").tobytes(),
                  _dump({"htype": PIXEL_MASK, "shape": [x, y], "type": "uint32"}),
                  np.asarray(pixel_mask, "<u4").tobytes(),
                  # A placeholder table: a receiver of this replay has no count-rate correction to apply.
                  _dump({"htype": COUNTRATE, "shape": [2, 1], "type": "float32"}),
                  np.zeros((1, 2), "<f4").tobytes()]
    return parts


def encode_image(series: int, frame: int, data: np.ndarray, encoding: str, start_ns: int = 0, stop_ns: int = 0,
                 real_ns: int = 0, blob: bytes | None = None, digest: str | None = None) -> list[bytes]:
    """The four ``dimage-1.0`` parts; pass ``blob``/``digest`` (md5 hex) when already encoded."""
    if blob is None:
        blob = encode_blob(data, encoding)
    y, x = data.shape
    return [_dump({"htype": IMAGE, "series": series, "frame": frame,
                   "hash": digest or hashlib.md5(blob).hexdigest()}),
            _dump({"htype": IMAGE_D, "shape": [x, y], "type": data.dtype.name, "encoding": encoding,
                   "size": len(blob)}),
            blob,
            _dump({"htype": IMAGE_CONFIG, "start_time": start_ns, "stop_time": stop_ns, "real_time": real_ns})]


def encode_end(series: int) -> list[bytes]:
    """The ``dseries_end-1.0`` part."""
    return [_dump({"htype": SERIES_END, "series": series})]


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _yx(shape: Any) -> tuple[int, int]:
    ok = (isinstance(shape, list) and len(shape) in (2, 3) and all(type(n) is int and n > 0 for n in shape)
          and (len(shape) == 2 or shape[2] == 1))
    if not ok:
        raise MessageError(f"shape {shown(shape)} is not [x, y] of positive integers")
    return shape[1], shape[0]


def _dtype(type_name: Any) -> np.dtype:
    if type_name not in TYPES:
        raise MessageError(f"pixel type {shown(type_name)} is not one of {', '.join(TYPES)}")
    return np.dtype(type_name).newbyteorder("<")


def _int(obj: dict[str, Any], key: str, what: str, series: int | None = None) -> int:
    value = obj.get(key)
    if type(value) is not int or value < 0:
        raise MessageError(f"{what} {key} {shown(value)} is not a non-negative integer", series)
    return value


def _maybe_int(value: Any) -> int | None:
    return value if type(value) is int else None
