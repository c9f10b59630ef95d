"""SIMPLON v1 against a third-party Eiger emulator (ALBA's ``eiger-simulator``, PyPI, a test extra), driven
over its REST interface as a beamline does: initialize, arm, trigger, disarm; two series in a row,
``bs16-lz4<`` then ``lz4<``, into a real ``gisaxs-live stream`` process with the bundled model: every frame
of every series is a row. Its quirks met on the way: bitshuffle blobs without the 12-byte header, placeholder
text for the header's flat-field / pixel-mask / count-rate blobs (one warning per series, not a row), a PUSH
socket re-bound on every initialize (the stream reconnects), an empty md5 ``hash``."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from livehelp import free_port

pytest.importorskip("eigersim", reason="the test extra's eiger-simulator is not installed")

CLI = [sys.executable, "-m", "gisaxs_live.cli"]
API = "1.6.0"
N = 3  # images per series


def _dataset(path: Path) -> np.ndarray:
    """The demo's Pilatus 1M growth series as an Eiger-style HDF5 dataset (uint16), the emulator's input."""
    import h5py

    from gisaxs_live.config import load_config
    from gisaxs_live.publisher.demo_series import GrowthSeries, demo_config

    series = GrowthSeries(demo_config(load_config()), N)
    stack = np.stack([np.clip(series.frame(i), 0, 65534).astype("uint16") for i in range(N)])
    with h5py.File(path, "w") as f:
        f.create_group("entry").create_group("data").create_dataset("data_000001", data=stack)
    return stack


class Emulator:
    """The emulator process and its REST interface."""

    def __init__(self, dataset: Path, log: Path) -> None:
        self.http, self.zmq = free_port(), free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.zmq}"
        self._log = open(log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "eigersim.server", "--host", "127.0.0.1", "--port",
                                      str(self.http), "--zmq", self.endpoint, "--dataset", str(dataset)],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.http}/detector/api/version/", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(f"the emulator did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)

    def put(self, path: str, value: object = None) -> object:
        body = None if value is None else json.dumps({"value": value}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.http}/{path.replace('API', API)}", body,
                                         {"Content-Type": "application/json"}, method="PUT")
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read() or b"null")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self._log.close()


class Lines:
    """A process's stderr, collected on a thread."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=lambda: self.lines.extend(proc.stderr), daemon=True)
        self._thread.start()

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def wait(self, text: str, n: int = 1, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while self.count(text) < n:
            assert time.monotonic() < end, "".join(self.lines)[-3000:]
            time.sleep(0.05)


def test_two_series_from_the_eiger_emulator_over_rest_every_frame_a_row(tmp_path, model_dir):
    _dataset(tmp_path / "series_master.h5")
    emulator = Emulator(tmp_path / "series_master.h5", tmp_path / "emulator.log")
    csv_path, config = tmp_path / "out.csv", tmp_path / "c.yaml"
    config.write_text("stream:\n  reconnect_max_s: 0.2\n"
                      "geometry: {distance_mm: 2000, direct_beam_px: [490, 900]}\n")  # the demo's Pilatus 1M
    proc = None
    try:
        for key, value in (("x_pixels_in_detector", 981), ("y_pixels_in_detector", 1043), ("nimages", N),
                           ("count_time", 0.05)):
            emulator.put(f"detector/api/API/config/{key}", value)
        emulator.put("stream/api/API/config/header_detail", "all")
        proc = subprocess.Popen([*CLI, "stream", "--no-dashboard", "--config", str(config), "--csv",
                                 str(csv_path), "--model", str(model_dir), emulator.endpoint],
                                stderr=subprocess.PIPE, text=True)
        lines = Lines(proc)
        for series, compression in ((1, "bslz4"), (2, "lz4")):
            emulator.put("detector/api/API/config/compression", compression)
            emulator.put("detector/api/API/command/initialize")  # re-binds the emulator's socket
            lines.wait("stream: connected to", series)  # it drops what it sends to nobody: wait for us
            assert emulator.put("detector/api/API/command/arm") == {"sequence id": series}
            emulator.put("detector/api/API/command/trigger")  # returns once the series is sent
            emulator.put("detector/api/API/command/disarm")
            lines.wait(f"series {series} ended")
        end = time.monotonic() + 60
        while _fewer_rows(csv_path, 2 * N) and time.monotonic() < end:
            time.sleep(0.1)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        emulator.close()
    text = "".join(lines.lines)
    assert proc.returncode == 0, text[-3000:]
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    endpoint = emulator.endpoint
    assert [(r["source"], int(r["frame"])) for r in rows] == [(f"{endpoint} series {s}", i)
                                                               for s in (1, 2) for i in range(N)], text[-3000:]
    assert all(r["status"] in ("ok", "unknown", "no_signal") for r in rows), [r["message"] for r in rows]
    warnings = [line for line in text.splitlines() if "flat field (parts 3-4) unusable" in line]
    assert len(warnings) == 2 and all("pixel mask (parts 5-6) unusable" in w for w in warnings)


def _fewer_rows(csv_path: Path, n: int) -> bool:
    """Whether fewer than ``n`` rows are in the log yet."""
    if not csv_path.exists():
        return True
    with open(csv_path, newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh)) < n
