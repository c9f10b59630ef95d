"""The simple frame protocol: for sources that are not DECTRIS detectors (a camera server, a script).

Transport: ZeroMQ. The sender binds a PUSH socket; ``gisaxs-live stream`` connects a PULL socket to it
(the same roles as a DECTRIS detector and its client, so both protocols can share one endpoint).

Each frame is one two-part ZeroMQ message:

part 1, a UTF-8 JSON object (the header)::

    {"shape": [rows, columns],   # required: the array shape, C order (row 0 = top of the detector)
     "dtype": "<i4",             # required: a NumPy dtype string; one of uint8/16/32, int8/16/32,
                                 #   float32, float64, with "<" or ">" for the byte order ("int32" = native)
     "frame": 17,                # required: the frame's index (integer >= 0), as written in the CSV
     "source": "camera-2",       # optional: a name for the CSV source column (default: the endpoint)
     "timestamp": 1764039845.25} # optional: acquisition time, Unix seconds (0 to 2^32, i.e. 1970 to 2106;
                                 #   not ms or ns); the CSV latency is then measured from it (same clock
                                 #   needed), else from arrival

part 2: the pixels, ``rows × columns × itemsize`` bytes, C order, uncompressed.

It has no ``htype`` key: that is how a receiver tells it from a SIMPLON message. Anything else (a part
missing, a third part, bad JSON, a missing key, a size that is not rows × columns × itemsize, a shape
above the receiver's ``stream.max_image_bytes``) is malformed and becomes an ``error`` row. Python sender::

    import json, zmq
    push = zmq.Context().socket(zmq.PUSH); push.bind("tcp://127.0.0.1:5555")
    push.send_multipart([json.dumps({"shape": list(a.shape), "dtype": a.dtype.str, "frame": i}).encode(),
                         a.tobytes()])
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Stream
from ..sinks.text import plural, printable
from .shown import shown
from .simplon import MessageError, Part, load_json
from .sizeguard import BlobError, check_declared

DTYPES = ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64")
MAX_TIMESTAMP_S = 2.0**32  # the latest acquisition time taken, Unix s (in 2106): a larger one is in ms or ns


@dataclass(frozen=True)
class SimpleFrame:
    """A decoded simple-protocol frame; ``data`` is a read-only view of the received pixels."""

    frame: int
    data: np.ndarray
    source: str | None = None
    timestamp: float | None = None


def encode(data: np.ndarray, frame: int, source: str | None = None, timestamp: float | None = None) -> list[bytes]:
    """The two parts for ``data`` (2-D) as frame ``frame``."""
    data = np.ascontiguousarray(data)
    header: dict[str, Any] = {"shape": list(data.shape), "dtype": data.dtype.str, "frame": frame}
    if source is not None:
        header["source"] = source
    if timestamp is not None:
        header["timestamp"] = timestamp
    return [json.dumps(header, separators=(",", ":")).encode(), data.tobytes()]


def decode(parts: Sequence[Part], header: dict[str, Any] | None = None,
           limit: int = Stream.max_image_bytes) -> SimpleFrame:
    """Decode a two-part message; ``header`` is part 1 already parsed, if the caller has it; ``limit``:
    the most bytes the header's shape and dtype may declare."""
    header = load_json(parts[0], "part 1") if header is None else header
    frame = header.get("frame")
    frame = frame if type(frame) is int and frame >= 0 else None
    if frame is None:
        raise MessageError(f"header frame {shown(header.get('frame'))} is not a non-negative integer")
    if len(parts) != 2:
        raise MessageError(f"simple message has {plural(len(parts), 'part')}, expected 2 (JSON header, pixels)",
                           frame=frame)
    shape = header.get("shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(type(n) is int and n > 0 for n in shape)):
        raise MessageError(f"shape {shown(shape)} is not [rows, columns] of positive integers", frame=frame)
    try:
        dtype = np.dtype(header.get("dtype"))
    except (TypeError, ValueError):
        dtype = None
    if header.get("dtype") is None or dtype is None or dtype.newbyteorder("=").name not in DTYPES:
        raise MessageError(f"dtype {shown(header.get('dtype'))} is not one of {', '.join(DTYPES)}", frame=frame)
    source = header.get("source")
    if source is not None and not isinstance(source, str):
        raise MessageError(f"source {shown(source)} is not a string", frame=frame)
    timestamp = header.get("timestamp")
    if timestamp is not None and (not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool)
                                  or not math.isfinite(timestamp)):
        raise MessageError(f"timestamp {shown(timestamp)} is not a number of seconds", frame=frame)
    if timestamp is not None and not 0 <= timestamp < MAX_TIMESTAMP_S:
        raise MessageError(f"timestamp {shown(timestamp)} is not a Unix time in seconds from 1970 to 2106 (one in "
                           "milliseconds or nanoseconds must be divided down)", frame=frame)
    nbytes = shape[0] * shape[1] * dtype.itemsize
    try:
        check_declared(nbytes, f"{shape[0]}x{shape[1]} {dtype.str}", limit)
    except BlobError as exc:
        raise MessageError(str(exc), frame=frame) from None
    view = memoryview(parts[1]).cast("B")
    if len(view) != nbytes:
        raise MessageError(f"pixel part is {len(view)} bytes, {shape[0]}x{shape[1]} {dtype.str} needs {nbytes}",
                           frame=frame)
    # white space runs as one space, and other characters that do not print (an escape sequence) as U+FFFD
    return SimpleFrame(frame, np.frombuffer(view, dtype).reshape(shape),
                       printable(" ".join(source.split())) if source else None, timestamp)
