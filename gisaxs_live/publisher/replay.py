"""Replay detector files as a detector stream: bind a ZeroMQ PUSH socket and send every frame as one series.

``messages`` builds the messages (SIMPLON stream v1: multi-part header, images, series end; DECTRIS Stream
V2: one CBOR part each for start, images, end; or the simple protocol: one message per frame); ``send``
paces them onto the socket. Like a DECTRIS detector, the PUSH
socket waits for a client before the first message, and ZeroMQ round-robins between connected clients.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from pathlib import Path
from typing import NamedTuple

import numpy as np
import zmq

from ..sources import simple_protocol, simplon, stream2_encode
from ..sources.files import read_frames
from ..sources.stream import ipv6_literal

PROTOCOLS = ("simplon", "stream2", "simple")
#: Default endpoint per protocol (the detector's ports: 9999 for v1, 31001 for Stream V2).
DEFAULT_ENDPOINTS = {"simplon": "tcp://127.0.0.1:9999", "stream2": "tcp://127.0.0.1:31001"}
#: ``--encoding`` values: SIMPLON names, or none/lz4/bslz4 (bslz4 → bs<bits>-lz4< for the pixel type).
ENCODING_CHOICES = ("none", "lz4", "bslz4", *simplon.ENCODINGS)
SEND_BUFFER_FRAMES = 4  # messages queued in ZeroMQ before send() waits for the client
LINGER_S = 30.0         # on close, how long unsent messages may still take to leave


class Outgoing(NamedTuple):
    """One multi-part message; ``frame`` is False for a SIMPLON series header or end."""

    parts: list[bytes]
    frame: bool


def count_frames(paths: Sequence[str | Path]) -> int:
    """The frames in the files (multi-frame files count each); reads them, raising FrameError as a replay would."""
    return sum(1 for path in paths for _ in read_frames(path))


def replay_frames(paths: Sequence[str | Path]) -> Iterator[np.ndarray]:
    """The pixels of every frame of every file, in order (multi-frame files frame by frame)."""
    for path in paths:
        for frame in read_frames(path):
            yield frame.data


def simplon_pixels(data: np.ndarray) -> np.ndarray:
    """``data`` as a SIMPLON pixel type: float64 → float32 and 64-bit integers → int32 (if they fit)."""
    if data.dtype.name in simplon.TYPES:
        return data
    if data.dtype.kind == "f":
        return data.astype(np.float32)
    if data.dtype.kind in "iu" and data.size and -2**31 <= data.min() and data.max() < 2**31:
        return data.astype(np.int32)
    raise ValueError(f"pixel type {data.dtype} cannot be sent as one of {', '.join(simplon.TYPES)}")


def resolve_encoding(choice: str, dtype: np.dtype) -> str:
    """The SIMPLON encoding for ``choice`` (an ENCODING_CHOICES value) and pixels of ``dtype``."""
    if choice in ("none", "lz4", "bslz4"):
        return simplon.encoding_for(dtype, choice)
    return choice


def messages(frames: Iterable[np.ndarray], protocol: str = "simplon", encoding: str = "bslz4", series: int = 1,
             header_detail: str = "basic", period_s: float = 0.0, repeat: int = 1,
             count: int | None = None) -> Iterator[Outgoing]:
    """The messages that replay ``frames`` ``repeat`` times as series ``series``, frame ids from 0.

    SIMPLON: a ``dheader-1.0`` (with ``all``, its pixel mask marks the first frame's negative pixels, the
    Pilatus gap convention), one ``dimage-1.0`` per frame (``dconfig`` times spaced ``period_s``), and a
    ``dseries_end-1.0``. The header's detector config announces the series as a detector does
    (``nimages`` = ``count`` x ``repeat``, ``ntrigger`` 1, ``trigger_mode`` ints) when the frame ``count``
    is given or ``frames`` has a length. Simple protocol: one two-part message per frame (raw pixels, so
    ``encoding`` must be none or ``<``). With ``repeat`` > 1 each frame is encoded once and kept (memory:
    all frames, raw and encoded). Stream V2: see ``stream2_messages``, with ``encoding`` its compression.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if protocol == "stream2":
        yield from stream2_messages(frames, encoding, series, header_detail, period_s, repeat, count)
        return
    if protocol == "simple" and encoding not in ("none", "<"):
        raise ValueError(f"the simple protocol sends raw pixels; encoding {encoding!r} is for SIMPLON only")
    simplon_series = protocol == "simplon"
    if count is None and isinstance(frames, Sized):
        count = len(frames)
    kept: list[tuple[np.ndarray, bytes, str]] = []

    def first_pass() -> Iterator[tuple[np.ndarray, bytes, str]]:
        for data in frames:
            encoded = (data, b"", "")
            if simplon_series:
                data = simplon_pixels(data)
                blob = simplon.encode_blob(data, resolve_encoding(encoding, data.dtype))
                encoded = (data, blob, hashlib.md5(blob).hexdigest())
            if repeat > 1:
                kept.append(encoded)
            yield encoded

    period_ns = int(period_s * 1e9)
    index = 0
    for n in range(repeat):
        for data, blob, digest in first_pass() if n == 0 else kept:
            if not simplon_series:
                yield Outgoing(simple_protocol.encode(data, index), True)
                index += 1
                continue
            if index == 0:
                y, x = data.shape
                config = {"description": "gisaxs-live publish (file replay)", "x_pixels_in_detector": x,
                          "y_pixels_in_detector": y}
                if count is not None:
                    config.update(nimages=count * repeat, ntrigger=1, trigger_mode="ints")
                mask = data < 0 if header_detail == "all" else None
                yield Outgoing(simplon.encode_header(series, header_detail, config, mask), False)
            yield Outgoing(simplon.encode_image(series, index, data, resolve_encoding(encoding, data.dtype),
                                                index * period_ns, (index + 1) * period_ns, period_ns,
                                                blob=blob, digest=digest), True)
            index += 1
    if simplon_series:
        yield Outgoing(simplon.encode_end(series), False)


