"""DECTRIS Stream V2: one CBOR map per ZeroMQ message (``start``, ``image``, ``end``), decoded with ``cbor2``.

Specification: dectris/documentation ``stream_v2/README.md`` and ``cbor/dectris-compression-tag.md``; the
behaviour matched is its reference client ``stream_v2/examples/client.py`` (tag 40 row-major and 1040
column-major multi-dimensional arrays, RFC 8746 typed arrays 64-87, tag 56500 compressed byte strings),
with one difference: nothing is decompressed while the CBOR is read. The tag hook only records what each
tag holds; an array is decoded when it is used (the chosen channel of an image, the start's pixel mask),
after its declared shape x element size has been checked against ``stream.max_image_bytes`` and a
compressed blob's own header against that size (``compression``, ``sizeguard``), so no declared size
reaches a C decoder unchecked. Other channels, flat fields and count-rate tables are never decoded.

Arrays: ``[[rows, columns], typed array]``, rows = ``image_size_y``; element types u8/u16/u32/u64,
i8/i16/i32/i64, f16/f32/f64 in either byte order (tag 76 is reserved by RFC 8746; 83 and 87, 128-bit
floats, have no NumPy type here). Pixels are returned in native byte order, f16 widened to f32.

Anything else (not CBOR, not a map, an unknown ``type``, a missing or mistyped field, a shape that does
not fit the data, an unknown compression, a corrupt blob, an unknown tag) raises ``MessageError`` with
the series, image and channel where they could be read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Stream
from . import compression
from .decoded import Decoded, Image, SeriesEnd, SeriesStart
from .shown import shown
from .simplon import MessageError, Part
from .sizeguard import BlobError, check_declared

START, IMAGE, END = "start", "image", "end"
TYPES = (START, IMAGE, END)
ROW_MAJOR, COLUMN_MAJOR, COMPRESSED = 40, 1040, 56500
#: RFC 8746 typed-array tags and their element types (tag 76 is reserved; 83/87 are 128-bit floats).
TYPED_ARRAYS = {
    64: "u1", 65: ">u2", 66: ">u4", 67: ">u8", 68: "u1", 69: "<u2", 70: "<u4", 71: "<u8",
    72: "i1", 73: ">i2", 74: ">i4", 75: ">i8", 77: "<i2", 78: "<i4", 79: "<i8",
    80: ">f2", 81: ">f4", 82: ">f8", 84: "<f2", 85: "<f4", 86: "<f8",
}
FLOAT128 = (83, 87)
MAX_DEPTH = 32  # CBOR nesting a message may have (the spec's deepest is 5: goniometer axes)
MAX_ID = 2**64 - 1  # the largest series id, image id or image count: the spec's are unsigned 64-bit integers
MAX_DIMENSION = 2**31 - 1  # the largest array dimension taken (the size limit refuses far smaller ones)
KNOWN_TAGS = "40, 1040, 64-87 but 76, 83 and 87, 56500"


@dataclass(frozen=True)
class Tagged:
    """A CBOR tag as received (its content not yet decoded or checked)."""

    tag: int
    value: Any


@dataclass(frozen=True)
class Where:
    """What a message belongs to, for error rows: series, image id and channel where known."""

    series: int | None = None
    image: int | None = None
    channel: str | None = None


class Stream2Error(MessageError):
    """A malformed Stream V2 message; ``where`` names its series, image and channel where they were read."""

    def __init__(self, text: str, where: Where = Where()) -> None:
        super().__init__(text, where.series, where.image)
        self.where = where


def _tag_hook(tag: Any, immutable: bool) -> Tagged:
    return Tagged(tag.tag, tag.value)


def looks_like(part: Part) -> bool:
    """Whether ``part`` starts like a CBOR map or tag (major types 5 and 6: bytes 0xA0-0xDB), as a Stream V2
    message does; no JSON text starts so (JSON starts with one of ``{["-tfn``, a digit or white space)."""
    view = memoryview(part).cast("B")
    return len(view) > 0 and 0xA0 <= view[0] <= 0xDB


def load(part: Part) -> Mapping[str, Any]:
    """The message's top-level map, arrays left undecoded; raises Stream2Error (not CBOR, not a map, an
    unknown ``type``)."""
    import cbor2

    try:
        message = cbor2.loads(part, tag_hook=_tag_hook, max_depth=MAX_DEPTH)
    except cbor2.CBORDecodeError as exc:
        raise Stream2Error(f"message is not CBOR ({_first_line(exc)})") from None
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:  # cbor2's own limits and checks
        raise Stream2Error(f"message is not CBOR this reader takes ({_first_line(exc)})") from None
    if not isinstance(message, Mapping):  # a dict; cbor2's frozendict under the self-describe tag 55799
        raise Stream2Error(f"message is CBOR but {_kind(message)}, not the map Stream V2 sends")
    kind = message.get("type")
    if kind not in TYPES:
        raise Stream2Error(f"unknown message type {shown(kind)} (Stream V2 sends {', '.join(TYPES)})",
                           Where(_id(message.get("series_id")), _id(message.get("image_id"))))
    return message


def where(message: Mapping[str, Any]) -> Where:
    """The series and image id of a loaded message, where they are non-negative integers."""
    return Where(_id(message.get("series_id")), _id(message.get("image_id")))


def parse(message: Mapping[str, Any], channel: str | None = None, limit: int = Stream.max_image_bytes) -> Decoded:
    """Decode a loaded message; ``channel``: the threshold channel to take (None: the first sent);
    ``limit``: the most bytes an array may declare."""
    kind = message["type"]
    series = _field_id(message, "series_id", kind, where(message))
    if kind == END:
        return SeriesEnd(series)
    if kind == START:
        return _start(message, series, channel, limit)
    return _image(message, series, channel, limit)


def pick_channel(names: Sequence[str], wanted: str | None, what: str, at: Where) -> str:
    """``wanted`` if ``names`` has it, else the first name when none is wanted; raises Stream2Error."""
    if not names:
        raise Stream2Error(f"{what} has no channels", at)
    if wanted is None:
        return names[0]
    if wanted not in names:
        raise Stream2Error(f"{what} has no channel {wanted!r} (stream.channel); it has {', '.join(names)}", at)
    return wanted


def _start(message: Mapping[str, Any], series: int, channel: str | None, limit: int) -> SeriesStart:
    """The series start; a pixel mask that cannot be used is left out with a warning (the series goes on)."""
    count = message.get("number_of_images")
    expected = count if type(count) is int and 1 <= count <= MAX_ID else None
    channels = message.get("channels")
    names = [c for c in channels if isinstance(c, str)] if isinstance(channels, (list, tuple)) else []
    warnings = []
    if channel is not None and names and channel not in names:
        warnings.append(f"stream.channel {channel!r} is not among the channels sent ({', '.join(names)}): "
                        "its images will be error rows")
    mask, about = None, "no pixel mask"
    masks = message.get("pixel_mask")
    if masks is not None and message.get("pixel_mask_enabled", True) is not False:
        try:
            mask, name = _pixel_mask(masks, names, channel, series, limit)
            about = f"pixel mask {mask.shape[1]}x{mask.shape[0]} of channel {name}"
        except Stream2Error as exc:
            warnings.append(f"{exc}; the series is classified with the mask from the pixel values")
    return SeriesStart(series, expected, mask, f"Stream V2, channels {', '.join(names) or 'not given'}, {about}",
                       "; ".join(warnings) or None)


def _pixel_mask(masks: Any, names: Sequence[str], channel: str | None, series: int,
                limit: int) -> tuple[np.ndarray, str]:
    """The start's pixel mask (True = bad) of ``channel`` (None: the first channel that has one) and its name."""
    at = Where(series)
    if not isinstance(masks, Mapping) or not all(isinstance(k, str) for k in masks):
        raise Stream2Error("start pixel_mask is not a map of channel names to arrays", at)
    wanted = channel if channel is not None else next((n for n in names if n in masks), None)
    name = pick_channel(list(masks), wanted, "start pixel_mask", at)
    return decode_array(masks[name], f"pixel mask of channel {name}", limit, Where(series, channel=name)) != 0, name


def _image(message: Mapping[str, Any], series: int, channel: str | None, limit: int) -> Image:
    image_id = _field_id(message, "image_id", IMAGE, Where(series))
    at = Where(series, image_id)
    data = message.get("data")
    if data is None:
        raise Stream2Error("image message has no data field", at)
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise Stream2Error("image data is not a map of channel names to arrays", at)
    name = pick_channel(list(data), channel, "image data", Where(series, image_id, channel))
    pixels = decode_array(data[name], f"channel {name}", limit, Where(series, image_id, name))
    return Image(series, image_id, pixels, name)


def decode_array(value: Any, what: str, limit: int, at: Where = Where()) -> np.ndarray:
    """A tag 40/1040 multi-dimensional typed array (2-D) as a NumPy array (rows, columns), native byte order;
    its declared size is checked against ``limit`` before anything is decompressed."""
    if isinstance(value, Tagged) and value.tag not in (ROW_MAJOR, COLUMN_MAJOR):
        raise Stream2Error(f"{what} has unknown tag {value.tag} where a multi-dimensional array (tag 40) "
                           f"belongs (known tags: {KNOWN_TAGS})", at)
    if not isinstance(value, Tagged) or not isinstance(value.value, (list, tuple)) or len(value.value) != 2:
        raise Stream2Error(f"{what} is not a multi-dimensional array (tag 40 of [dimensions, typed array])", at)
    dims, contents = value.value
    if not (isinstance(dims, (list, tuple)) and len(dims) == 2
            and all(type(n) is int and 0 < n <= MAX_DIMENSION for n in dims)):
        raise Stream2Error(f"{what} dimensions {shown(dims)} are not [rows, columns] of positive integers up to "
                           f"{MAX_DIMENSION:,}", at)
    rows, columns = dims
    if not isinstance(contents, Tagged):
        raise Stream2Error(f"{what} holds no typed array (an RFC 8746 tag 64-87 of a byte string)", at)
    dtype = _element_type(contents.tag, what, at)
    nbytes = rows * columns * dtype.itemsize
    try:
        check_declared(nbytes, f"{what} of {columns}x{rows} {dtype.name}", limit)
        raw = _payload(contents.value, nbytes, dtype.itemsize, limit)
    except BlobError as exc:
        raise Stream2Error(f"{what}: {exc}", at) from None
    array = np.frombuffer(raw, dtype).reshape((rows, columns), order="F" if value.tag == COLUMN_MAJOR else "C")
    if array.dtype.itemsize == 2 and array.dtype.kind == "f":
        return array.astype(np.float32)
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


def _element_type(tag: int, what: str, at: Where) -> np.dtype:
    if tag in FLOAT128:
        raise Stream2Error(f"{what} is a typed array of 128-bit floats (tag {tag}), which this reader cannot hold", at)
    if tag not in TYPED_ARRAYS:
        raise Stream2Error(f"{what} has unknown tag {tag} where a typed array (tags 64-87) belongs "
                           f"(known tags: {KNOWN_TAGS})", at)
    return np.dtype(TYPED_ARRAYS[tag])


def _payload(value: Any, nbytes: int, itemsize: int, limit: int) -> bytes:
    """The typed array's bytes: a byte string of exactly ``nbytes``, or a tag 56500 that decodes to it."""
    if isinstance(value, bytes):
        if len(value) != nbytes:
            raise BlobError(f"data is {len(value):,} bytes, the dimensions need {nbytes:,}")
        return value
    if isinstance(value, Tagged) and value.tag == COMPRESSED:
        content = value.value
        if not isinstance(content, (list, tuple)) or len(content) != 3:
            raise BlobError("compressed data (tag 56500) is not [algorithm, modifier, bytes]")
        return compression.decompress(*content, nbytes=nbytes, itemsize=itemsize, limit=limit)
    if isinstance(value, Tagged):
        raise BlobError(f"unknown tag {value.tag} where a byte string or compressed data (tag 56500) belongs "
                        f"(known tags: {KNOWN_TAGS})")
    raise BlobError(f"the typed array holds {_kind(value)}, not a byte string")


def _field_id(message: Mapping[str, Any], key: str, kind: str, at: Where) -> int:
    if key not in message:
        raise Stream2Error(f"{kind} message has no {key} field", at)
    value = _id(message[key])
    if value is None:
        raise Stream2Error(f"{kind} message {key} {shown(message[key])} is not an integer from 0 to 2^64 - 1", at)
    return value


def _id(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value <= MAX_ID else None


def _kind(value: Any) -> str:
    """A decoded CBOR item in words: ``an array``, ``tag 40``, ``a text string``."""
    if isinstance(value, Tagged):
        return f"tag {value.tag}"
    for types, words in (((list, tuple), "an array"), (str, "a text string"), ((bytes, bytearray), "a byte string"),
                         (bool, "a boolean"), (int, "an integer"), (float, "a float"), (type(None), "null")):
        if isinstance(value, types):
            return words
    return "not a map"


#: the kinds of Python value cbor2's error texts name (``not <class 'int'>``), in CBOR's words
_PYTHON_KINDS = {"int": "an integer", "str": "a text string", "bytes": "a byte string", "tuple": "an array",
                 "list": "an array", "cbor2.frozendict": "a map", "dict": "a map", "float": "a float",
                 "bool": "a boolean", "NoneType": "null"}
_PYTHON_CLASS = re.compile(r"<class '([\w.]+)'>")


def _first_line(exc: BaseException) -> str:
    """The first line of a cbor2 error text, with the Python classes it may name in CBOR's words."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return "unreadable"
    return _PYTHON_CLASS.sub(lambda m: _PYTHON_KINDS.get(m.group(1), "another kind of item"), lines[0])
