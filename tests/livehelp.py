"""Helpers for the live-path tests: frames written like a detector (a CBF, a NeXus stack), an injected classifier, a
daemon running in a thread on a real watched directory."""

from __future__ import annotations

import csv
import dataclasses
import socket
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from gisaxs_live.config import Watch
from gisaxs_live.daemon import Daemon
from gisaxs_live.publisher.demo_series import cbf_bytes, write_staged
from gisaxs_live.frame import Frame
from gisaxs_live.results import Result, utc_now
from gisaxs_live.sinks.csvlog import CsvLog
from gisaxs_live.sources.watch import DirectoryWatcher

FAST = Watch(poll_interval_s=0.05, settle_s=0.1, retry_interval_s=0.05, read_retries=3)


def fast(**changes) -> Watch:
    """Watch settings with short times, for tests."""
    return dataclasses.replace(FAST, **changes)


def fake_classify(frames: Sequence[Frame]) -> list[Result]:
    """Stands in for the CNN: 'ok' with probabilities from the frame's mean, an 8×6 image; all-zero → no_signal."""
    results = []
    for f in frames:
        latency = (time.time() - f.t) * 1e3
        if not np.any(f.data):
            results.append(Result(f.source, f.frame_id, "no_signal", latency_ms=latency, time_utc=utc_now(),
                                  message="all pixels zero"))
            continue
        k = int(np.mean(f.data)) % 8
        probs = np.full(8, 0.02)
        probs[k], probs[(k + 1) % 8] = 0.7, 0.18
        results.append(Result(f.source, f.frame_id, "ok", tuple(probs), latency_ms=latency, time_utc=utc_now(),
                              image=np.full((8, 6), 100, np.uint8)))
    return results


def frame_bytes(value: int = 1, shape: tuple[int, int] = (16, 16)) -> bytes:
    return cbf_bytes(np.full(shape, value, dtype=np.int32))


def nexus_stack(path: Path, frames: list[np.ndarray], n: int, written: int | None = None) -> Path:
    """A NeXus HDF5 file of ``n`` frames (``frames`` over and over), a chunk per frame, as a detector writes it; the
    first ``written`` of them alone written (default: all)."""
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs.update(NX_class="NXdata", signal="data")
        stack = data.create_dataset("data", (n, *frames[0].shape), frames[0].dtype, chunks=(1, *frames[0].shape),
                                    compression="gzip", compression_opts=1)
        for i in range(n if written is None else written):
            stack[i] = frames[i % len(frames)]
    return path


def write_frame(path: Path, value: int = 1, **staged) -> float:
    """A small CBF written in stages and renamed into place; returns when it was complete (Unix s)."""
    return write_staged(path, frame_bytes(value), **staged)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


class Running:
    """A daemon running ``run`` in a thread."""

    def __init__(self, daemon: Daemon, backlog: bool, retry_errors: bool = False) -> None:
        self.daemon = daemon
        self.status: int | None = None
        self.thread = threading.Thread(target=self._run, args=(backlog, retry_errors), daemon=True)
        self.thread.start()
        wait_for(lambda: daemon.model == "ready" or self.status is not None, 10, "daemon start")

    def _run(self, backlog: bool, retry_errors: bool) -> None:
        self.status = self.daemon.run(backlog=backlog, retry_errors=retry_errors)

    def wait_rows(self, n: int, timeout: float = 10.0) -> None:
        wait_for(lambda: self.daemon.rows >= n, timeout, f"{n} rows (have {self.daemon.rows})")

    def stop(self, timeout: float = 20.0) -> int:
        self.daemon.request_stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "daemon did not stop"
        return self.status


@contextmanager
def running(directory: Path, csv_path: Path, settings: Watch = FAST, classify=fake_classify, sinks=(),
            backlog: bool = False, retry_errors: bool = False):
    daemon = Daemon(DirectoryWatcher(directory, settings), lambda: classify, CsvLog(csv_path), list(sinks))
    r = Running(daemon, backlog, retry_errors)
    try:
        yield r
    finally:
        if r.thread.is_alive():
            r.stop()


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def serve(directory: str, csv_path: str, n: int, timeout: float = 90.0) -> None:
    """Run a daemon with ``fake_classify`` on ``directory`` until ``csv_path`` holds ``n`` rows (for tests
    that need a process of its own); prints ``ready`` once it watches. Logs to stderr."""
    import logging
    import sys

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    with running(Path(directory), Path(csv_path), settings=fast(queue_size=100_000)) as r:
        print("ready", flush=True)
        r.wait_rows(n, timeout)
        time.sleep(0.5)  # nothing more may come
        assert r.stop() == 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_endpoint() -> str:
    """``tcp://127.0.0.1:PORT`` on a free port."""
    return f"tcp://127.0.0.1:{free_port()}"


def take_all(source, n: int, timeout: float) -> tuple[list, list]:
    """(frames, rejected records) from a ``StreamSource`` until ``n`` in all have come or ``timeout`` s passed."""
    frames, rejected, end = [], [], time.monotonic() + timeout
    while len(frames) + len(rejected) < n and time.monotonic() < end:
        got, bad = source.take(100, 0.1)
        frames += got
        rejected += bad
    return frames, rejected
