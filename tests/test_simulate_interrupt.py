"""An interrupted simulation (``simulate``, the first step of ``train``): no half-written set is left under its name
(its unwritten patterns read as blank ones, and other commands took it for a whole set), and no worker process
outlives a SIGTERM of its parent (they waited forever, 100 MB each)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gisaxs_live.config import load_config
from gisaxs_live.simulator.dataset import random_specs, write_dataset


def test_an_interrupted_write_leaves_neither_the_set_nor_its_partial_file(tmp_path):
    path = tmp_path / "set.h5"
    path.write_bytes(b"an earlier set")

    def interrupt(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_dataset(path, random_specs(8, 0, 0.2), load_config(), seed=0, protocol="random", workers=1,
                      progress=interrupt)
    assert path.read_bytes() == b"an earlier set" and sorted(os.listdir(tmp_path)) == ["set.h5"]
    write_dataset(path, random_specs(2, 0, 0.2), load_config(), seed=0, protocol="random", workers=1)
    assert path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n" and sorted(os.listdir(tmp_path)) == ["set.h5"]


def _processes_writing(out: Path) -> list[int]:
    """PIDs of the processes whose command line names ``out``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(out).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_simulation_workers_end_with_their_parent(tmp_path):
    out = tmp_path / "big.h5"
    proc = subprocess.Popen([sys.executable, "-m", "gisaxs_live.cli", "simulate", "--protocol", "random",
                             "--per-class", "5000", "--workers", "2", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(_processes_writing(out)) < 3 and time.monotonic() < deadline:  # the parent and its 2 workers
            time.sleep(0.1)
        assert len(_processes_writing(out)) == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == -signal.SIGTERM
        deadline = time.monotonic() + 10
        while _processes_writing(out) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_writing(out) == []
        assert not out.exists()
    finally:
        for pid in _processes_writing(out):
            os.kill(pid, signal.SIGKILL)
