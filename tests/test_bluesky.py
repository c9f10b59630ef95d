"""Results as Bluesky documents: a real ``gisaxs-live stream`` process with --bluesky publishes through a real
bluesky 0MQ proxy (``bluesky-0MQ-proxy``) to a real ``RemoteDispatcher`` on loopback; every document is
validated against event-model's schemas, one run per series, one event per CSV row."""

from __future__ import annotations

import asyncio
import csv
import math
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

event_model = pytest.importorskip("event_model", reason="the bluesky extra is not installed")
zmq_callbacks = pytest.importorskip("bluesky.callbacks.zmq", reason="the bluesky extra is not installed")

from gisaxs_live.results import Result  # noqa: E402
from gisaxs_live.sinks import Update  # noqa: E402
from gisaxs_live.sinks.bluesky import BlueskySink, run_key  # noqa: E402
from livehelp import free_port

CLI = [sys.executable, "-m", "gisaxs_live.cli"]
N = 3  # frames per series


class Bluesky:
    """A bluesky 0MQ proxy process and a RemoteDispatcher (on a thread) collecting (name, doc)."""

    def __init__(self) -> None:
        self.inlet, outlet = free_port(), free_port()
        proxy = shutil.which("bluesky-0MQ-proxy", path=str(Path(sys.executable).parent))
        self.proxy = subprocess.Popen([proxy, str(self.inlet), str(outlet)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        self.documents: list[tuple[str, dict]] = []
        self.dispatcher = zmq_callbacks.RemoteDispatcher(f"127.0.0.1:{outlet}")
        self.probed = threading.Event()
        self.dispatcher.subscribe(self._collect)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self._probe()

    def _collect(self, name: str, doc: dict) -> None:
        if doc.get("probe"):
            self.probed.set()
        else:
            self.documents.append((name, doc))

    def _probe(self) -> None:
        """Send probe documents through the proxy until the dispatcher gets one: it is then connected and
        subscribed (a 0MQ proxy drops what it forwards before then)."""
        import pickle

        import zmq

        pub = zmq.Context.instance().socket(zmq.PUB)
        pub.connect(self.address)
        try:
            for _ in range(600):
                pub.send(b" ".join([b"", b"start", pickle.dumps({"probe": True})]))
                if self.probed.wait(0.05):
                    return
            raise RuntimeError("the RemoteDispatcher never received a probe through the proxy")
        finally:
            pub.close(linger=0)

    def _run(self) -> None:
        try:
            self.dispatcher.start()
        except asyncio.CancelledError:  # ``close``
            pass

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.inlet}"

    def wait(self, n: int, timeout: float = 60.0) -> list[tuple[str, dict]]:
        end = time.monotonic() + timeout
        while len(self.documents) < n and time.monotonic() < end:
            time.sleep(0.05)
        return list(self.documents)

    def close(self) -> None:
        self.dispatcher.loop.call_soon_threadsafe(self.dispatcher._task.cancel)  # start() then stops it
        self.thread.join(10)
        self.proxy.terminate()
        self.proxy.wait(10)


@pytest.fixture
def bluesky():
    receiver = Bluesky()
    yield receiver
    receiver.close()


def _validate(documents: list[tuple[str, dict]]) -> None:
    for name, doc in documents:
        event_model.schema_validators[event_model.DocumentNames[name]].validate(doc)


@pytest.fixture(scope="module")
def cbfs(tmp_path_factory) -> list[Path]:
    from gisaxs_live.config import load_config
    from gisaxs_live.publisher.demo_series import GrowthSeries, cbf_bytes, demo_config

    path = tmp_path_factory.mktemp("frames")
    series = GrowthSeries(demo_config(load_config()), N)
    files = [path / f"growth_{i:05d}.cbf" for i in range(N)]
    for i, file in enumerate(files):
        file.write_bytes(cbf_bytes(series.frame(i)))
    return files


def test_stream_publishes_one_validated_run_per_series_to_a_remote_dispatcher(tmp_path, model_dir, cbfs, bluesky):
    endpoint, csv_path, config = f"tcp://127.0.0.1:{free_port()}", tmp_path / "out.csv", tmp_path / "c.yaml"
    config.write_text("stream:\n  reconnect_max_s: 0.2\n"
                      "geometry: {distance_mm: 2000, direct_beam_px: [490, 900]}\n")  # the demo's Pilatus 1M
    proc = subprocess.Popen([*CLI, "stream", "--no-dashboard", "--config", str(config), "--csv", str(csv_path),
                             "--model", str(model_dir), "--bluesky", bluesky.address, endpoint],
                            stderr=subprocess.PIPE, text=True)
    try:
        for series in (1, 2):
            subprocess.run([*CLI, "publish", "--endpoint", endpoint, "--rate", "0", "--encoding", "bs32-lz4<",
                            "--series", str(series), *map(str, cbfs)], check=True, timeout=120, capture_output=True)
        documents = bluesky.wait(2 * (3 + N), timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert [name for name, _ in documents] == (["start", "descriptor"] + ["event"] * N + ["stop"]) * 2, err[-3000:]
    _validate(documents)
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * N
    events = [doc for name, doc in documents if name == "event"]
    for row, event in zip(rows, events):
        data = event["data"]
        assert (data["frame_source"], data["frame"], data["status"], data["top1"], data["top2"]) == \
            (row["source"], int(row["frame"]), row["status"], row["top1"], row["top2"])
        assert data["family"] == row["family"] and len(data["probabilities"]) == 8
        assert math.isclose(data["p1"], float(row["p1"]), abs_tol=5e-5)
        assert math.isclose(sum(data["probabilities"]), 1.0, abs_tol=1e-3)
    starts = [doc for name, doc in documents if name == "start"]
    assert [s["gisaxs_live_run"] for s in starts] == [f"{endpoint} series 1", f"{endpoint} series 2"]
    stops = [doc for name, doc in documents if name == "stop"]
    assert [s["num_events"] for s in stops] == [{"primary": N}] * 2
    assert [s["run_start"] for s in stops] == [s["uid"] for s in starts]
    assert [e["seq_num"] for e in events] == list(range(1, N + 1)) * 2


def _result(source: str, frame: int, status: str = "ok") -> Result:
    probabilities = tuple(np.linspace(1, 8, 8) / 36) if status == "ok" else ()
    return Result(source, frame, status, probabilities, 3.0, "" if status == "ok" else "cannot read it", ood_score=1.5)


def test_error_rows_are_events_and_the_session_run_stops_at_close(bluesky):
    sink = BlueskySink(bluesky.address, {"gisaxs_live_command": "watch"})
    sink.update(Update((_result("/data/a.cbf", 0), _result("/data/b.cbf", 0, "error"))))
    sink.end_series()  # a session run (watch) is not a series': it goes on
    sink.update(Update((_result("/data/c.cbf", 0),)))
    sink.close()
    documents = bluesky.wait(6)
    assert [name for name, _ in documents] == ["start", "descriptor", "event", "event", "event", "stop"]
    _validate(documents)
    error = documents[3][1]["data"]
    assert error["status"] == "error" and error["top1"] == "" and math.isnan(error["p1"])
    assert error["message"] == "cannot read it" and documents[0][1]["gisaxs_live_run"] == "session"
    assert documents[-1][1]["reason"] == "the monitor stopped"


def test_a_proxy_that_goes_away_and_comes_back_is_said_in_the_log(bluesky, caplog):
    """A trial killed the proxy mid-session: the documents sent meanwhile were lost without a line in the log. A PUB
    socket cannot tell what ZeroMQ dropped, but it sees the connection end and come back: both are logged, once."""
    import logging

    sink = BlueskySink(bluesky.address, {"gisaxs_live_command": "watch"})
    with caplog.at_level(logging.INFO, logger="gisaxs_live.sinks.bluesky"):
        sink.update(Update((_result("/data/a.cbf", 0),)))
        end = time.monotonic() + 60  # the documents wait until the proxy has subscribed; an update (even empty) sends
        while len(bluesky.documents) < 3 and time.monotonic() < end:
            sink.update(Update(()))
            time.sleep(0.1)
        assert len(bluesky.documents) == 3
        bluesky.proxy.kill()
        bluesky.proxy.wait(10)
        end = time.monotonic() + 20
        while "went away" not in caplog.text and time.monotonic() < end:
            sink.update(Update((_result("/data/b.cbf", 0),)))
            time.sleep(0.1)
        proxy = shutil.which("bluesky-0MQ-proxy", path=str(Path(sys.executable).parent))
        bluesky.proxy = subprocess.Popen([proxy, str(bluesky.inlet), str(free_port())], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        end = time.monotonic() + 60  # the proxy process starts (imports bluesky) within this
        while f"{bluesky.address} is back" not in caplog.text and time.monotonic() < end:
            sink.update(Update((_result("/data/c.cbf", 0),)))
            time.sleep(0.1)
        sink.close()
    assert caplog.text.count("went away: documents sent until it is back may be lost") == 1
    assert caplog.text.count(f"the proxy at {bluesky.address} is back") == 1


def test_run_keys_and_a_bad_address():
    assert run_key("tcp://127.0.0.1:9999 series 7") == "tcp://127.0.0.1:9999 series 7"
    assert run_key("tcp://127.0.0.1:31001 series 7 image 3 channel threshold_1") == "tcp://127.0.0.1:31001 series 7"
    assert run_key("/data/series 7/frame.cbf") is None and run_key("tcp://127.0.0.1:9999") is None
    run = subprocess.run([*CLI, "stream", "--csv", "/dev/null", "--bluesky", "localhost:5577", "tcp://127.0.0.1:9"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].endswith(
        "--bluesky 'localhost:5577': not tcp://HOST:PORT (the bluesky 0MQ proxy's input port)")


def test_watch_publishes_one_session_run_stopped_at_exit(tmp_path, model_dir, cbfs, bluesky):
    directory, config = tmp_path / "frames", tmp_path / "c.yaml"
    directory.mkdir()
    config.write_text(f"watch: {{bluesky: '{bluesky.address}'}}\n"  # the config key, not the option
                      "geometry: {distance_mm: 2000, direct_beam_px: [490, 900]}\n")
    proc = subprocess.Popen([*CLI, "watch", "--no-dashboard", "--config", str(config), "--csv",
                             str(tmp_path / "out.csv"), "--model", str(model_dir), str(directory)],
                            stderr=subprocess.PIPE, text=True)
    try:
        for cbf in cbfs[:2]:
            shutil.copy(cbf, directory / f".{cbf.name}")
            (directory / f".{cbf.name}").rename(directory / cbf.name)  # renamed into place, as a writer does
        documents = bluesky.wait(4, timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    documents = bluesky.wait(5, timeout=30)
    assert [name for name, _ in documents] == ["start", "descriptor", "event", "event", "stop"], err[-3000:]
    _validate(documents)
    assert documents[0][1]["gisaxs_live_run"] == "session" and documents[0][1]["directory"] == str(directory)
    assert sorted(Path(doc["data"]["frame_source"]).name for name, doc in documents if name == "event") == \
        [c.name for c in cbfs[:2]]
