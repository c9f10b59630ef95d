"""Values of a received message as short texts for error rows and log lines (``shown``): a sender controls them, so
they are bounded in length, depth and breadth, and no value can make the text fail or take long."""

from __future__ import annotations

import datetime as dt
import reprlib
from collections.abc import Mapping
from typing import Any


def shown(value: Any) -> str:
    """A value of a message as a short text for an error row: at most 60 characters, 3 levels and 8 items of each
    container deep (a value may be nested, shared or cyclic: CBOR value sharing), an integer beyond 64 bits by its
    size (CBOR bignums have no limit, and Python writes no integer of more than 4,300 digits)."""
    try:
        return _cut(_SHOWN.repr(value))
    except (ValueError, RecursionError):
        return "(a value that cannot be shown)"


class _Shown(reprlib.Repr):
    """``reprlib``'s bounded repr, with the integers of ``shown`` and CBOR's tags and maps."""

    def __init__(self) -> None:
        super().__init__()  # Python 3.11's takes no settings
        self.maxlevel, self.maxstring, self.maxother = 3, 40, 40
        self.maxtuple = self.maxlist = self.maxdict = self.maxset = self.maxfrozenset = 8

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 64:
            return f"(a {'negative ' if x < 0 else ''}{x.bit_length():,}-bit integer)"
        return repr(x)

    def repr_tuple(self, x: tuple, level: int) -> str:  # a CBOR array: cbor2 gives tuples inside tags
        return self.repr_list(list(x), level)

    def repr_frozenset(self, x: frozenset, level: int) -> str:  # a CBOR set (tag 258): cbor2 gives frozensets
        return self.repr_set(set(x), level)

    def repr1(self, x: Any, level: int) -> str:
        if hasattr(x, "tag") and hasattr(x, "value"):  # a CBOR tag (stream2.Tagged, cbor2.CBORTag)
            return f"tag {self.repr1(x.tag, level)} of {self.repr1(x.value, level - 1)}" if level > 0 else "tag ..."
        if isinstance(x, Mapping) and not isinstance(x, dict):  # cbor2's frozendict
            return self.repr_dict(dict(x), level)
        if type(x).__module__ != "builtins":
            return _cbor_item(x)
        return super().repr1(x, level)


_WORDS = {"Decimal": "decimal", "Fraction": "fraction", "UUID": "UUID",
          **{f"IPv{v}{k}": f"IPv{v} {k.lower()}" for v in (4, 6) for k in ("Address", "Network", "Interface")}}


def _cbor_item(x: Any) -> str:
    """A value cbor2 decodes to a Python object of its own or of the standard library, in CBOR's words: a simple
    value, ``undefined``, and the standard tags' date-times (0, 1), decimals (4), rationals (30), regular
    expressions (35), MIME messages (36), UUIDs (37) and IP addresses (52, 54, 260, 261)."""
    kind = type(x).__name__
    if kind == "CBORSimpleValue":
        return f"simple value {x.value}"
    if kind == "UndefinedType":
        return "undefined"
    if isinstance(x, (dt.datetime, dt.date)):
        return f"date-time {x.isoformat()}"
    if kind == "Pattern":
        return f"regular expression {_cut(repr(x.pattern))}"
    if kind in ("Message", "EmailMessage"):
        return "a MIME message"
    if kind in _WORDS:
        return _cut(f"{_WORDS[kind]} {x}")
    return "a value of a kind Stream V2 does not send"


_SHOWN = _Shown()


def _cut(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