def stream2_messages(frames: Iterable[np.ndarray], compression: str = "bslz4", series: int = 1,
                     header_detail: str = "basic", period_s: float = 0.0, repeat: int = 1,
                     count: int | None = None) -> Iterator[Outgoing]:
    """A Stream V2 series: ``start`` (``number_of_images`` = ``count`` x ``repeat`` where known; with
    header_detail ``all`` a pixel mask of the first frame's negative pixels and a flat field), one ``image``
    per frame in channel ``threshold_1`` with its pixels' own typed array (``compression``: bslz4, lz4 or
    none), times spaced ``period_s``, and ``end``. With ``repeat`` > 1 each frame is encoded once and kept."""
    if compression not in stream2_encode.COMPRESSIONS:
        raise ValueError(f"compression {compression!r} is not one of {', '.join(stream2_encode.COMPRESSIONS)}")
    if count is None and isinstance(frames, Sized):
        count = len(frames)
    unique_id = uuid.uuid4().hex
    period_ns = int(period_s * 1e9)
    kept: list[object] = []
    index = 0
    for n in range(repeat):
        for item in frames if n == 0 else kept:
            if n == 0:
                data = item
                if index == 0:
                    mask = data < 0 if header_detail == "all" else None
                    yield Outgoing([stream2_encode.start(series, data.shape, data.dtype, None if count is None
                                                         else count * repeat, pixel_mask=mask,
                                                         compress=compression, frame_time_s=period_s,
                                                         unique_id=unique_id)], False)
                item = stream2_encode.array(data, compression)
                if repeat > 1:
                    kept.append(item)
            yield Outgoing([stream2_encode.image(series, index, {"threshold_1": item}, index * period_ns,
                                                 (index + 1) * period_ns, unique_id)], True)
            index += 1
    yield Outgoing([stream2_encode.end(series, unique_id)], False)


def send(endpoint: str, msgs: Iterable[Outgoing], rate_hz: float = 0.0,
         on_bound: Callable[[], None] | None = None) -> int:
    """Bind PUSH at ``endpoint`` and send ``msgs``, frames at ``rate_hz`` (0 = as fast as the client takes
    them) on a fixed clock from the first frame, as a detector's: frames held back while the client took none
    (ZeroMQ's send buffer full) follow at once. Returns the number of frames sent; on return they have left (or
    LINGER_S has passed)."""
    context = zmq.Context()
    sock = context.socket(zmq.PUSH)
    sock.sndhwm = SEND_BUFFER_FRAMES
    sock.linger = int(LINGER_S * 1000)
    sock.ipv6 = ipv6_literal(endpoint)
    try:
        sock.bind(endpoint)
        if on_bound is not None:
            on_bound()
        sent = 0
        t0 = None
        for msg in msgs:
            if msg.frame and rate_hz > 0:
                t0 = time.monotonic() if t0 is None else t0
                delay = t0 + sent / rate_hz - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            sock.send_multipart(msg.parts, copy=False)
            sent += msg.frame
    except BaseException:
        sock.linger = 0
        raise
    finally:
        sock.close()
        context.term()  # waits (up to the linger) until zero-copy messages have left: their buffers stay alive
    return sent
