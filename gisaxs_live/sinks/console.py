"""Which console sink a monitor gets: the rich dashboard on a terminal, else one log line per frame (systemd,
pipes). Shared by ``watch``, ``stream`` and ``demo``."""

from __future__ import annotations

import logging
import sys

from ..config import Config
from . import Sink


def want_dashboard(no_dashboard: bool) -> bool:
    """The dashboard unless asked not to, or when stdout is not a terminal (systemd, pipes)."""
    return not no_dashboard and sys.stdout.isatty()


def dashboard_sink(config: Config) -> Sink:
    """The rich dashboard for a terminal; log records (INFO and up) print above it."""
    from .dashboard import Dashboard, DashboardState

    logging.getLogger().setLevel(logging.INFO)
    return Dashboard(DashboardState(config.output.recent_rows, config.output.mix_frames))


def log_line_sink() -> Sink:
    """One plain log line per frame on stderr (service mode, no terminal)."""
    from .logline import LogLines

    from .text import printable_stderr_handler

    handler = printable_stderr_handler("%(asctime)s %(levelname)s %(message)s")
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    return LogLines()
