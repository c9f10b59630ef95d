"""A stop (SIGTERM, Ctrl-C) asked for while ``watch`` or ``stream`` starts, before its monitor exists to be stopped;
and a Ctrl-C held back while a command writes rows and counts them (``ctrl_c_held``).

The entry point calls ``remember_stops`` first of all (imports, the config, the log and the model take seconds);
``daemon.handle_signals`` then takes over the signals and acts on the stop ``taken`` from here: the monitor stops as
after a later one (a clean stop, status 0), where the default action would have ended the process by the signal
(SIGTERM) or with a traceback (Ctrl-C during the imports). Standard library only, so that it costs no start-up."""

from __future__ import annotations

import signal
from collections.abc import Iterator
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
def ctrl_c_held() -> Iterator[None]:
    """Run the block with Ctrl-C held back, then raise the KeyboardInterrupt it would have raised, so that what the
    block does (rows written, and counted) is done whole or not at all. Call from the main thread; where SIGINT has
    another handler than Python's (ignored: a background job), it is left alone."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    held: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held:
        raise KeyboardInterrupt
