"""A stop (SIGTERM, Ctrl-C) asked for while ``watch`` or ``stream`` starts, before its monitor exists to be stopped;
and a Ctrl-C that asks a command to stop where it can stop whole (``ctrl_c_deferred``).

The entry point calls ``remember_stops`` first of all (imports, the config, the log and the model take seconds);
``daemon.handle_signals`` then takes over the signals and acts on the stop ``taken`` from here: the monitor stops as
after a later one (a clean stop, status 0), where the default action would have ended the process by the signal
(SIGTERM) or with a traceback (Ctrl-C during the imports). Standard library only, so that it costs no start-up."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

_asked: list[int] = []  # the signals received since ``remember_stops``
_before: dict[int, object] = {}  # the handlers ``remember_stops`` replaced


def remember_stops() -> None:
    """From now on SIGTERM and SIGINT are remembered, not acted on, until ``daemon.handle_signals`` replaces this
    (called again, after a stop, it leaves that stop and the second Ctrl-C's abort as they are)."""
    if _asked:
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        _before.setdefault(signum, signal.signal(signum, _remember))


def forget_stops() -> None:
    """The handlers before ``remember_stops`` back where no monitor took the signals over (the command ended before
    its monitor ran: a usage error, a log that could not be opened), so that the process, or the one that called
    ``cli.main``, can be stopped again; a stop remembered meanwhile is forgotten."""
    for signum, handler in list(_before.items()):
        if signal.getsignal(signum) in (_remember, signal.default_int_handler) and handler is not None:
            signal.signal(signum, handler)
        del _before[signum]
    _asked.clear()


def _remember(signum: int, _frame: FrameType | None) -> None:
    """Remember the stop; a second Ctrl-C aborts, as it does once the monitor runs."""
    _asked.append(signum)
    if signum == signal.SIGINT:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def taken() -> int | None:
    """The first stop signal remembered (forgotten here), or None."""
    signum = _asked[0] if _asked else None
    _asked.clear()
    return signum



@contextmanager
def ctrl_c_deferred(said: str) -> Iterator[Callable[[], bool]]:
    """Run the block with a first Ctrl-C taken as a request, which the block checks where it can stop whole (the
    function yielded: whether a stop was asked), with ``said`` on stderr; a second Ctrl-C interrupts at once
    (KeyboardInterrupt). A Ctrl-C raised wherever the program happens to be also lands in objects' finalizers, where
    Python prints it as a traceback and goes on. Call from the main thread; where SIGINT has another handler than
    Python's (ignored: a background job), it is left alone."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield lambda: False
        return
    asked: list[int] = []

    def first(signum: int, _frame: FrameType | None) -> None:
        asked.append(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(said, file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, first)
    try:
        yield lambda: bool(asked)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
