"""``gisaxs-live stream``: classify every frame of a detector's ZeroMQ stream, into a CSV log and a dashboard.

Connects to ENDPOINT as a detector's client does (the detector binds PUSH; this connects PULL): DECTRIS
Stream V2 (CBOR; Eiger2, Pilatus4; port 31001), DECTRIS SIMPLON stream v1 (port 9999) or the simple
protocol (a JSON header part and a raw pixel part; see ``gisaxs_live.sources.simple_protocol``), told
apart message by message unless --protocol names one. Of a Stream V2 image the threshold channel
stream.channel is classified (default: the first), masked with the start message's pixel mask. The
model is loaded before connecting, so the detector waits rather than frames being dropped during start-up;
once the socket is connected one ``ready`` line is logged and systemd is notified (READY=1 to
$NOTIFY_SOCKET, for Type=notify units), so a beamline script can wait for it before arming.

Every frame gets a row (source ``ENDPOINT series N``; for Stream V2 ``ENDPOINT series N image M channel
C``; the frame or image id in the frame column). Malformed
messages, images declaring more than stream.max_image_bytes, and frames dropped at a full queue
(stream.queue_size) get ``error`` rows; no message stops the stream. The publisher may go away and come
back; a series whose header was missed is still classified. A series that closes with images missing
(the next series started, the publisher restarted it, the stream stopped, or it ended early) gets one
``error`` row, e.g. "series 7 cut short (series 8 started): 238 of 400 images received, 162 missing",
counting against the header's nimages x ntrigger where it gives them.

Only loopback endpoints unless the config lists others in stream.allowed_endpoints. A DECTRIS stream
round-robins messages between its clients: a second client on the same stream halves what each sees.

With --bluesky tcp://HOST:PORT (or stream.bluesky) results also go to a bluesky 0MQ proxy as event-model
documents: a run per series (start, descriptor, one event per frame, stop once the series has ended);
see ``gisaxs_live.sinks.bluesky``.

SIGTERM or Ctrl-C: stop receiving once the socket is quiet, classify what arrived, flush the log, exit 0; also
during start-up, and then no ``ready`` line.
SIGHUP reopens the CSV log (after logrotate).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..causes import in_words

if TYPE_CHECKING:
    from ..classify.pipeline import Classifier
    from ..results import Result
    from ..sinks import Sink
    from ..sinks.csvlog import CsvLog
    from ..sources.stream import StreamSource

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..sources.stream import PROTOCOLS

    p = subparsers.add_parser("stream", help="classify each frame of a detector's ZeroMQ stream (dashboard + CSV log)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("endpoint", metavar="ENDPOINT", help="the detector's stream, e.g. tcp://127.0.0.1:9999")
    p.add_argument("--config", type=Path, default=None, help="YAML config (experiment, geometry, mask, stream, output)")
    p.add_argument("--csv", type=Path, default=None, help="CSV log, appended (default: output.csv)")
    p.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="auto",
                   help="auto: tell each message's protocol from it (default); stream2: DECTRIS Stream V2; "
                        "simplon: SIMPLON stream v1; simple: the simple protocol (messages of another are error rows)")
    p.add_argument("--no-dashboard", action="store_true",
                   help="log lines instead of the dashboard, counts every stream.log_interval_s "
                        "(automatic without a terminal)")
    p.add_argument("--bluesky", metavar="tcp://HOST:PORT", default=None,
                   help="also publish results as Bluesky event-model documents (one run per series) to the "
                        "bluesky 0MQ proxy's input port (default: stream.bluesky; needs the bluesky extra)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..daemon import handle_signals
    from ..classify.modeldir import ModelInfo
    from ..sinks.csvlog import open_log
    from ..sources.stream import StreamSource, series_of
    from ..sinks.bluesky import bluesky_sinks
    from ..sinks.console import dashboard_sink, log_line_sink, want_dashboard
    from ..sinks.events import EventsSink

    config = load_config(args.config, detector=True)
    csv_path = args.csv or config.output.csv
    if csv_path is None:
        raise ValueError("give the CSV log (--csv or output.csv)")
    source = StreamSource(args.endpoint, config.stream, args.protocol)
    extra = bluesky_sinks(args.bluesky or config.stream.bluesky, {"gisaxs_live_command": "stream",
                                                                   "endpoint": args.endpoint})
    # the log's p_* columns in the model's class order (its model.json, read before TensorFlow loads)
    csv_log = open_log(csv_path, ModelInfo.read(args.model).class_names, config.output.fsync, monitor=True,
                       frames_on_disk=False)
    events = EventsSink(csv_path, config.output.events, series_of=series_of)  # each series afresh
    dashboard = want_dashboard(args.no_dashboard)

    def load() -> Classifier:
        from ..classify.pipeline import Classifier

        classifier = Classifier(config, args.model)
        classifier.warm_up()
        return classifier

    console = dashboard_sink(config) if dashboard else log_line_sink()
    events.show_on(console)
    monitor = StreamMonitor(source, load, csv_log, [console, events, *extra],
                            log_interval_s=None if dashboard else config.stream.log_interval_s)
    handle_signals(monitor, csv_log)
    return monitor.run()


class StreamMonitor:
    """Stream → classify (batched) → sinks, in the calling thread; ``request_stop`` from anywhere."""

    def __init__(self, source: StreamSource, load_classifier, csv_log: CsvLog, sinks: Sequence[Sink] = (),
                 log_interval_s: float | None = None, tick_s: float = 0.25) -> None:
        self.source = source
        self.load_classifier = load_classifier
        self.csv_log = csv_log
        self.sinks: list[Sink] = [csv_log, *sinks]
        self.log_interval_s = log_interval_s
        self.tick_s = tick_s
        self.classified = 0  # frames through the classifier (ok, no_signal or error rows)
        self.model = "not loaded"
        self.ready = False  # announced: the model is loaded and the socket connected
        self._stop_requested = False
        self._in_hand: list[str] = []  # the frames taken from the source whose rows are not written yet

    def request_stop(self) -> None:
        """Safe in a signal handler."""
        self._stop_requested = True

    def run(self) -> int:
        """0 after a clean stop, 1 if the log or the receiver failed."""
        from ..daemon import run_guarded
        from ..sinks import close_all
        from ..sinks.csvlog import LogError

        try:
            self.model = "loading"
            self._emit(())
            classifier = self.load_classifier()
            self.model = "ready"
            if self._stop_requested:
                return 0
            self.source.start()
            return run_guarded(lambda: self._loop(classifier),  # a bug: the frames without a row are said
                               lambda: self._say_unlogged("an unforeseen failure stopped the stream"))
        except LogError as exc:
            log.critical("stopping: %s", exc)
            self._say_unlogged()
            return 1
        except KeyboardInterrupt:  # a second Ctrl-C: no drain, but what got no row is said
            self._say_unlogged("a second Ctrl-C aborted the stream", wait=False, always=True)
            raise
        finally:
            self.source.stop()
            self.source.join(timeout=5.0)
            try:
                close_all(self.sinks)
            except LogError as exc:
                log.critical("%s", exc)

    def _loop(self, classifier: Classifier) -> int:
        batch = self.source.settings.batch_size
        stopping, status = False, 0
        next_log = time.monotonic() + (self.log_interval_s or 0.0)
        while True:
            if not stopping and (self._stop_requested or self.source.failure):
                if self.source.failure:
                    log.error("stopping: %s", self.source.failure)
                    status = 1
                stopping = True
                self.source.stop()
            ended = stopping and not self.source.running  # before ``take``: what it queued last is taken
            frames, rejected = self.source.take(batch, self.tick_s)
            self._in_hand = [f"{f.source} frame {f.frame_id}" for f in frames] + [f"{r.source} frame {r.frame}"
                                                                                  for r in rejected]
            # before the first row; not once stopping (a stop asked for while the socket connected)
            if not self.ready and not stopping and (self.source.has_connected or frames or rejected):
                self._announce_ready()
            if ended and not frames and not rejected:
                log.info("%s", self.status())
                return status
            results = [classifier.error(r.source, r.frame, r.message, r.t) for r in rejected]
            results += classify_guarded(classifier, frames)
            self.classified += len(frames)
            self._emit(results)
            if self.source.between_series():
                self._end_series()
            if self.log_interval_s is not None and time.monotonic() >= next_log:
                log.info("%s", self.status())
                next_log = time.monotonic() + self.log_interval_s

    def _say_unlogged(self, why: str = "the log cannot be written", wait: bool = True, always: bool = False) -> None:
        """After the log failed (``why``): the frames received that got no row (those being classified or written,
        those queued and, with ``wait``, those still in ZeroMQ's buffer), counted and named on one line, as a stream
        cannot give them again; with ``always`` also when there are none."""
        self.source.stop()
        if wait:
            self.source.join(timeout=5.0)
        unlogged = list(self._in_hand)
        while True:
            frames, rejected = self.source.take(1 << 16, 0.0)
            if not frames and not rejected:
                break
            unlogged += [f"{f.source} frame {f.frame_id}" for f in frames] + [f"{r.source} frame {r.frame}"
                                                                             for r in rejected]
        unread = "" if wait else "; frames still on their way in ZeroMQ's buffer are not counted"
        if not self.source.counts.received and not unlogged:
            return  # stopped before anything came
        if unlogged:
            log.critical("%d frames received got no row, as %s: %s%s%s", len(unlogged), why, unlogged[0],
                         f" to {unlogged[-1]}" if len(unlogged) > 1 else "", unread)
        elif always:
            log.warning("%s: every frame received got its row%s", why, unread)

    def _end_series(self) -> None:
        """No series open and nothing queued: sinks with runs per series (Bluesky) stop the open one."""
        for sink in self.sinks:
            end = getattr(sink, "end_series", None)
            if end is None:
                continue
            try:
                end()
            except Exception:  # not critical, as in ``sinks.emit``
                log.exception("%s failed to end its run", type(sink).__name__)

    def _announce_ready(self) -> None:
        """The one ``ready`` line, and READY=1 to systemd: the model is loaded and the socket connected."""
        from ..notify import announce_ready

        self.ready = True
        announce_ready(f"model loaded, connected to {self.source.endpoint}")

    def status(self) -> str:
        """The source line: endpoint, connection, series, and received/classified/malformed/dropped counts."""
        return self.source.status(self.classified) + (" · stopping" if self._stop_requested else "")

    def _emit(self, results: Sequence[Result]) -> None:
        from ..sinks import Update, emit

        # Without the dashboard the counts go to the periodic log line, not into every update's source line.
        source = self.status() if self.log_interval_s is None else self.source.state()
        update = Update(tuple(results), self.source.depth, self.source.settings.queue_size, source, self.model)
        emit(self.sinks[:1], update)  # the CSV log: once it returns, the rows in hand are written
        self._in_hand = []
        emit(self.sinks[1:], update)


def classify_guarded(classifier: Classifier, frames: Sequence) -> list[Result]:
    """``classifier.classify(frames)``; should it fail (a bug), every frame gets an error row instead."""
    if not frames:
        return []
    try:
        results = classifier.classify(frames)
        if len(results) != len(frames):
            raise RuntimeError(f"classifier returned {len(results)} results for {len(frames)} frames")
        return results
    except Exception as exc:
        log.exception("classifying %d frames failed", len(frames))
        return [classifier.error(f.source, f.frame_id, f"classifier failed: {in_words(exc)}", f.t)
                for f in frames]
