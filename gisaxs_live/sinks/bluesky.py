"""Results as Bluesky event-model documents, published to a bluesky 0MQ proxy (``--bluesky tcp://HOST:PORT``).

One run per series (a stream's ``ENDPOINT series N``; for ``watch``, one run from the first frame to the
exit): a ``start`` document, a ``primary`` descriptor, one ``event`` per frame (status, frame, source,
top1/p1, top2/p2, family, p_family, the probabilities in the model's class order, ood_score, latency_ms,
message; numbers a row lacks are NaN, texts empty) and a ``stop`` once the series has ended (or the next
one starts, or the monitor exits). Documents are built with ``event-model`` (imported when the sink is
made; an optional extra) and sent as ``bluesky.callbacks.zmq.Publisher`` sends them: one ZeroMQ message
``b" ".join([prefix, name, pickle.dumps(doc)])`` to the proxy's input port, where
``bluesky.callbacks.zmq.RemoteDispatcher`` on its output port receives them. The socket is an XPUB, so
documents wait (at most ``PENDING_MAX``) until the proxy has subscribed: a run's start is not lost to the
connection being set up. A proxy that goes away (its connection ends) and comes back is logged once each way
(``zmq`` socket monitor): ZeroMQ may drop what was sent while it was away, and a PUB socket cannot know. Not
critical: a failure is logged and the update skipped (``sinks.emit``).
"""

from __future__ import annotations

import logging
import math
import pickle
import re
import time
from collections import deque
from typing import Any

import zmq

from ..classify.answer import SEPARATOR
from ..results import Result
from ..sources.stream import ipv6_literal
from . import Update

log = logging.getLogger(__name__)

PENDING_MAX = 10_000  # documents kept while the proxy has not subscribed yet
CLOSE_WAIT_S = 2.0    # close: how long documents still waiting may wait for the proxy's subscription (s)
_SERIES = re.compile(r"^(.*? series \d+)(?: |$)")
_ADDRESS = re.compile(r"tcp://(\[[^\]]+\]|[^:/]+):(\d+)")


def check_address(address: str) -> str:
    """``address`` if it is ``tcp://HOST:PORT``, else a ValueError naming it."""
    if _ADDRESS.fullmatch(address) is None:
        raise ValueError(f"--bluesky {address!r}: not tcp://HOST:PORT (the bluesky 0MQ proxy's input port)")
    return address


def run_key(source: str) -> str | None:
    """The run a frame belongs to: ``ENDPOINT series N`` of a stream's source; None (one run) otherwise."""
    match = _SERIES.match(source)
    return match.group(1) if match else None


