"""The systemd unit passes `systemd-analyze verify`, and its example config loads."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gisaxs_live.config import load_config

UNIT = Path(__file__).parents[1] / "systemd" / "gisaxs-live.service"
EXAMPLE = Path(__file__).parents[1] / "systemd" / "gisaxs-live.yaml"
INSTALLED = "/opt/gisaxs-live/bin/gisaxs-live"


def test_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian/Ubuntu: apt-get install systemd)")
    text = UNIT.read_text()
    assert INSTALLED in text
    entry = Path(sys.executable).with_name("gisaxs-live")  # verify checks that ExecStart's program exists
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(INSTALLED, str(entry)))
    run = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (run.stdout + run.stderr).splitlines() if UNIT.name in line]
    assert run.returncode == 0 and not complaints, run.stdout + run.stderr


def test_unit_runs_the_watcher_unprivileged_and_read_only():
    lines = {line.split("=", 1)[0]: line.split("=", 1)[1] for line in UNIT.read_text().splitlines()
             if "=" in line and not line.startswith("#")}
    assert lines["ExecStart"].endswith("watch --config /etc/gisaxs-live/config.yaml --no-dashboard")
    assert lines["Restart"] == "on-failure" and lines["DynamicUser"] == "yes"
    assert lines["Type"] == "notify" and lines["NotifyAccess"] == "main"  # READY=1 once the watcher runs
    assert lines["ProtectSystem"] == "strict" and lines["ReadWritePaths"] == "/var/log/gisaxs-live"


def test_example_config_loads_and_logs_where_the_unit_may_write():
    config = load_config(EXAMPLE)
    assert config.output.csv == Path("/var/log/gisaxs-live/results.csv")
    assert config.watch.directory == Path("/data/pilatus/current")
