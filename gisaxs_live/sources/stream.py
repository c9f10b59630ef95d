"""A ZeroMQ detector stream as a source: connect a PULL socket, decode messages into Frames on a thread.

``MessageHandler`` turns one multi-part message into a ``Frame``, a ``Rejected`` record (malformed input,
or a frame dropped at a full queue: both become ``error`` rows) or nothing (a SIMPLON series header or
end). It tells the protocols apart by part 1: a JSON object with ``htype`` is SIMPLON stream v1
(``simplon``), one without is the simple protocol (``simple_protocol``). It keeps the series state: the
last header's pixel mask (used for that series only) and the next expected frame id (gaps are counted
as ``missing``: frames that went to another client of the same stream, or were lost upstream). A series
whose header was missed (the client joined mid-series) is still classified: geometry comes from the
config, the mask then only from the pixel values.

``StreamSource`` owns the socket and a receiving thread; the worker ``take``s decoded frames. ZeroMQ
reconnects by itself when the publisher goes away and comes back; heartbeats notice a silent peer.
Frames are decoded only when the queue has room; otherwise they are dropped unread (counted, and each
gets an error row). On ``stop`` the thread keeps receiving until the socket has been quiet for
``DRAIN_QUIET_S`` since the stop or the last message (at most ``DRAIN_MAX_S``), waiting for room instead
of dropping, so frames that already reached this process are classified, not lost; then it closes the
socket.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from ..config import ConfigError, Stream
from ..frame import Frame
from . import simple_protocol, simplon
from .simplon import MessageError, Part

log = logging.getLogger(__name__)

POLL_S = 0.1          # receiving thread: how often it checks for stop (s)
DRAIN_QUIET_S = 0.25  # stop: receiving ends once nothing came for this long (s) ...
DRAIN_MAX_S = 10.0    # ... or after this long (s)
_TCP = re.compile(r"tcp://(\[[^\]]+\]|[^:/;]+):(\d+|\*)")


def check_endpoint(endpoint: str, allowed: Sequence[str] = ()) -> None:
    """Raise ConfigError unless ``endpoint`` is loopback (TCP to 127.0.0.0/8, localhost or ::1; ipc://)
    or listed in ``allowed`` (the config's ``stream.allowed_endpoints``)."""
    if endpoint in allowed or endpoint.startswith("ipc://"):
        return
    match = _TCP.fullmatch(endpoint)
    if match is None:
        raise ConfigError(f"endpoint {endpoint!r} is not tcp://HOST:PORT or ipc://PATH")
    host = match.group(1).strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(f"endpoint {endpoint} is not loopback; to use it, add it to stream.allowed_endpoints "
                          "in the config")


@dataclass(frozen=True)
class Rejected:
    """A message that did not become a frame; it is logged as an ``error`` row. ``frame`` is -1 when the
    message names none (a series header, unreadable JSON)."""

    source: str
    frame: int
    message: str
    t: float


@dataclass
class StreamCounts:
    """Frames ``received`` (image or simple-protocol messages, decodable or not), ``malformed`` messages (of
    any kind), frames ``dropped`` at a full queue, frame ids ``missing`` in a series; written by the
    receiving thread only."""

    received: int = 0
    malformed: int = 0
    dropped: int = 0
    missing: int = 0


class MessageHandler:
    """One received message → Frame | Rejected | None, for the stream at ``endpoint``."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.counts = StreamCounts()
        self.header: simplon.SeriesHeader | None = None
        self.series: int | None = None       # of the last SIMPLON message
        self._next_frame: int | None = None  # expected next frame id in ``series``; None = unknown

    def source(self, series: int | None) -> str:
        """The CSV ``source`` of frames of ``series`` (None: the endpoint alone)."""
        return self.endpoint if series is None else f"{self.endpoint} series {series}"

    def handle(self, parts: Sequence[Part], t: float, room: bool = True) -> Frame | Rejected | None:
        """Decode ``parts`` received at ``t`` (Unix s); with ``room`` False an image is dropped undecoded."""
        try:
            first = simplon.load_json(parts[0], "part 1")
            if "htype" not in first:
                return self._simple(parts, first, t, room)
            if first["htype"] == simplon.IMAGE:
                return self._image(parts, first, t, room)
            message = simplon.parse(parts, first)
        except MessageError as exc:
            return self._malformed(exc, t)
        if isinstance(message, simplon.SeriesHeader):
            self._begin(message)
        else:
            log.info("%s: series %d ended", self.endpoint, message.series)
            self.series, self._next_frame = message.series, None
        return None

    def _begin(self, header: simplon.SeriesHeader) -> None:
        self.header, self.series, self._next_frame = header, header.series, 0
        mask = "no pixel mask" if header.pixel_mask is None else f"pixel mask {header.pixel_mask.shape}"
        log.info("%s: series %d header (header_detail %s, %s)", self.endpoint, header.series, header.detail, mask)

    def _image(self, parts: Sequence[Part], first: dict, t: float, room: bool) -> Frame | Rejected:
        self.counts.received += 1
        series, frame = first.get("series"), first.get("frame")
        if type(series) is int and type(frame) is int:
            self._track(series, frame)
        if not room:
            return self._drop(self.source(series if type(series) is int else None), frame, t)
        image = simplon.parse(parts, first)
        assert isinstance(image, simplon.Image)  # htype was dimage-1.0
        return Frame(image.data, self.source(image.series), image.frame, t, self._mask(image))

    def _track(self, series: int, frame: int) -> None:
        if series != self.series:
            if self.header is None or self.header.series != series:
                log.warning("%s: series %d without its header (joined mid-series or header missed): "
                            "classified with the configured geometry, no detector pixel mask", self.endpoint,
                            series)
            self.series, self._next_frame = series, None
        if self._next_frame is not None and frame > self._next_frame:
            self.counts.missing += frame - self._next_frame
        self._next_frame = frame + 1

    def _mask(self, image: simplon.Image) -> np.ndarray | None:
        """The header's pixel mask (same series and shape), plus pixels at the maximum of an unsigned type:
        with the detector's pixel_mask_applied that value marks masked (or overflowing) pixels."""
        header = self.header
        mask = None
        if header is not None and header.series == image.series and header.pixel_mask is not None:
            if header.pixel_mask.shape == image.data.shape:
                mask = header.pixel_mask
        if image.data.dtype.kind == "u":
            flagged = image.data == np.iinfo(image.data.dtype).max
            if flagged.any():
                mask = flagged if mask is None else mask | flagged
        return mask

    def _simple(self, parts: Sequence[Part], first: dict, t: float, room: bool) -> Frame | Rejected:
        self.counts.received += 1
        if not room:
            frame = first.get("frame")
            return self._drop(self.endpoint, frame, t)
        decoded = simple_protocol.decode(parts, first)
        source = self.endpoint if decoded.source is None else f"{self.endpoint} {decoded.source}"
        return Frame(decoded.data, source, decoded.frame, t if decoded.timestamp is None else decoded.timestamp)

    def _drop(self, source: str, frame: object, t: float) -> Rejected:
        self.counts.dropped += 1
        return Rejected(source, frame if type(frame) is int else -1, "dropped: the classifier queue was full "
                        "(stream.queue_size); frame not decoded", t)

    def _malformed(self, exc: MessageError, t: float) -> Rejected:
        self.counts.malformed += 1
        frame = -1 if exc.frame is None else exc.frame
        return Rejected(self.source(exc.series), frame, f"malformed message: {exc}", t)


class StreamSource:
    """Receives ``endpoint`` (connect PULL) on a thread; ``take`` hands out frames and rejected records."""

    def __init__(self, endpoint: str, settings: Stream) -> None:
        check_endpoint(endpoint, settings.allowed_endpoints)
        self.endpoint = endpoint
        self.settings = settings
        self.handler = MessageHandler(endpoint)
        self.connected = False
        self.failure: str | None = None
        self._frames: deque[Frame] = deque()
        self._rejected: deque[Rejected] = deque()
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="stream-receiver", daemon=True)

    @property
    def counts(self) -> StreamCounts:
        return self.handler.counts

    def state(self) -> str:
        """One line: connection and series."""
        state = f"connected to {self.endpoint}" if self.connected else f"waiting for {self.endpoint}"
        return state if self.handler.series is None else f"{state}, series {self.handler.series}"

    def status(self, classified: int) -> str:
        """The counts, then ``state`` (counts first: a narrow dashboard title cuts the end);
        ``classified``: frames the worker has classified."""
        c = self.counts
        return (f"received {c.received}, classified {classified}, malformed {c.malformed}, dropped {c.dropped}, "
                f"missing {c.missing} · {self.state()}")

    @property
    def depth(self) -> int:
        """Decoded frames waiting for the classifier."""
        with self._ready:
            return len(self._frames)

    @property
    def running(self) -> bool:
        """Whether the receiving thread still runs (after ``stop``: until the socket is drained)."""
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop receiving once what already reached this process is taken in (see the module doc)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the receiving thread (if it was started) to end."""
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def take(self, limit: int, timeout: float) -> tuple[list[Frame], list[Rejected]]:
        """Up to ``limit`` frames and all rejected records, oldest first; waits up to ``timeout`` s for one."""
        with self._ready:
            if not self._frames and not self._rejected:
                self._ready.wait(timeout)
            frames = [self._frames.popleft() for _ in range(min(limit, len(self._frames)))]
            rejected = list(self._rejected)
            self._rejected.clear()
            self._ready.notify_all()  # room for a receiver waiting while draining
            return frames, rejected

    def _receive(self) -> None:
        try:
            self._run_socket()
        except Exception as exc:  # a bug or a ZeroMQ failure: the worker sees ``failure`` and stops
            log.exception("stream receiver failed")
            self.failure = f"{self.endpoint}: receiver failed: {type(exc).__name__}: {exc}"
        finally:
            with self._ready:
                self._ready.notify_all()

    def _run_socket(self) -> None:
        s = self.settings
        sock = zmq.Context.instance().socket(zmq.PULL)
        sock.rcvhwm = s.receive_buffer_frames
        sock.linger = 0
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, int(s.reconnect_max_s * 1000))
        sock.setsockopt(zmq.HEARTBEAT_IVL, int(s.heartbeat_s * 1000))
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(3 * s.heartbeat_s * 1000))
        monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        try:
            sock.connect(self.endpoint)
            log.info("stream: connecting to %s", self.endpoint)
            last_message = time.monotonic()
            deadline: float | None = None
            while True:
                now = time.monotonic()
                if self._stop.is_set():
                    if deadline is None:  # quiet counts from the stop: what already sits in ZeroMQ is read
                        deadline, last_message = now + DRAIN_MAX_S, max(last_message, now)
                    if now - last_message >= DRAIN_QUIET_S or now >= deadline:
                        return
                ready = dict(poller.poll(int(POLL_S * 1000)))
                if monitor in ready:
                    self._connection(recv_monitor_message(monitor)["event"])
                if sock in ready:
                    self._accept(sock.recv_multipart(copy=False), waiting=deadline is not None)
                    last_message = time.monotonic()  # after any wait for room
        finally:
            sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)

    def _connection(self, event: int) -> None:
        self.connected = event == zmq.EVENT_CONNECTED
        log.info("stream: %s %s", "connected to" if self.connected else "lost", self.endpoint)

    def _accept(self, parts: list[zmq.Frame], waiting: bool) -> None:
        """Handle one message; a frame finding the queue full is dropped, or while draining waits for room."""
        limit = self.settings.queue_size
        with self._ready:
            if waiting:
                while len(self._frames) >= limit:
                    self._ready.wait(POLL_S)
            room = len(self._frames) < limit
        item = self.handler.handle([p.buffer for p in parts], time.time(), room)
        if item is None:
            return
        with self._ready:
            (self._frames if isinstance(item, Frame) else self._rejected).append(item)
            self._ready.notify_all()
