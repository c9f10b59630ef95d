"""A TIFF file's chain of image file directories (IFDs), walked before fabio reads it: fabio 2026.6 follows the
chain without looking for a loop, so a 40-kB file whose last directory points back at an earlier one made a reader
spin for good, its memory growing by 2.4 MB/s. Classic TIFF: an 8-byte header (byte order, 42, the first
directory's offset), and per directory a 2-byte entry count, 12 bytes per entry and the next directory's offset
(0 ends the chain)."""

from __future__ import annotations

import struct
from typing import BinaryIO

#: directories (pages) of one TIFF file at most: a multi-frame file of more is taken for a damaged one
MAX_DIRECTORIES = 1 << 16


def chain_problem(f: BinaryIO) -> str | None:
    """Why the TIFF file open as ``f`` (at any position) cannot be read: its directories loop, or there are more than
    ``MAX_DIRECTORIES``; None where the chain ends (a directory cut short or beyond the file's end is left to the
    reader, which says so)."""
    f.seek(0)
    head = f.read(8)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8:
        return None
    (offset,) = struct.unpack(order + "I", head[4:8])
    seen: set[int] = set()
    while offset:
        if offset in seen:
            return f"damaged TIFF: its image directories loop (the one at byte {offset:,} comes again)"
        if len(seen) >= MAX_DIRECTORIES:
            return f"damaged TIFF: more than {MAX_DIRECTORIES:,} image directories"
        seen.add(offset)
        f.seek(offset)
        count = f.read(2)
        if len(count) < 2:
            return None
        f.seek(offset + 2 + 12 * struct.unpack(order + "H", count)[0])
        following = f.read(4)
        if len(following) < 4:
            return None
        (offset,) = struct.unpack(order + "I", following)
    return None
