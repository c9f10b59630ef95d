"""Readiness: a real ``stream`` (and ``watch``) process logs one ``ready`` line and sends READY=1 to a real
AF_UNIX datagram socket given as $NOTIFY_SOCKET, only once its model is loaded and its socket connected."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from gisaxs_live.notify import sd_notify
from gisaxs_live.sources import simplon
from livehelp import free_endpoint

CLI = [sys.executable, "-m", "gisaxs_live.cli"]
CONFIG = "geometry: {distance_mm: 2000, direct_beam_px: [490, 900]}\n"  # the demo's Pilatus 1M


@pytest.fixture
def notify_socket(tmp_path):
    """A bound AF_UNIX datagram socket, as systemd's; short path (sun_path holds 108 bytes)."""
    path = Path(f"/tmp/gl-notify-{os.getpid()}-{tmp_path.name[-20:]}")
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    yield sock, path
    sock.close()
    path.unlink(missing_ok=True)


class Lines:
    """A process's stderr, collected line by line on a thread; ``wait`` for a line containing a text."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()

    def wait(self, text: str, timeout: float = 120.0) -> None:
        with self._seen:
            assert self._seen.wait_for(lambda: any(text in line for line in self.lines), timeout), \
                "".join(self.lines)[-3000:]

    def done(self) -> str:
        self._thread.join(30)
        return "".join(self.lines)


def _stop(proc: subprocess.Popen, lines: Lines) -> str:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    text = lines.done()
    assert proc.returncode == 0, text[-3000:]
    return text


def test_stream_is_ready_once_connected_and_tells_systemd(tmp_path, model_dir, notify_socket):
    sock, path = notify_socket
    endpoint, config = free_endpoint(), tmp_path / "c.yaml"
    config.write_text(CONFIG)
    proc = subprocess.Popen([*CLI, "stream", "--no-dashboard", "--config", str(config), "--csv",
                             str(tmp_path / "out.csv"), "--model", str(model_dir), endpoint],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "NOTIFY_SOCKET": str(path)})
    lines = Lines(proc)
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.linger = 2000
    try:
        lines.wait("stream: connecting to")  # model loaded, nobody bound yet: not ready
        # a sender of the wrong kind: it took the TCP connection, which made the stream ready and silent, and
        # ZeroMQ never connected again, to the PUSH socket that replaced it either
        publisher = zmq.Context.instance().socket(zmq.PUB)
        publisher.bind(endpoint)
        lines.wait(f"stream: {endpoint}: a peer there takes the connection but no ZeroMQ PUSH socket answers")
        sock.settimeout(1.0)
        with pytest.raises(socket.timeout):
            sock.recv(4096)
        publisher.close(linger=0)
        deadline = time.monotonic() + 10
        while True:  # the port is freed by ZeroMQ's I/O thread
            try:
                push.bind(endpoint)  # the detector comes up
                break
            except zmq.ZMQError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        sock.settimeout(60.0)
        message = sock.recv(4096).decode()
        image = np.arange(37 * 53, dtype="uint32").reshape(37, 53)
        for parts in (simplon.encode_header(1, "basic", {}), simplon.encode_image(1, 0, image, "lz4<"),
                      simplon.encode_end(1)):
            push.send_multipart(parts)
        lines.wait("series 1 ended")
    finally:
        push.close()
        text = _stop(proc, lines)
    assert message == f"READY=1\nSTATUS=ready: model loaded, connected to {endpoint}"
    ready = [line for line in text.splitlines() if " ready: " in line]
    assert len(ready) == 1 and ready[0].endswith(f"ready: model loaded, connected to {endpoint}"), text[-3000:]
    assert text.index("stream: connecting to") < text.index(" ready: ")


def test_watch_is_ready_once_the_watcher_runs_and_tells_systemd(tmp_path, model_dir, notify_socket):
    sock, path = notify_socket
    directory, config = tmp_path / "frames", tmp_path / "c.yaml"
    directory.mkdir()
    config.write_text(CONFIG)
    proc = subprocess.Popen([*CLI, "watch", "--no-dashboard", "--config", str(config), "--csv",
                             str(tmp_path / "out.csv"), "--model", str(model_dir), str(directory)],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "NOTIFY_SOCKET": str(path)})
    lines = Lines(proc)
    try:
        sock.settimeout(120.0)
        message = sock.recv(4096).decode()
    finally:
        text = _stop(proc, lines)
    assert message == f"READY=1\nSTATUS=ready: model loaded, watching {directory}"
    assert text.index("watching ") < text.index(" ready: ") and text.count(" ready: ") == 1


def _monitor(command: str, tmp_path: Path, model_dir: Path, notify: Path) -> subprocess.Popen:
    """A real ``watch`` (of an empty directory) or ``stream`` (of an endpoint nobody binds) process, started as a
    shell starts it: SIGINT not ignored, even where the tests run as a background job; SIGHUP at its default."""
    directory, config = tmp_path / "frames", tmp_path / "c.yaml"
    directory.mkdir()
    config.write_text(CONFIG)
    source = str(directory) if command == "watch" else free_endpoint()
    return subprocess.Popen([*CLI, command, "--no-dashboard", "--config", str(config), "--csv",
                             str(tmp_path / "out.csv"), "--model", str(model_dir), source],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "NOTIFY_SOCKET": str(notify)},
                            preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT,
                                                                                           signal.SIGHUP)])


def _ended_cleanly_and_never_ready(proc: subprocess.Popen, lines: Lines, sock: socket.socket, name: str) -> None:
    """Status 0 (a clean stop), the stop said in one line, no traceback, and no ``ready`` line or READY=1."""
    proc.wait(timeout=120)
    text = lines.done()
    assert proc.returncode == 0, text[-3000:]
    assert f"INFO {name}: finishing the frames already found" in text and "Traceback" not in text, text[-3000:]
    assert " ready: " not in text, text[-3000:]
    sock.settimeout(0.5)
    with pytest.raises(socket.timeout):
        sock.recv(4096)


@pytest.mark.parametrize("command", ["watch", "stream"])
def test_a_stop_while_the_model_loads_ends_cleanly_and_never_says_ready(command, tmp_path, model_dir,
                                                                       notify_socket):
    """A trial: watch stopped (SIGTERM) while its model loaded still logged its ``ready`` line and sent READY=1
    once the model was in, after the stop."""
    sock, path = notify_socket
    proc = _monitor(command, tmp_path, model_dir, path)
    lines = Lines(proc)
    lines.wait("model loading")
    proc.send_signal(signal.SIGTERM)
    _ended_cleanly_and_never_ready(proc, lines, sock, "SIGTERM")


def _ignores_sighup(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGHUP (Linux: bit 0 of SigIgn in /proc/PID/status): the entry point's first
    act for a service, before it imports anything of its own."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return bool(int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16) & 1)


@pytest.mark.parametrize("command", ["watch", "stream"])
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_stop_while_the_command_starts_is_a_clean_stop(command, name, tmp_path, model_dir, notify_socket):
    """A trial: SIGTERM during the first second (the imports, before the monitor's handlers) ended the process by the
    signal, and Ctrl-C then printed a traceback; both are a clean stop, status 0, as later."""
    sock, path = notify_socket
    proc = _monitor(command, tmp_path, model_dir, path)
    lines = Lines(proc)
    deadline = time.monotonic() + 30
    while not _ignores_sighup(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.05)  # still importing the command modules (0.3-0.7 s)
    assert not lines.lines, lines.lines  # nothing said yet: the monitor is not there
    proc.send_signal(getattr(signal, name))
    _ended_cleanly_and_never_ready(proc, lines, sock, name)


def test_sd_notify_abstract_socket_and_unset(monkeypatch):
    name = f"gisaxs-live-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sd_notify("READY=1")
        assert sock.recv(100) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert sd_notify() is False


def test_an_unwritable_notify_socket_is_a_warning(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "absent"))
    assert sd_notify() is False
    assert "systemd notification READY=1 to NOTIFY_SOCKET" in caplog.text and "absent" in caplog.text
