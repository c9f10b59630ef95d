"""Size checks on a received image before any decoder sees it, for every stream protocol (SIMPLON v1, the
simple protocol, and a Stream V2 decoder to come): they need only byte counts, not the message layout.

A declared shape decides how much memory a decoder allocates before it reads a byte (``lz4.block``
allocates the declared size up front, and raises OverflowError above 2**31 - 1 bytes), so the checks run
in this order: the declared size (pixels x bytes per pixel) against the configured limit
(``stream.max_image_bytes``); then the compressed length against the most its codec can expand to; then
a bitshuffle-LZ4 blob's own 12-byte header (uncompressed bytes, block bytes) against the declared size.
"""

from __future__ import annotations

import struct

#: An LZ4 block expands at most 255-fold: a match's length grows by 255 per extra byte, and a match costs
#: at least 3 bytes (token, 2-byte offset) for at most 19 bytes out.
LZ4_MAX_RATIO = 255
#: The bitshuffle-LZ4 (HDF5 filter) header: big-endian uint64 uncompressed bytes, uint32 block bytes.
BSLZ4_HEADER = struct.Struct(">QI")
#: bitshuffle works on blocks of a multiple of 8 pixels.
BSLZ4_BLOCK_PIXELS = 8


class BlobError(ValueError):
    """An image whose declared size is too large or does not fit its data; the text says why, in words."""


def check_declared(nbytes: int, what: str, limit: int) -> None:
    """Raise BlobError if ``what`` (e.g. ``65536x65536 uint32``) declares more than ``limit`` bytes."""
    if nbytes > limit:
        raise BlobError(f"{what} would take {describe_bytes(nbytes)}, more than the limit of "
                        f"{describe_bytes(limit)} (stream.max_image_bytes)")


def check_lz4_length(length: int, nbytes: int, encoding: str) -> None:
    """Raise BlobError if ``length`` compressed bytes (LZ4 payload only) cannot decode to ``nbytes``."""
    if nbytes > LZ4_MAX_RATIO * length:
        raise BlobError(f"{encoding} data of {length:,} bytes cannot hold {nbytes:,} bytes "
                        f"(LZ4 expands at most {LZ4_MAX_RATIO}-fold)")


def check_bslz4_header(blob: memoryview, nbytes: int, itemsize: int, encoding: str, limit: int) -> None:
    """Raise BlobError unless the bitshuffle-LZ4 ``blob`` (bytes) starts with a 12-byte header that says
    ``nbytes`` uncompressed bytes and a block size the decoder accepts (a positive multiple of 8 pixels of
    ``itemsize`` bytes, at most ``limit``), followed by enough data to expand to ``nbytes``."""
    if len(blob) < BSLZ4_HEADER.size:
        raise BlobError(f"{encoding} data is {len(blob)} bytes, shorter than its {BSLZ4_HEADER.size}-byte header")
    total, block = BSLZ4_HEADER.unpack_from(blob)
    if total != nbytes:
        raise BlobError(f"{encoding} header says {total:,} bytes, the declared shape needs {nbytes:,}")
    step = BSLZ4_BLOCK_PIXELS * itemsize
    if block == 0 or block % step or block > limit:
        raise BlobError(f"{encoding} header gives a block size of {block:,} bytes, not a positive multiple of "
                        f"{step} (8 pixels) up to {describe_bytes(limit)}")
    # Pixels past the last whole 8-pixel group are stored raw, the rest as LZ4 blocks: 255-fold at most.
    check_lz4_length(len(blob) - BSLZ4_HEADER.size, nbytes, encoding)


def describe_bytes(n: int) -> str:
    """``n`` bytes in words: ``100 bytes``, ``256 MiB``, ``16.5 GiB``, ``more than 1 PiB``."""
    if n > 2**50:
        return "more than 1 PiB"
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} byte" if n == 1 else f"{n} bytes"
