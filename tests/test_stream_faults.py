"""Stream faults that must neither end the stream nor lose a frame silently (issue 14): a decoder failing
in a way not foreseen, series cut short (by the next series, a restart, the stop, an early end) and
their error rows, and the real ``gisaxs-live stream`` process fed an oversized lz4 message and a
publisher process killed mid-series and restarted. The size limits for every encoding are rows of
``test_stream.MALFORMED``, sent through the real receiver there."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
import zmq
from test_stream import (CLASSIFIED, CLI, ENDPOINT, _Classifier, _image, _publish, _Recorder, _rows, _start_stream,
                         _stop, free_endpoint, pixels)

from gisaxs_live.publisher import replay as publisher
from gisaxs_live.config import Stream
from gisaxs_live.frame import Frame
from gisaxs_live.sources import simplon
from gisaxs_live.sources.series import expected_images
from gisaxs_live.sources.stream import MessageHandler, Rejected, StreamSource

#: The message that ended the stream process (OverflowError in lz4.block): 16 GiB declared, 100 bytes sent.
OVERSIZED_DESC = {"htype": "dimage_d-1.0", "shape": [65536, 65536], "type": "uint32", "encoding": "lz4<"}


def oversized(series: int, frame: int) -> list[bytes]:
    head, _, _, times = simplon.encode_image(series, frame, pixels("uint32"), "<")
    return [head, json.dumps(OVERSIZED_DESC).encode(), b"\0" * 100, times]


# --- the image count a header announces ---------------------------------------------------------------------

@pytest.mark.parametrize("config,expected", [
    ({"nimages": 10, "ntrigger": 3}, 30),                          # ints is the default
    ({"nimages": 10, "ntrigger": 3, "trigger_mode": "exts"}, 30),  # nimages per trigger
    ({"nimages": 1, "ntrigger": 7, "trigger_mode": "exte"}, 7),    # enable modes: one image per trigger
    ({"nimages": 5, "ntrigger": 7, "trigger_mode": "inte"}, 7),
    ({"nimages": 5, "ntrigger": 11, "trigger_mode": "eies"}, None),  # a mode whose count is not nimages-based
    ({"nimages": 5}, None), ({}, None), ({"nimages": True, "ntrigger": 1}, None),
    ({"nimages": 0, "ntrigger": 1}, None), ({"nimages": "400", "ntrigger": 1}, None)])
def test_expected_images_from_the_header_config(config, expected):
    assert expected_images(config) == expected


# --- series cut short: one error row each, the count missing ------------------------------------------------

def _header(handler: MessageHandler, series: int, nimages: int | None, t: float = 0.0) -> None:
    config = {} if nimages is None else {"nimages": nimages, "ntrigger": 1, "trigger_mode": "ints"}
    assert handler.handle(simplon.encode_header(series, "basic", config), t) is None


def _images(handler: MessageHandler, series: int, frames, t: float = 0.0) -> list:
    return [handler.handle(_image(series=series, frame=i), t) for i in frames]


def _notices(handler: MessageHandler) -> list[tuple[str, int, str]]:
    found = [(n.source, n.frame, n.message) for n in handler.notices]
    handler.notices.clear()
    return found


def test_the_next_series_reports_the_one_cut_short_and_is_classified():
    handler = MessageHandler(ENDPOINT)
    _header(handler, 7, 10)
    assert all(isinstance(f, Frame) for f in _images(handler, 7, range(6)))
    assert _notices(handler) == []
    _header(handler, 8, 3, t=5.0)
    assert _notices(handler) == [(f"{ENDPOINT} series 7", 6,
                                  "series 7 cut short (series 8 started): 6 of 10 images received, 4 missing (ids 6–9)")]
    assert [f.frame_id for f in _images(handler, 8, range(3))] == [0, 1, 2]
    assert handler.handle(simplon.encode_end(8), 6.0) is None
    assert _notices(handler) == []  # series 8 was complete
    assert (handler.counts.missing, handler.counts.cut_short) == (4, 1)


def test_an_early_end_with_gaps_counts_each_missing_image_once():
    handler = MessageHandler(ENDPOINT)
    _header(handler, 7, 6)
    _images(handler, 7, [0, 1, 3, 4])  # frame 2 skipped: counted at once
    assert handler.counts.missing == 1
    handler.handle(simplon.encode_end(7), 1.0)
    assert _notices(handler) == [(f"{ENDPOINT} series 7", 2,  # the row names the first missing, the text all
                                  "series 7 ended: 4 of 6 images received, 2 missing (ids 2, 5)")]
    assert handler.counts.missing == 2
    _header(handler, 8, 3)
    _images(handler, 8, [0, 2])  # the last image came, one in the middle did not
    handler.handle(simplon.encode_end(8), 2.0)
    assert _notices(handler) == [(f"{ENDPOINT} series 8", 1, "series 8 ended: 2 of 3 images received, 1 missing (id 1)")]


def test_a_restarted_series_a_repeated_header_and_the_stop_each_close_the_open_series():
    handler = MessageHandler(ENDPOINT)
    _header(handler, 7, 10)
    _images(handler, 7, range(4))
    _images(handler, 7, range(2))  # the publisher restarted series 7 and its header was missed
    assert _notices(handler) == [(f"{ENDPOINT} series 7", 4,
                                  "series 7 cut short (restarted at frame 0): 4 of 10 images received, 6 missing "
                                  "(ids 4–9)")]
    _header(handler, 7, 10)  # the restart's header, late: the images before it are its series'
    _images(handler, 7, [2])
    assert _notices(handler) == []
    _header(handler, 7, 10)  # armed again
    assert _notices(handler) == [(f"{ENDPOINT} series 7", 3,
                                  "series 7 cut short (its header came again): 3 of 10 images received, 7 missing "
                                  "(ids 3–9)")]
    _images(handler, 7, range(3))
    handler.close(9.0)
    assert _notices(handler) == [(f"{ENDPOINT} series 7", 3,
                                  "series 7 still open at the stop: 3 of 10 images received, 7 not received before "
                                  "the stop (ids 3–9)")]
    assert handler.counts.cut_short == 3


def test_a_late_header_a_late_first_id_and_an_image_after_the_end_report_nothing_missing(caplog):
    """A review: every image came and got its row, yet the status said 7 missing and 5 series cut short. A header
    after its series' first images took them for another series; id 0 after ids 1-3 was taken for a restart though
    the header had announced it; an image of a series after its end message opened the series again."""
    handler = MessageHandler(ENDPOINT)
    with caplog.at_level("INFO"):
        _images(handler, 5, [0, 1])
        _header(handler, 5, 4)
        _images(handler, 5, [2, 3])
        handler.handle(simplon.encode_end(5), 1.0)
        _header(handler, 9, 5)
        _images(handler, 9, [1, 2, 3, 0, 4])
        handler.handle(simplon.encode_end(9), 2.0)
        _header(handler, 7, 3)
        _images(handler, 7, range(3))
        handler.handle(simplon.encode_end(7), 3.0)
        assert all(isinstance(f, Frame) for f in _images(handler, 7, [2]))  # classified all the same
        _header(handler, 8, 1)
        _images(handler, 8, [0])
        handler.handle(simplon.encode_end(8), 4.0)
    assert _notices(handler) == [] and (handler.counts.missing, handler.counts.cut_short) == (0, 0)
    assert "series 5 header came after 2 images of it" in caplog.text
    assert "series 7 image 2 came after the series' end message" in caplog.text
    assert [r.getMessage() for r in caplog.records if "without its header" in r.getMessage()] == [
        f"{ENDPOINT}: series 5 without its header (joined mid-series or header missed): classified with the "
        "configured geometry, no detector pixel mask"]


def test_a_series_without_a_count_is_reported_only_when_it_does_not_end():
    handler = MessageHandler(ENDPOINT)
    _header(handler, 1, None)
    _images(handler, 1, range(2))
    handler.handle(simplon.encode_end(1), 1.0)
    assert _notices(handler) == []  # ended as announced: nothing is known to be missing
    _header(handler, 2, None)
    _images(handler, 2, range(2))
    _images(handler, 3, range(1))  # series 3 without its header
    assert _notices(handler) == [(f"{ENDPOINT} series 2", 2,
                                  "series 2 cut short (series 3 started): 2 images received, no end message, "
                                  "the count expected is unknown (its header gives no image count)")]
    handler.close(2.0)
    assert [n[2] for n in _notices(handler)] == [
        "series 3 still open at the stop: 1 image received, no end message, the count expected is unknown "
        "(its header was not received)"]


def test_a_corrupt_frame_id_past_the_count_is_neither_a_gap_nor_a_restart():
    """... nor does it stand in for an image that never came (it hid image 4 as one more image "seen")."""
    handler = MessageHandler(ENDPOINT)
    _header(handler, 4, 5)
    _images(handler, 4, [0, 1])
    head, *rest = _image(series=4, frame=2)
    bogus = json.dumps(json.loads(head) | {"frame": 10**18}).encode()
    assert isinstance(handler.handle([bogus, *rest], 0.0), Frame)  # decodable: classified under its id
    _images(handler, 4, [2, 3])
    assert handler.counts.missing == 0  # no gap, no restart
    handler.handle(simplon.encode_end(4), 1.0)
    assert _notices(handler) == [(f"{ENDPOINT} series 4", 4, "series 4 ended: 4 of 5 images received, 1 missing "
                                  "(id 4); 1 image came with an id past the count")]


@pytest.mark.parametrize("ids", [[0, 1, 3, 2, 4, 5], [0, 1, 2, 1, 3, 4, 5], [0, 0, 1, 2, 3, 4, 5]])
def test_ids_out_of_order_or_repeated_are_no_restart_and_nothing_is_missing(ids):
    """A late id (3 before 2) or an old one sent again was taken for a restart of the series: two false shortfall
    rows and missing images counted though every image came."""
    handler = MessageHandler(ENDPOINT)
    _header(handler, 7, 6)
    _images(handler, 7, ids)
    handler.handle(simplon.encode_end(7), 1.0)
    assert _notices(handler) == [] and handler.counts.missing == 0 and handler.counts.cut_short == 0


def test_scattered_ids_are_tracked_in_bounded_memory(monkeypatch):
    """Every other id (a corrupt or hostile stream) opens a run each: past MAX_RUNS they are counted, not placed, and
    the row says the count missing is uncertain."""
    from gisaxs_live.sources import series

    monkeypatch.setattr(series, "MAX_RUNS", 3)
    progress = series.SeriesProgress(1, header=True)
    for frame in range(0, 20, 2):
        progress.image(frame)
    assert len(progress.runs) == 3 and progress.untracked == 7 and progress.received == 10
    assert progress.shortfall("ended", True) == (
        "series 1 ended: 10 images received, 2 missing between them (ids 1, 3); the count expected is unknown; "
        "7 ids past the first 3 gaps not placed, so the count missing is uncertain")


def test_a_repeated_id_does_not_hide_a_missing_image_and_a_gap_without_a_header_is_a_row():
    """A trial's series of 6 sent ids 0, 1, 2, 2, 3, 4: six images "seen", none missing, image 5 lost without a word.
    And ids 0, 1, 3, 4 of a series whose header was missed (a receiver restarted mid-series) and that ends: the gap
    was only on the status line, not in the log."""
    handler = MessageHandler(ENDPOINT)
    _header(handler, 84, 6)
    _images(handler, 84, [0, 1, 2, 2, 3, 4])
    handler.handle(simplon.encode_end(84), 1.0)
    assert _notices(handler) == [(f"{ENDPOINT} series 84", 5, "series 84 ended: 5 of 6 images received, 1 missing "
                                  "(id 5); 1 image repeated an id")]
    _images(handler, 100, [7, 8, 10, 11, 14])  # joined mid-series: ids before 7 are not known missing
    handler.handle(simplon.encode_end(100), 2.0)
    assert _notices(handler) == [(f"{ENDPOINT} series 100", 9, "series 100 ended: 5 images received, 3 missing "
                                  "between them (ids 9, 12–13); the count expected is unknown")]
    assert handler.counts.missing == 1 + 3


def test_frames_dropped_at_a_full_queue_count_as_received_not_missing():
    handler = MessageHandler(ENDPOINT)
    _header(handler, 4, 3)
    dropped = handler.handle(_image(series=4, frame=0), 0.0, full="the classifier queue was full (stream.queue_size)")
    assert isinstance(dropped, Rejected) and dropped.message == (  # its own error row
        "dropped: the classifier queue was full (stream.queue_size); frame not decoded")
    _images(handler, 4, [1, 2])
    handler.handle(simplon.encode_end(4), 1.0)
    assert _notices(handler) == [] and handler.counts.missing == 0 and handler.counts.dropped == 1


# --- a decoder failing in a way not foreseen ------------------------------------------------------------------

def _failing_on_huge(original):
    """``simplon.decode_blob`` raising as ``lz4.block`` did on a 16 GiB shape, before the size guard: a fault
    injected to show that the net under every decoder holds, whatever a decoder raises."""

    def decode_blob(blob, shape, type_name, encoding, limit=Stream.max_image_bytes):
        if shape == OVERSIZED_DESC["shape"]:
            raise OverflowError("signed integer is greater than maximum")
        if shape == [1, 1]:
            raise AssertionError()
        return original(blob, shape, type_name, encoding, limit)

    return decode_blob


def test_an_unforeseen_decoder_failure_is_one_error_row_naming_series_and_frame(monkeypatch):
    monkeypatch.setattr(simplon, "decode_blob", _failing_on_huge(simplon.decode_blob))
    handler = MessageHandler(ENDPOINT)
    item = handler.handle(oversized(9, 2), 1.0)
    assert isinstance(item, Rejected) and (item.source, item.frame) == (f"{ENDPOINT} series 9", 2)
    assert item.message == "message could not be decoded: signed integer is greater than maximum"
    head, desc, _, times = _image(series=9, frame=3)
    bare = json.loads(desc) | {"shape": [1, 1], "size": 4}
    item = handler.handle([head, json.dumps(bare).encode(), b"\0" * 4, times], 2.0)
    assert item.message == "message could not be decoded: an unforeseen failure of the decoder (details in the log)"
    assert isinstance(handler.handle(_image(series=9, frame=4), 3.0), Frame)
    assert handler.counts.malformed == 2


def test_the_receiver_thread_survives_an_unforeseen_decoder_failure(monkeypatch):
    monkeypatch.setattr(simplon, "decode_blob", _failing_on_huge(simplon.decode_blob))
    endpoint = free_endpoint()
    source = StreamSource(endpoint, Stream())
    source.start()
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.linger = 1000
    push.bind(endpoint)
    frames, rejected = [], []
    try:
        push.send_multipart(oversized(9, 2))
        push.send_multipart(_image(series=9, frame=3))
        end = time.monotonic() + 10
        while len(frames) + len(rejected) < 2 and time.monotonic() < end:
            got, bad = source.take(10, 0.1)
            frames += got
            rejected += bad
        assert source.running and source.failure is None
    finally:
        push.close()
        source.stop()
        source.join()
    assert [r.message for r in rejected][:1] == ["message could not be decoded: signed integer is greater than maximum"]
    assert [f.frame_id for f in frames] == [3]


# --- the stop reports the open series: through the receiver, and as the monitor's last row ------------------

def _send_open_series(endpoint: str, series: int, nimages: int, sent: int) -> None:
    """Bind PUSH at ``endpoint`` and send a header announcing ``nimages`` and the first ``sent`` images."""
    config = {"nimages": nimages, "ntrigger": 1, "trigger_mode": "ints"}
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.linger = 2000
    push.bind(endpoint)
    try:
        push.send_multipart(simplon.encode_header(series, "basic", config))
        for i in range(sent):
            push.send_multipart(_image(series=series, frame=i))
    finally:
        push.close()


@pytest.mark.parametrize("sent, ended, warned", [(40, True, False), (4, False, True)])
def test_a_publisher_leaving_warns_only_when_its_series_is_open(caplog, sent, ended, warned):
    """ZeroMQ's monitor reports the disconnect before the receiver has read what was sent before it: a series whose
    last images and end were still buffered is complete, not a series the sender left during."""
    endpoint = free_endpoint()
    source = StreamSource(endpoint, Stream())
    caplog.set_level("INFO", logger="gisaxs_live.sources.stream")
    source.start()
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.linger = 5000
    push.bind(endpoint)
    frames: list = []
    try:
        push.send_multipart(simplon.encode_header(6, "basic", {"nimages": sent if ended else 10, "ntrigger": 1,
                                                                "trigger_mode": "ints"}))
        for i in range(sent):
            push.send_multipart(_image(series=6, frame=i))
        if ended:
            push.send_multipart(simplon.encode_end(6))
        push.close()  # the sender goes away
        end = time.monotonic() + 10
        while (len(frames) < sent or "lost" not in caplog.text) and time.monotonic() < end:
            frames += source.take(50, 0.1)[0]
        time.sleep(0.5)  # longer than the receiver's poll: time to judge the disconnect
    finally:
        source.stop()
        source.join()
    assert len(frames) == sent and "lost" in caplog.text
    assert ("went away during series 6" in caplog.text) == warned, caplog.text


def test_the_monitor_writes_the_open_series_as_its_last_row_and_shows_the_count(tmp_path):
    from gisaxs_live.commands.stream import StreamMonitor
    from gisaxs_live.sinks.csvlog import CsvLog

    endpoint, csv_path = free_endpoint(), tmp_path / "rows.csv"
    recorder = _Recorder()
    monitor = StreamMonitor(StreamSource(endpoint, Stream()), _Classifier, CsvLog(csv_path), [recorder])
    thread = threading.Thread(target=monitor.run)
    thread.start()
    try:
        _send_open_series(endpoint, 3, 5, 2)
        end = time.monotonic() + 10
        while len(_rows(csv_path)) < 2 and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        monitor.request_stop()
        thread.join(timeout=20)
    rows = _rows(csv_path)
    assert [(r["status"], r["frame"]) for r in rows] == [("ok", "0"), ("ok", "1"), ("error", "2")]
    assert rows[-1]["source"] == f"{endpoint} series 3"
    assert rows[-1]["message"] == ("series 3 still open at the stop: 2 of 5 images received, 3 not received before "
                                   "the stop (ids 2–4)")
    # the dashboard gets the row in its update, and the counts in the source line
    assert [r.message for r in recorder.updates[-1].results][-1:] == [rows[-1]["message"]]
    assert "missing 3, series cut short 1" in recorder.updates[-1].source


# --- gisaxs-live stream as a process: an oversized message, a publisher killed mid-series and restarted -------


@pytest.fixture(scope="module")
def cbf(tmp_path_factory) -> Path:
    """One Pilatus 1M growth-series CBF (int32)."""
    from gisaxs_live.config import load_config
    from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config

    path = tmp_path_factory.mktemp("faults") / "growth_00000.cbf"
    path.write_bytes(cbf_bytes(GrowthSeries(demo_config(load_config()), 2).frame(1)))  # spheroids: well inside
    return path


def _wait(csv_path: Path, done, timeout: float = 60.0) -> list[dict[str, str]]:
    end = time.monotonic() + timeout
    while not done(rows := _rows(csv_path)) and time.monotonic() < end:
        time.sleep(0.1)
    return rows


def test_stream_survives_an_oversized_message_and_reports_a_publisher_killed_mid_series(tmp_path, model_dir, cbf):
    endpoint, csv_path = free_endpoint(), tmp_path / "stream.csv"
    proc = _start_stream(endpoint, csv_path, model_dir)
    series = 100  # images in series 7: the killed publisher announces them (nimages) and sends a few
    try:
        data = next(publisher.replay_frames([cbf]))
        msgs = [m.parts for m in publisher.messages([data, data], "simplon", "lz4", series=5)]
        msgs[1] = oversized(5, 0)  # frame 0 of series 5 declares 16 GiB; frame 1 is a good frame
        push = zmq.Context.instance().socket(zmq.PUSH)
        push.linger = 5000
        push.bind(endpoint)
        for parts in msgs:
            push.send_multipart(parts)
        push.close()
        assert len(_wait(csv_path, lambda rows: len(rows) >= 2)) == 2
        assert proc.poll() is None  # the process survived
        killed = subprocess.Popen([*CLI, "publish", "--endpoint", endpoint, "--rate", "20", "--series", "7",
                                   "--repeat", str(series), str(cbf)], stderr=subprocess.DEVNULL)
        try:
            _wait(csv_path, lambda rows: len(rows) >= 2 + 5)
        finally:
            killed.kill()  # SIGKILL: no series end is sent
            killed.wait(timeout=30)
        _publish(endpoint, [cbf], "--series", "8", "--repeat", "3")  # the publisher restarted: a new series
        rows = _wait(csv_path, lambda rows: sum(r["source"].endswith(" series 8") for r in rows) >= 3)
    finally:
        err = _stop(proc)
    by_source: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_source.setdefault(row["source"].removeprefix(endpoint + " "), []).append(row)
    first, second = by_source["series 5"]
    assert (first["frame"], first["status"]) == ("0", "error"), err[-3000:]
    assert first["message"] == ("malformed message: 65536x65536 uint32 would take 16 GiB, more than the limit of "
                                "256 MiB (stream.max_image_bytes)")
    assert second["frame"] == "1" and second["status"] in CLASSIFIED, second["message"]
    classified = [r for r in by_source["series 7"] if r["status"] != "error"]
    cut = [r for r in by_source["series 7"] if r["status"] == "error"]
    received = len(classified)
    assert received >= 5 and [int(r["frame"]) for r in classified] == list(range(received))
    assert [(int(r["frame"]), r["message"]) for r in cut] == [
        (received, f"series 7 cut short (series 8 started): {received} of {series} images received, "
                   f"{series - received} missing (ids {received}–{series - 1})")]
    assert [(r["frame"], r["status"] in CLASSIFIED) for r in by_source["series 8"]] == [
        ("0", True), ("1", True), ("2", True)]
    assert "went away during series 7, after " in err  # logged when the connection dropped
    assert f"missing {series - received}, series cut short 1" in err


def _push_frames(endpoint: str, n: int) -> zmq.Socket:
    """A PUSH socket bound at ``endpoint`` that has sent ``n`` small simple-protocol frames (ids 0 to n - 1); close it."""
    import numpy as np

    from gisaxs_live.sources import simple_protocol

    push = zmq.Context.instance().socket(zmq.PUSH)
    push.linger, push.sndhwm = 0, 1000
    push.bind(endpoint)
    for i in range(n):
        push.send_multipart(simple_protocol.encode(np.full((16, 16), 5, np.int32), i))
    return push


def test_a_log_that_fails_ends_the_stream_saying_how_many_frames_received_got_no_row(tmp_path, caplog):
    """A review: the log failing ends ``stream`` (exit 1, restarted by systemd), as designed; but the frames already
    received (the rows being written, those queued, those in ZeroMQ's buffer) went without a row and without a
    word. A stream cannot give them again: the stop counts and names them."""
    import csv
    import os

    from gisaxs_live.commands.stream import StreamMonitor
    from gisaxs_live.sinks.csvlog import CsvLog

    class Slow(_Classifier):
        def classify(self, frames):
            time.sleep(0.02 * len(frames))
            return super().classify(frames)

    path, endpoint = tmp_path / "rows.csv", free_endpoint()
    monitor = StreamMonitor(StreamSource(endpoint, Stream(queue_size=64, batch_size=4)), Slow, CsvLog(path))
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(monitor.run()))
    thread.start()
    push = _push_frames(endpoint, 100)
    try:
        deadline = time.monotonic() + 20
        while (not path.exists() or sum(1 for _ in open(path)) < 10) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.rename(path, tmp_path / "rows.csv.1")
        path.mkdir()  # the log's path refuses writes now, as a full disk does
        thread.join(30)
    finally:
        push.close()
    rows = list(csv.DictReader(open(tmp_path / "rows.csv.1")))
    counts = monitor.source.counts
    assert status == [1] and counts.received == 100
    unlogged = counts.received - len(rows)
    assert unlogged > 0 and f"{unlogged} frames received got no row, as the log cannot be written" in caplog.text


def _interrupted(monitor, arrived: threading.Event) -> list[str]:
    """Run ``monitor`` on a thread while 40 frames are pushed to its endpoint; once all have arrived, set ``arrived``
    (the monitor is interrupted then, as by a second Ctrl-C). How its run ended: ["interrupted"] or ["returned"]."""
    outcome: list[str] = []

    def run() -> None:
        try:
            monitor.run()
            outcome.append("returned")
        except KeyboardInterrupt:
            outcome.append("interrupted")

    thread = threading.Thread(target=run)
    thread.start()
    push = _push_frames(monitor.source.endpoint, 40)
    try:
        deadline = time.monotonic() + 20
        while monitor.source.counts.received < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        arrived.set()
        thread.join(30)
    finally:
        push.close()
    return outcome


def test_a_second_ctrl_c_says_how_many_frames_received_got_no_row(tmp_path, caplog):
    """A review: a second Ctrl-C (an abort, without the drain) lost 42 of 200 frames received without a count. The
    frames queued and those being written are counted on one line; the KeyboardInterrupt goes on (status 130)."""
    import csv

    from gisaxs_live.commands.stream import StreamMonitor
    from gisaxs_live.sinks.csvlog import CsvLog

    arrived = threading.Event()

    class Interrupted(_Classifier):
        """Classifies one batch, then waits for every frame to arrive and is interrupted, as by a second Ctrl-C."""
        batches = 0

        def classify(self, frames):
            Interrupted.batches += 1
            if Interrupted.batches == 2:
                arrived.wait(30)
                raise KeyboardInterrupt
            return super().classify(frames)

    path, endpoint = tmp_path / "rows.csv", free_endpoint()
    monitor = StreamMonitor(StreamSource(endpoint, Stream(queue_size=64, batch_size=4)), Interrupted, CsvLog(path))
    outcome = _interrupted(monitor, arrived)
    rows = list(csv.DictReader(open(path)))
    assert outcome == ["interrupted"] and monitor.source.counts.received == 40 and 0 < len(rows) < 40
    assert (f"{40 - len(rows)} frames received got no row, as a second Ctrl-C aborted the stream: "
            f"{endpoint} frame {len(rows)} to {endpoint} frame 39" in caplog.text), caplog.text
    assert "frames still on their way in ZeroMQ's buffer are not counted" in caplog.text


def test_a_second_ctrl_c_in_a_sink_after_the_log_counts_no_frame_that_has_its_row(tmp_path, caplog):
    """A review: interrupted in the dashboard (a sink after the CSV log), the count took in the frames whose rows the
    log had just written."""
    import csv

    from gisaxs_live.commands.stream import StreamMonitor
    from gisaxs_live.sinks.csvlog import CsvLog

    arrived = threading.Event()

    class Dashboard:
        critical = False
        updates = 0

        def update(self, update):
            if update.results:
                Dashboard.updates += 1
                if Dashboard.updates == 1:
                    arrived.wait(30)
                    raise KeyboardInterrupt

        def close(self):
            pass

    path, endpoint = tmp_path / "rows.csv", free_endpoint()
    monitor = StreamMonitor(StreamSource(endpoint, Stream(queue_size=64, batch_size=4)), _Classifier, CsvLog(path),
                            [Dashboard()])
    outcome = _interrupted(monitor, arrived)
    rows = list(csv.DictReader(open(path)))
    assert outcome == ["interrupted"] and 0 < len(rows) < 40
    assert f"{40 - len(rows)} frames received got no row, as a second Ctrl-C aborted the stream: " in caplog.text
