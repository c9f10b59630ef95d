"""Text for people: counts with their plural, probabilities rounded the same way from a float (the dashboard) and
from the CSV log's 4-decimal strings (``gisaxs-live tail``), and log lines that only print (``printable``)."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

#: decimals of a probability in the CSV log (``Result.row``)
CSV_DECIMALS = 4
_SHOWN = Decimal("0.001")


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 frame``, ``2 frames``, ``0 frames``; ``many`` for an irregular plural."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"


def listed(names: Sequence[str], most: int = 6) -> str:
    """``a, b, c`` for a line: at most ``most`` names, then how many more (a master may link thousands of files)."""
    more = len(names) - most
    return ", ".join(names[:most]) + (f" and {more:,} more" if more > 0 else "")


def probability(p: float) -> str:
    """``p`` with 3 decimals, rounded half up from the 4 decimals the CSV log keeps, so that a row shows the
    same figure live and read back from the log (0.98449 and the logged 0.9845 both give 0.985)."""
    return str(Decimal(f"{p:.{CSV_DECIMALS}f}").quantize(_SHOWN, rounding=ROUND_HALF_UP))


def printable(text: str) -> str:
    """``text`` with every character that does not print, but a line end or a tab, as U+FFFD: a file name or a
    stream sender's name holding an escape sequence reaches the terminal or journal that shows a log as text, not as
    a command to it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)


#: what ``one_line`` escapes: ASCII controls, and the lone surrogates that hold a file name's bytes that are not UTF-8
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escaped(character: str) -> str:
    code = ord(character)
    if character in _NAMED:
        return _NAMED[character]
    if code <= 0x9F or 0xDC80 <= code <= 0xDCFF:  # a control (C0, C1), or a file name's byte 80-ff
        return f"\\x{code & 0xFF:02x}"
    return f"\\u{code:04x}"  # a line or paragraph separator, a direction control, a surrogate no byte gave


def one_line(text: str) -> str:
    """``text`` on one line that only prints: line ends as ``\\n``/``\\r``, the other controls but the tab (C0 and
    C1: U+009B acts as an escape sequence's start) and a file name's bytes that are not UTF-8 (PEP 383 surrogates)
    as ``\\xNN``, Unicode's line and paragraph separators and direction controls as ``\\uNNNN``; for error lines and
    the CSV log's messages, where a file name may hold any of them (an escape sequence would act on the terminal)."""
    if text.isprintable():
        return text
    return _UNSAFE.sub(lambda m: _escaped(m[0]), text)


class PrintableFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose lines are ``printable`` (the traceback of a record too)."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def printable_stderr_handler(fmt: str) -> logging.Handler:
    """A handler writing ``fmt`` lines, ``printable``, to stderr (for ``logging.basicConfig(handlers=...)``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter(fmt))
    return handler
