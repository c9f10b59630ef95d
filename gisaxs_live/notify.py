"""Readiness: the one ``ready`` log line and systemd's ``sd_notify`` protocol (``Type=notify`` units).

systemd passes ``$NOTIFY_SOCKET``, an AF_UNIX datagram socket (a path, or ``@name`` in the abstract
namespace); a service writes ``READY=1`` to it once it can do its work. Written with the standard
library (the protocol is one datagram); without ``$NOTIFY_SOCKET`` nothing is sent.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def sd_notify(state: str = "READY=1") -> bool:
    """Send ``state`` to ``$NOTIFY_SOCKET``; False when it is unset. A socket that cannot be written is
    logged as a warning (the service goes on: systemd then times the start out by its own rules)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("systemd notification %s to NOTIFY_SOCKET %s failed: %s", state, address.lstrip("\0"),
                    exc.strerror or exc)
        return False
    return True


def announce_ready(what: str) -> None:
    """Log the one ``ready`` line (``what``: what is now running) and notify systemd (READY=1)."""
    log.info("ready: %s", what)
    sd_notify(f"READY=1\nSTATUS=ready: {what}")