class BlueskySink:
    """Results → event-model documents → the bluesky 0MQ proxy at ``address``; ``metadata`` goes into
    every start document (with ``gisaxs_live_run``: the run's series, or the session)."""

    critical = False

    def __init__(self, address: str, metadata: dict[str, Any] | None = None, prefix: bytes = b"") -> None:
        try:
            import event_model
        except ImportError:
            raise ValueError("--bluesky needs event-model: pip install 'gisaxs-live[bluesky]'") from None
        self._event_model = event_model
        self.address = check_address(address)
        self.metadata = dict(metadata or {})
        self.prefix = prefix
        self._socket = zmq.Context.instance().socket(zmq.XPUB)
        self._socket.linger = 1000
        self._socket.ipv6 = ipv6_literal(address)
        self._monitor = self._socket.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        self._socket.connect(address)
        self._connected = self._seen_once = False
        self._subscribed = False
        self._pending: deque[bytes] = deque(maxlen=PENDING_MAX)
        self._run: Any = None  # event_model.ComposeRunBundle of the open run
        self._key: str | None = None
        self._event: Any = None  # compose_event of the open run's descriptor

    def update(self, update: Update) -> None:
        for result in update.results:
            key = run_key(result.source)
            if self._run is not None and key != self._key:
                self.end_run()
            if self._run is None:
                self._open(key, result)
            data = _data(result)
            now = time.time()
            # not schema-checked per event (jsonschema: 4/5 of the sink's time); the keys are the descriptor's
            # by construction (``_data``, ``_data_keys``), and the tests validate every document kind
            event = self._event(data=data, timestamps=dict.fromkeys(data, now), validate=False)
            self._send("event", event)
        self._flush()

    def end_series(self) -> None:
        """The stream has no open series and nothing queued: stop the open run if it is a series' run."""
        if self._key is not None:
            self.end_run()

    def end_run(self, exit_status: str = "success", reason: str = "") -> None:
        """Stop the open run, if any (the series ended; or the monitor exits)."""
        if self._run is None:
            return
        self._send("stop", self._run.compose_stop(exit_status=exit_status, reason=reason))
        self._run = self._event = self._key = None
        self._flush()

    def close(self) -> None:
        try:
            self.end_run(reason="the monitor stopped")
            if self._pending and not self._subscribed and self._socket.poll(int(CLOSE_WAIT_S * 1000), zmq.POLLIN):
                self._flush()  # the proxy subscribed just now
            if self._pending:
                log.warning("bluesky: %d documents not sent: the proxy at %s never subscribed", len(self._pending),
                            self.address)
        finally:
            self._socket.disable_monitor()
            self._monitor.close(linger=0)
            self._socket.close()

    def _open(self, key: str | None, first: Result) -> None:
        em = self._event_model
        metadata = {**self.metadata, "gisaxs_live_run": key or "session",
                    "class_names": list(first.class_names)}
        self._run = em.compose_run(metadata=metadata)
        self._key = key
        self._send("start", self._run.start_doc)
        descriptor = self._run.compose_descriptor(name="primary", data_keys=_data_keys(first))
        self._event = descriptor.compose_event
        self._send("descriptor", descriptor.descriptor_doc)

    def _send(self, name: str, doc: dict[str, Any]) -> None:
        self._pending.append(b" ".join([self.prefix, name.encode(), pickle.dumps(dict(doc))]))

    def _flush(self) -> None:
        """Send what waits, once the proxy has subscribed (an XPUB sees the subscription)."""
        self._watch_connection()
        while self._socket.poll(0, zmq.POLLIN):
            if self._socket.recv()[:1] == b"\x01":
                self._subscribed = True
        while self._subscribed and self._pending:
            self._socket.send(self._pending[0])
            self._pending.popleft()

    def _watch_connection(self) -> None:
        """Log each loss and return of the connection to the proxy (once each), from the socket monitor."""
        from zmq.utils.monitor import recv_monitor_message

        while self._monitor.poll(0, zmq.POLLIN):
            event = recv_monitor_message(self._monitor)["event"]
            if event == zmq.EVENT_DISCONNECTED and self._connected:
                log.warning("bluesky: the proxy at %s went away: documents sent until it is back may be lost "
                            "(the CSV log has every row)", self.address)
            elif event == zmq.EVENT_CONNECTED and not self._connected and self._seen_once:
                log.info("bluesky: the proxy at %s is back", self.address)
            self._seen_once |= event == zmq.EVENT_CONNECTED
            self._connected = event == zmq.EVENT_CONNECTED


def _data_keys(result: Result) -> dict[str, dict[str, Any]]:
    source = "gisaxs-live"
    text = {"source": source, "dtype": "string", "shape": []}
    number = {"source": source, "dtype": "number", "shape": []}
    return {"status": text, "frame": {"source": source, "dtype": "integer", "shape": []},
            "frame_source": text, "top1": text, "p1": number, "top2": text, "p2": number, "family": text,
            "p_family": number, "answer": text,
            "probabilities": {"source": source, "dtype": "array", "shape": [len(result.class_names)],
                              "dtype_numpy": "<f8"},
            "ood_score": number, "latency_ms": number, "message": text}


def _data(result: Result) -> dict[str, Any]:
    top = result.ranked()
    (top1, p1), (top2, p2) = top[:2] if len(top) >= 2 else [("", math.nan), ("", math.nan)]
    family = result.family()
    probabilities = [float(p) for p in result.probabilities] or [math.nan] * len(result.class_names)
    return {"status": result.status, "frame": int(result.frame), "frame_source": result.source,
            "top1": top1, "p1": float(p1), "top2": top2, "p2": float(p2),
            "family": family[0] if family else "", "p_family": float(family[1]) if family else math.nan,
            "answer": SEPARATOR.join(result.answer),
            "probabilities": probabilities,
            "ood_score": math.nan if result.ood_score is None else float(result.ood_score),
            "latency_ms": float(result.latency_ms), "message": result.message}


def bluesky_sinks(address: str | None, metadata: dict[str, Any]) -> list[BlueskySink]:
    """The document sink for the proxy at ``address`` (none when None); ``metadata`` goes into each run's
    start document. A ValueError (one line) for a bad address or a missing extra."""
    return [] if address is None else [BlueskySink(address, metadata)]
