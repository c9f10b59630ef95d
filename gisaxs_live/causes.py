"""What an exception says, as the cause in a one-line message about an input (never the exception's class name
where a fallback in words is given)."""

from __future__ import annotations


class Unavailable(RuntimeError):
    """A resource the command needs is not usable for now (a full disk, an I/O error): exit status 1, so that a
    service manager restarts it later, unlike a usage or configuration error (2)."""


def first_line(exc: BaseException, fallback: str) -> str:
    """The first line of what ``exc`` says, stripped; ``fallback`` where it says nothing."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else fallback


def in_words(exc: BaseException) -> str:
    """What an unforeseen ``exc`` (a bug, a library's surprise) says, on one line, without its class name ("out of
    memory" for a MemoryError that does not say so, "no cause given" for one that says nothing)."""
    text = first_line(exc, "")
    if isinstance(exc, MemoryError) and "memory" not in text.lower():
        return f"out of memory ({text})" if text else "out of memory"
    return text or "no cause given"
