"""One module per ``gisaxs-live`` subcommand: ``register(subparsers)`` adds its parser, whose ``func``
default runs it and returns the exit status. Heavy imports stay inside ``run`` so ``--help`` is instant.
``output_file``, ``at_least`` and ``enough_held_out`` check a command's options and inputs before its work;
``number`` and ``rate_or_seconds`` are the types of the options that take a float."""

import argparse
import math
from collections.abc import Sequence
from pathlib import Path


def number(text: str) -> float:
    """An option's value as a finite float (argparse type): "nan" and "inf" are refused in words."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def rate_or_seconds(text: str) -> float:
    """A rate (Hz) or a time (s) option's value (argparse type): a ``number`` that is 0 or from 1e-6 to 1e6 in size,
    whose period or wait cannot overflow (``publish --rate 1e-300`` did; ``time.sleep`` takes at most 9.2e9 s)."""
    value = number(text)
    if value != 0 and not 1e-6 <= abs(value) <= 1e6:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 or from 0.000001 to 1,000,000")
    return value


#: the outputs a command writes whole, replacing a file there: their kind in words, and how such a file starts
CSV_OF_REFINE = ("refine CSV", (b"source,frame,",))
JSON_FILE = ("JSON file", (b"{",))
PNG_PICTURE = ("PNG picture", (b"\x89PNG",))
HDF5_FILE = ("HDF5 file", (b"\x89HDF",))
HTML_PAGE = ("HTML page", (b"<!doctype", b"<html"))


def output_file(path: Path, option: str, inputs: Sequence[Path] = (),
                replaces: tuple[str, tuple[bytes, ...]] | None = None) -> Path:
    """``path``, checked before a command's work rather than after it: a ValueError naming ``option`` where it is a
    directory or something else not a regular file, its directory does not exist, it is one of the command's
    ``inputs``, or, for an output written whole (``replaces``: its kind and how such a file starts), it is a file
    of another kind (a log, a detector frame, a data set), which would be lost."""
    if path.is_dir():
        raise ValueError(f"{option} {path}: a directory, not a file")
    if path.exists() and not path.is_file():  # /dev/full was replaced by a set, as root
        raise ValueError(f"{option} {path}: not a regular file (a device, a FIFO or a socket)")
    if not path.parent.is_dir():
        raise ValueError(f"{option} {path}: its directory {path.parent} does not exist")
    if path.exists() and any(_same_file(path, given) for given in inputs):
        raise ValueError(f"{option} {path}: one of the command's inputs, which the output would replace; give "
                         "another file")
    if replaces is not None and path.exists():
        kind, starts = replaces
        with path.open("rb") as f:
            head = f.read(64).lstrip().lower()
        if head and not head.startswith(tuple(start.lower() for start in starts)):
            raise ValueError(f"{option} {path}: the file there is no {kind}, and the output would replace it; give "
                             "another file, or remove that one")
    return path


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def output_directory(path: Path, option: str, what: str) -> Path:
    """``path``, a directory for ``what`` made where missing, checked before a command's work: a ValueError naming
    ``option`` where it is a file or cannot be made."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path}: a file, not a directory for {what}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot make the directory ({exc.strerror})") from None
    return path


def at_least(*options: tuple[str, float | None, float]) -> None:
    """A ValueError for the first (option, value, least) whose value is given (not None) and below its least."""
    for option, value, least in options:
        if value is not None and value < least:
            raise ValueError(f"{option} {value:g}: must be at least {least}" if isinstance(value, float)
                             else f"{option} {value}: must be at least {least}")


def enough_held_out(dataset: Path, held_out: int, fraction: float, option: str) -> None:
    """A ValueError when ``held_out`` patterns of ``dataset`` are too few for a calibration at ``fraction`` (given
    by ``option``): (n + 1) × fraction ≤ n needs n ≥ ⌈fraction / (1 − fraction)⌉, else the quantile lies beyond
    every held-out pattern (an answer naming every family, a threshold above every score)."""
    needed = math.ceil(fraction / (1.0 - fraction))
    if held_out < needed:
        raise ValueError(f"{dataset}: {held_out} held-out patterns are too few for {option} {fraction:g} (at least "
                         f"{needed}); simulate a larger set (simulate --protocol random --per-class N)")
