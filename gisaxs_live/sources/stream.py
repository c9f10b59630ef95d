"""A ZeroMQ detector stream as a source: connect a PULL socket, decode messages into Frames on a thread.

``MessageHandler`` turns one multi-part message into a ``Frame``, a ``Rejected`` record (malformed input,
or a frame dropped at a full queue: both become ``error`` rows) or nothing (a series start or end). It
tells the protocols apart message by message (or takes the one given, ``PROTOCOLS``): a single part that
does not start like JSON is DECTRIS Stream V2 CBOR (``stream2``); otherwise part 1 is JSON, with
``htype`` SIMPLON stream v1 (``simplon``), without it the simple protocol (``simple_protocol``). Both
DECTRIS protocols decode to one shape (``decoded``), handled alike from here on; of a V2 image the
configured threshold channel is taken (``stream.channel``; default the first). No message ends the
stream: an image declaring more than ``stream.max_image_bytes`` is refused before any decoder sees it
(``sizeguard``), and should a decoder fail in a way not foreseen, that message still becomes one error
row. It keeps the series state: the last start's pixel mask (used for that series only) and the
series' progress (``series``): frame ids skipped are counted as ``missing`` (frames that went to another
client of the same stream, or were lost upstream), and a series that closes with images missing (cut
short by the next series, a restart or the stop; or ended early) becomes one error row saying how many,
with the count the header announced where it gave one. A series whose header was missed (the client
joined mid-series) is still classified: geometry comes from the config, the mask then only from the
pixel values.

``StreamSource`` owns the socket and a receiving thread; the worker ``take``s decoded frames. ZeroMQ
reconnects by itself when the publisher goes away and comes back; TCP keepalive notices a silent peer.
Frames are decoded only when the queue has room; otherwise they are dropped unread (counted, and each
gets an error row). On ``stop`` the thread keeps receiving until the socket has been quiet for
``DRAIN_QUIET_S`` since the stop or the last message (at most ``DRAIN_MAX_S``), waiting for room instead
of dropping, so frames that already reached this process are classified, not lost; then it closes the
socket.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from ..config import ConfigError, Stream
from ..frame import Frame
from . import simple_protocol, simplon, stream2
from .dectris import flagged_pixels
from .decoded import Image, SeriesEnd, SeriesStart
from .series import SeriesProgress, plural
from .simplon import MessageError, Part
from .stream2 import Stream2Error, Where

log = logging.getLogger(__name__)

POLL_S = 0.1          # receiving thread: how often it checks for stop (s)
DRAIN_QUIET_S = 0.25  # stop: receiving ends once nothing came for this long (s) ...
DRAIN_MAX_S = 10.0    # ... or after this long (s)
_TCP = re.compile(r"tcp://(\[[^\]]+\]|[^:/;]+):(\d+|\*)")
#: ``--protocol`` values: ``auto`` tells them apart message by message.
PROTOCOLS = ("auto", "stream2", "simplon", "simple")
PROTOCOL_NAMES = {"stream2": "Stream V2 (CBOR)", "simplon": "SIMPLON stream v1", "simple": "simple-protocol"}


def series_of(source: str) -> str:
    """The series a stream row's ``source`` belongs to: the source without a Stream V2 image id
    (``MessageHandler.source2``), so that ``endpoint series 7 image 12 channel threshold_1`` is
    ``endpoint series 7 channel threshold_1``; a SIMPLON source names its series alone."""
    return _IMAGE_ID.sub("", source)


_IMAGE_ID = re.compile(r" image \d+(?= |$)")


def check_endpoint(endpoint: str, allowed: Sequence[str] = ()) -> None:
    """Raise ConfigError unless ``endpoint`` is loopback (TCP to 127.0.0.0/8, localhost or ::1; ipc://)
    or listed in ``allowed`` (the config's ``stream.allowed_endpoints``)."""
    if endpoint.startswith("ipc://"):
        return
    match = _TCP.fullmatch(endpoint)
    if match is not None and match.group(2) != "*" and not 0 < int(match.group(2)) < 65536:
        # ZeroMQ would take the number modulo 65536: another port than the one named
        raise ConfigError(f"endpoint {endpoint}: port {match.group(2)} is out of range (1-65535)")
    if endpoint in allowed:
        return
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


def ipv6_literal(endpoint: str) -> bool:
    """Whether ``endpoint`` names its host by an IPv6 address (``tcp://[::1]:PORT``): its socket must have ZeroMQ's
    IPv6 option, off by default (without it such an endpoint was taken and never connected). Not set for names:
    ``localhost`` could then resolve to ::1 while the peer listens on 127.0.0.1."""
    return endpoint.startswith("tcp://[")


#: monitor events of a connection whose ZeroMQ handshake failed (a peer that speaks no ZMTP, or refuses it)
HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
#: seconds between tries of an endpoint whose peer took the connection but was no PUSH socket
REFUSED_RETRY_S = 1.0


def _json_object_start(part: Part) -> bool:
    """Whether ``part`` begins as a JSON object: ``{`` after an optional UTF-8 byte-order mark and white space, as
    ``simplon.load_json`` reads it (looked for in its first 64 bytes)."""
    head = bytes(memoryview(part).cast("B")[:64])
    return head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")[:1] == b"{"


def _connect_again(sock: zmq.Socket, endpoint: str) -> None:
    """Connect ``sock`` to ``endpoint`` anew: ZeroMQ does not try again itself after a peer of a socket type that
    cannot send to it (a PUB) closed the connection."""
    try:
        sock.disconnect(endpoint)
    except zmq.ZMQError:
        pass  # no longer connected there
    sock.connect(endpoint)


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
    any kind), frames ``dropped`` at a full queue, images ``missing`` from a series (frame ids skipped, and
    announced images that never came), series ``cut_short`` (closed with images missing); written by the
    receiving thread only."""

    received: int = 0
    malformed: int = 0
    dropped: int = 0
    missing: int = 0
    cut_short: int = 0


class MessageHandler:
    """One received message → Frame | Rejected | None, for the stream at ``endpoint``; images may declare
    at most ``limit`` bytes. Reports of series cut short collect in ``notices``, for the caller to take."""

    def __init__(self, endpoint: str, limit: int = Stream.max_image_bytes, protocol: str = "auto",
                 channel: str | None = None) -> None:
        if protocol not in PROTOCOLS:
            raise ConfigError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        self.endpoint = endpoint
        self.limit = limit
        self.protocol = protocol
        self.channel = channel  # Stream V2 threshold channel (None: the first)
        self.seen_protocol: str | None = None        # of the last message whose protocol was told
        self.counts = StreamCounts()
        self.start: SeriesStart | None = None
        self.series: int | None = None              # of the last DECTRIS message
        self.progress: SeriesProgress | None = None  # the open series (None: none, or it ended)
        self.notices: deque[Rejected] = deque()
        self._mask_refused: int | None = None  # the series whose pixel mask's shape was said not to fit
        self._ended: int | None = None  # the series whose end message came last, until a header
        self._straggled: int | None = None  # the series whose image after its end was said

    def source(self, series: int | None) -> str:
        """The CSV ``source`` of frames of ``series`` (None: the endpoint alone)."""
        return self.endpoint if series is None else f"{self.endpoint} series {series}"

    def source2(self, at: Where) -> str:
        """The CSV ``source`` of a Stream V2 message: endpoint, series, image id and channel, where known."""
        named = [f"{key} {value}" for key, value in (("series", at.series), ("image", at.image),
                                                      ("channel", at.channel)) if value is not None]
        return " ".join([self.endpoint, *named])

    def handle(self, parts: Sequence[Part], t: float, full: str | None = None) -> Frame | Rejected | None:
        """Decode ``parts`` received at ``t`` (Unix s); ``full``: why the classifier's queue has no room (None: it
        has), and then an image is dropped undecoded, its row saying so."""
        if self._is_stream2(parts):
            return self._stream2(parts, t, full)
        first: dict | None = None
        try:
            if self.protocol != "auto" and len(parts) == 1 and stream2.looks_like(parts[0]):
                self._told("stream2")  # a CBOR message on a stream started for a JSON protocol: say so
            first = simplon.load_json(parts[0], "part 1")
            self._told("simplon" if "htype" in first else "simple")
            if "htype" not in first:
                return self._simple(parts, first, t, full)
            if first["htype"] == simplon.IMAGE:
                return self._image(parts, first, t, full)
            message = simplon.parse(parts, first, self.limit)
            if isinstance(message, simplon.SeriesHeader):
                self._begin(message.start(), t)
            else:
                self._end(message, t)
            return None
        except MessageError as exc:
            return self._malformed(exc, t)
        except Exception as exc:  # a decoder failing in a way not foreseen: this message's row, the stream goes on
            log.exception("%s: a message could not be decoded", self.endpoint)
            series, frame = (first or {}).get("series"), (first or {}).get("frame")
            return self._failed(self.source(series if type(series) is int else None), frame, exc, t)

    def _is_stream2(self, parts: Sequence[Part]) -> bool:
        """Whether to read ``parts`` as Stream V2: ``--protocol stream2``; or, told apart, a single part that
        starts like a CBOR map, or a message whose first part is not JSON on a stream whose last known message was
        V2 (then the error row says what it is not in that protocol's terms)."""
        if self.protocol != "auto":
            return self.protocol == "stream2"
        if self.seen_protocol == "stream2":  # then also a message of several parts, which V2 never sends
            return not _json_object_start(parts[0])
        return len(parts) == 1 and stream2.looks_like(parts[0])

    def _stream2(self, parts: Sequence[Part], t: float, full: str | None) -> Frame | Rejected | None:
        """A Stream V2 message: one CBOR map."""
        at = Where()
        try:
            if len(parts) != 1:
                why = "--protocol stream2" if self.protocol == "stream2" else "the stream's last messages were V2"
                raise Stream2Error(f"message has {plural(len(parts), 'part')}; Stream V2 sends one CBOR part ({why})")
            if _json_object_start(parts[0]):
                raise Stream2Error("message is JSON (SIMPLON v1 or the simple protocol), not the CBOR of Stream V2")
            message = stream2.load(parts[0])
            self._told("stream2")
            at = stream2.where(message)
            if message["type"] == stream2.IMAGE:
                return self._image2(message, at, t, full)
            decoded = stream2.parse(message, self.channel, self.limit)
            if isinstance(decoded, SeriesStart):
                self._begin(decoded, t)
            else:
                assert isinstance(decoded, SeriesEnd)
                self._end(decoded, t)
            return None
        except MessageError as exc:
            return self._malformed(exc, t)
        except Exception as exc:  # as in ``handle``
            log.exception("%s: a message could not be decoded", self.endpoint)
            return self._failed(self.source2(at), at.image, exc, t)

    def _image2(self, message: Mapping[str, Any], at: Where, t: float, full: str | None) -> Frame | Rejected:
        self.counts.received += 1
        if at.series is not None and at.image is not None:
            self._track(at.series, at.image, t)
        if full is not None:
            data = message.get("data")
            first = next(iter(data), None) if isinstance(data, Mapping) else None
            channel = self.channel or (first if isinstance(first, str) else None)
            return self._drop(self.source2(Where(at.series, at.image, channel)), at.image, t, full)
        image = stream2.parse(message, self.channel, self.limit)
        assert isinstance(image, Image)  # type was image
        return Frame(image.data, self.source2(Where(image.series, image.frame, image.channel)), image.frame, t,
                     self._mask(image))

    def _told(self, protocol: str) -> None:
        """Note the protocol of a message; one given by ``--protocol`` must match (else MessageError)."""
        if self.protocol not in ("auto", protocol):
            raise MessageError(f"a {PROTOCOL_NAMES[protocol]} message, but the stream was started with "
                               f"--protocol {self.protocol}")
        if protocol != self.seen_protocol:
            how = "first message" if self.seen_protocol is None else f"after {PROTOCOL_NAMES[self.seen_protocol]}"
            log.info("%s: %s messages (%s)", self.endpoint, PROTOCOL_NAMES[protocol], how)
            self.seen_protocol = protocol

    def close(self, t: float) -> None:
        """The stream stops: report the open series if images are missing from it (not yet received: a stream
        started again may still get them)."""
        if self.progress is not None:
            self._close("still open at the stop", False, t, "not received before the stop")

    def _begin(self, start: SeriesStart, t: float) -> None:
        progress = self.progress
        late = progress is not None and progress.series == start.series and not progress.header
        if late:  # its first images came before it (a client joining as the series starts): the same series
            assert progress is not None
            progress.header, progress.expected = True, start.expected
            log.info("%s: series %d header came after %s of it", self.endpoint, start.series,
                     plural(progress.seen, "image"))
        elif progress is not None:
            same = progress.series == start.series
            self._close("cut short (its header came again)" if same else f"cut short (series {start.series} "
                        "started)", False, t)
        self.start, self.series, self._ended = start, start.series, None
        if not late:
            self.progress = SeriesProgress(start.series, header=True, expected=start.expected)
        count = "image count not given" if start.expected is None else plural(start.expected, "image")
        log.info("%s: series %d header (%s, %s)", self.endpoint, start.series, start.description, count)
        if start.warning:
            log.warning("%s: series %d: %s", self.endpoint, start.series, start.warning)

    def _end(self, end: SeriesEnd, t: float) -> None:
        log.info("%s: series %d ended", self.endpoint, end.series)
        if self.progress is not None:
            same = self.progress.series == end.series
            self._close("ended" if same else f"cut short (the end of series {end.series} came)", same, t)
        self.series = self._ended = end.series

    def _close(self, how: str, ended: bool, t: float, missing: str = "missing") -> None:
        """Close the open series; if images are missing, count them and add a notice (``SeriesProgress.shortfall``)."""
        progress, self.progress = self.progress, None
        assert progress is not None
        self.counts.missing += max(progress.missing - progress.skipped, 0)  # skipped ids are counted already
        text = progress.shortfall(how, ended, missing)
        if text is None:
            return
        self.counts.cut_short += 1
        log.warning("%s: %s", self.endpoint, text)
        gaps = progress.missing_runs()  # the row names the first image missing, else the one after the last received
        following = gaps[0][0] if gaps else progress.next_frame
        exists = following is not None and (progress.expected is None or following < progress.expected)
        self.notices.append(Rejected(self.source(progress.series), following if exists else -1, text, t))

    def _image(self, parts: Sequence[Part], first: dict, t: float, full: str | None) -> Frame | Rejected:
        self.counts.received += 1
        series, frame = first.get("series"), first.get("frame")
        if type(series) is int and type(frame) is int and series >= 0 and frame >= 0:
            self._track(series, frame, t)
        if full is not None:
            return self._drop(self.source(series if type(series) is int else None), frame, t, full)
        image = simplon.parse(parts, first, self.limit)
        assert isinstance(image, simplon.Image)  # htype was dimage-1.0
        return Frame(image.data, self.source(image.series), image.frame, t, self._mask(image))

    def _track(self, series: int, frame: int, t: float) -> None:
        progress = self.progress
        if progress is None and series == self._ended:  # a straggler: classified, but it opens no series
            if self._straggled != series:
                self._straggled = series
                log.warning("%s: series %d image %d came after the series' end message (said once a series)",
                            self.endpoint, series, frame)
            return
        if progress is not None and progress.series != series:
            self._close(f"cut short (series {series} started)", False, t)
        elif progress is not None and progress.restarted(frame):
            self._close(f"cut short (restarted at frame {frame})", False, t)
        if self.progress is None:  # this series' images came without its header before them
            log.warning("%s: series %d without its header (joined mid-series or header missed): "
                        "classified with the configured geometry, no detector pixel mask", self.endpoint, series)
            self.progress = SeriesProgress(series, next_frame=None)
        self.series = series
        self.counts.missing += self.progress.image(frame)

    def _mask(self, image: Image) -> np.ndarray | None:
        """The start's pixel mask (same series and shape), plus pixels at the maximum of an unsigned type
        (``dectris.flagged_pixels``), whether or not a mask was sent."""
        start = self.start
        mask = None
        if start is not None and start.series == image.series and start.pixel_mask is not None:
            if start.pixel_mask.shape == image.data.shape:
                mask = start.pixel_mask
            elif self._mask_refused != image.series:
                self._mask_refused = image.series
                log.warning("%s: series %d: its pixel mask is %dx%d pixels, its images %dx%d: classified without "
                            "the detector's mask (the pixels at the type's maximum are masked)", self.endpoint,
                            image.series, start.pixel_mask.shape[1], start.pixel_mask.shape[0],
                            image.data.shape[1], image.data.shape[0])
        flagged = flagged_pixels(image.data)
        if flagged is not None:
            mask = flagged if mask is None else mask | flagged
        return mask

    def _simple(self, parts: Sequence[Part], first: dict, t: float, full: str | None) -> Frame | Rejected:
        self.counts.received += 1
        if full is not None:
            return self._drop(self.endpoint, first.get("frame"), t, full)
        decoded = simple_protocol.decode(parts, first, self.limit)
        source = self.endpoint if decoded.source is None else f"{self.endpoint} {decoded.source}"
        return Frame(decoded.data, source, decoded.frame, t if decoded.timestamp is None else decoded.timestamp)

    def _drop(self, source: str, frame: object, t: float, full: str) -> Rejected:
        """The row of an image dropped undecoded because the queue was ``full`` (why, in words)."""
        self.counts.dropped += 1
        return Rejected(source, frame if type(frame) is int else -1, f"dropped: {full}; frame not decoded", t)

    def _malformed(self, exc: MessageError, t: float) -> Rejected:
        self.counts.malformed += 1
        frame = -1 if exc.frame is None else exc.frame
        source = self.source2(exc.where) if isinstance(exc, Stream2Error) else self.source(exc.series)
        return Rejected(source, frame, f"malformed message: {exc}", t)

    def _failed(self, source: str, frame: object, exc: Exception, t: float) -> Rejected:
        """The row of a message whose decoding failed unforeseen, naming its series/frame where it could."""
        self.counts.malformed += 1
        lines = str(exc).strip().splitlines()
        cause = lines[0] if lines else "an unforeseen failure of the decoder (details in the log)"
        return Rejected(source, frame if type(frame) is int and frame >= 0 else -1,
                        f"message could not be decoded: {cause}", t)


class StreamSource:
    """Receives ``endpoint`` (connect PULL) on a thread; ``take`` hands out frames and rejected records."""

    def __init__(self, endpoint: str, settings: Stream, protocol: str = "auto") -> None:
        check_endpoint(endpoint, settings.allowed_endpoints)
        self.endpoint = endpoint
        self.settings = settings
        self.handler = MessageHandler(endpoint, settings.max_image_bytes, protocol, settings.channel)
        self.connected = False
        self.has_connected = False  # connected at least once (what the ``ready`` line waits for)
        self._lost = False  # disconnected, with messages perhaps still in ZeroMQ's buffer: judged once they are read
        self._refusals = 0  # connections closed before ZeroMQ's handshake since the last one that made it
        self._retry_at: float | None = None  # when to connect again after such a peer (monotonic s)
        self.failure: str | None = None
        self._frames: deque[Frame] = deque()
        self._queued_bytes = 0  # of the pixels of ``_frames``
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
                f"missing {c.missing}, series cut short {c.cut_short} · {self.state()}")

    @property
    def depth(self) -> int:
        """Decoded frames waiting for the classifier."""
        with self._ready:
            return len(self._frames)

    def between_series(self) -> bool:
        """Whether no series is open and no decoded frame waits (every frame of an ended series is taken)."""
        return self.handler.progress is None and self.depth == 0

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
            self._queued_bytes -= sum(f.data.nbytes for f in frames)
            rejected = list(self._rejected)
            self._rejected.clear()
            self._ready.notify_all()  # room for a receiver waiting while draining
            return frames, rejected

    def _receive(self) -> None:
        try:
            self._run_socket()
        except Exception as exc:  # a ZeroMQ failure (messages cannot end it): the worker sees ``failure``, stops
            log.exception("stream receiver failed")
            self.failure = f"{self.endpoint}: receiver failed: {exc}"
        finally:
            self.handler.close(time.time())  # an open series with images missing is reported before the end
            with self._ready:
                self._rejected.extend(self.handler.notices)
                self.handler.notices.clear()
                self._ready.notify_all()

    def _run_socket(self) -> None:
        s = self.settings
        sock = zmq.Context.instance().socket(zmq.PULL)
        sock.rcvhwm = s.receive_buffer_frames
        sock.linger = 0
        sock.ipv6 = ipv6_literal(self.endpoint)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, int(s.reconnect_max_s * 1000))
        # a silent peer (a detector powered off, a cable pulled) is noticed by the kernel's TCP keepalive, which goes
        # on while this process is stalled; ZeroMQ's own heartbeat timed out when a stall outlasted it, and closed the
        # connection before the messages already received were read (a trial lost series' last images and ends)
        interval = max(1, math.ceil(s.heartbeat_s))
        for option, value in ((zmq.TCP_KEEPALIVE, 1), (zmq.TCP_KEEPALIVE_IDLE, interval),
                              (zmq.TCP_KEEPALIVE_INTVL, interval), (zmq.TCP_KEEPALIVE_CNT, 3)):
            sock.setsockopt(option, value)
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | HANDSHAKE_FAILED)
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
                if self._retry_at is not None and now >= self._retry_at:
                    self._retry_at = None
                    _connect_again(sock, self.endpoint)
                if sock in ready:
                    self._accept(sock.recv_multipart(copy=False), waiting=deadline is not None)
                    last_message = time.monotonic()  # after any wait for room
                elif self._lost:
                    self._lost_during_series()
        finally:
            sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)

    def _connection(self, event: int) -> None:
        """A monitor event: connected once ZeroMQ's handshake succeeded (a TCP connection alone is no sender: a PUB
        socket there is refused after it); a disconnect or a failed handshake before that is a peer that cannot
        send here, said once until a sender connects."""
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.connected = self.has_connected = True
            self._lost, self._refusals, self._retry_at = False, 0, None
            log.info("stream: connected to %s", self.endpoint)
        elif self.connected:  # disconnected
            self.connected, self._lost = False, True
            log.info("stream: lost %s", self.endpoint)
        else:  # ZeroMQ gives up on a peer of the wrong socket type: tried again here, as it does on others
            self._retry_at = self._retry_at or time.monotonic() + REFUSED_RETRY_S
            self._refusals += 1
            if self._refusals == 2:  # not the first: a sender restarting may close a connection before its handshake
                log.warning("stream: %s: a peer there takes the connection but no ZeroMQ PUSH socket answers (a PUB "
                            "or REQ socket, or no ZeroMQ at all): nothing can be received from it; the sender must be "
                            "a PUSH socket (said once until one connects; tried again every %g s)", self.endpoint,
                            REFUSED_RETRY_S)

    def _lost_during_series(self) -> None:
        """After a disconnect, once ZeroMQ's buffer is read (the monitor reports the disconnect before the messages
        sent before it, a series' last images and its end among them): a warning if a series is still open. It is
        reported as cut short once the next series starts."""
        self._lost = False
        progress = self.handler.progress
        if progress is not None:
            of = "" if progress.expected is None else f" of {progress.expected}"
            log.warning("stream: %s went away during series %d, after %s%s", self.endpoint, progress.series,
                        plural(progress.seen, "image"), of)

    def _accept(self, parts: list[zmq.Frame], waiting: bool) -> None:
        """Handle one message; a frame finding the queue full (``queue_size`` frames, or ``max_queue_bytes`` of
        pixels: one more image may pass it) is dropped, or while draining waits for room."""
        with self._ready:
            if waiting:
                while self._full() is not None:
                    self._ready.wait(POLL_S)
            full = self._full()
        item = self.handler.handle([p.buffer for p in parts], time.time(), full)
        notices = self.handler.notices
        if item is None and not notices:
            return
        with self._ready:
            self._rejected.extend(notices)  # a series cut short, reported before the message that showed it
            notices.clear()
            if isinstance(item, Frame):
                self._frames.append(item)
                self._queued_bytes += item.data.nbytes
            elif item is not None:
                self._rejected.append(item)
            self._ready.notify_all()

    def _full(self) -> str | None:
        """Why the queue has no room for another frame (None: it has); under ``_ready``."""
        s = self.settings
        if len(self._frames) >= s.queue_size:
            return "the classifier queue was full (stream.queue_size)"
        if self._queued_bytes >= s.max_queue_bytes:
            return (f"the frames waiting for the classifier held {self._queued_bytes / 2**20:,.0f} MiB "
                    "(stream.max_queue_bytes)")
        return None
