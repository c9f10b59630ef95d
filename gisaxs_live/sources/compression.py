"""DECTRIS compressed byte strings (CBOR tag 56500 of Stream V2: ``[algorithm, modifier, bytes]``), checked
before the C decoder sees them, then decompressed with ``dectris-compression``.

Algorithms (``cbor/dectris-compression-tag.md``; dectris-compression 0.4): ``bslz4`` (bitshuffle + LZ4,
modifier = element size), ``bszstd`` (bitshuffle + Zstandard, same framing and modifier) and ``lz4``
(LZ4 blocks, modifier unused). All three use the HDF5 filter framing: a 12-byte header (big-endian uint64
uncompressed bytes, uint32 block bytes), then the blocks. ``trpx`` (TERSE), which dectris-compression also
decodes, is refused: its uncompressed size cannot be checked before decoding. The checks (``sizeguard``):
the header's size against the size the array declares (itself already checked against
``stream.max_image_bytes``), its block size, and for the LZ4 codecs the length against LZ4's 255-fold limit.
Encoders for the replay side are here too: ``bitshuffle`` and ``lz4.block`` do the compressing.
"""

from __future__ import annotations

import struct

import numpy as np

from .shown import shown
from .sizeguard import BSLZ4_HEADER, BlobError, check_bslz4_header, check_lz4_length, describe_bytes

#: Algorithms decoded here, in the order error messages list them.
ALGORITHMS = ("bslz4", "lz4", "bszstd")
#: Block size of the replay side's encoders (bytes), as the HDF5 filters and DECTRIS detectors use.
BLOCK_BYTES = 8192
_LZ4_BLOCK = struct.Struct(">I")


def decompress(algorithm: object, modifier: object, blob: bytes, nbytes: int, itemsize: int, limit: int) -> bytes:
    """The ``nbytes`` bytes that ``blob`` (compressed with ``algorithm``; ``modifier`` as sent) holds, for
    elements of ``itemsize`` bytes; ``limit``: the most bytes a block may declare. Raises BlobError."""
    check(algorithm, modifier, blob, nbytes, itemsize, limit)
    from dectris.compression import decompress as dectris_decompress

    try:
        raw = dectris_decompress(blob, algorithm, elem_size=itemsize)
    except RuntimeError as exc:
        raise BlobError(f"corrupt {algorithm} data ({exc})") from None
    if len(raw) != nbytes:
        raise BlobError(f"{algorithm} data decode to {len(raw):,} bytes, the array needs {nbytes:,}")
    return raw


def check(algorithm: object, modifier: object, blob: bytes, nbytes: int, itemsize: int, limit: int) -> None:
    """Raise BlobError unless ``blob`` can be handed to the decoder (see the module doc)."""
    if algorithm == "trpx":
        raise BlobError("compression 'trpx' is not supported (its uncompressed size cannot be checked "
                        f"before decoding; supported: {', '.join(ALGORITHMS)})")
    if algorithm not in ALGORITHMS:
        raise BlobError(f"unknown compression {shown(algorithm)} (supported: {', '.join(ALGORITHMS)})")
    if not isinstance(blob, bytes):
        raise BlobError(f"{algorithm} data is not a byte string")
    if type(modifier) is not int:
        raise BlobError(f"{algorithm} modifier {shown(modifier)} is not an integer")
    view = memoryview(blob)
    if algorithm == "bslz4":
        _element_size(algorithm, modifier, itemsize)
        check_bslz4_header(view, nbytes, itemsize, algorithm, limit)
        return
    total, block = _header(view, algorithm)
    if total != nbytes:
        raise BlobError(f"{algorithm} header says {total:,} bytes, the array needs {nbytes:,}")
    if algorithm == "bszstd":
        _element_size(algorithm, modifier, itemsize)
        step = 8 * itemsize
        if block == 0 or block % step or block > limit:
            raise BlobError(f"bszstd header gives a block size of {block:,} bytes, not a positive multiple of "
                            f"{step} (8 elements) up to {describe_bytes(limit)}")
        return
    if block == 0 or block > limit:
        raise BlobError(f"lz4 header gives a block size of {block:,} bytes, not between 1 and {describe_bytes(limit)}")
    check_lz4_length(len(view) - BSLZ4_HEADER.size, nbytes, algorithm)


def compress(data: np.ndarray, algorithm: str) -> tuple[str, int, bytes]:
    """The tag 56500 content ``[algorithm, modifier, bytes]`` for ``data`` (C order, little-endian)."""
    data = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
    itemsize = data.dtype.itemsize
    header = BSLZ4_HEADER.pack(data.nbytes, BLOCK_BYTES)
    if algorithm == "bslz4":
        import bitshuffle

        return "bslz4", itemsize, header + bitshuffle.compress_lz4(data.ravel(), BLOCK_BYTES // itemsize).tobytes()
    if algorithm == "lz4":
        import lz4.block

        raw, blocks = data.tobytes(), [header]
        for start in range(0, len(raw), BLOCK_BYTES):
            chunk = raw[start:start + BLOCK_BYTES]
            packed = lz4.block.compress(chunk, store_size=False)
            packed = chunk if len(packed) >= len(chunk) else packed  # the HDF5 LZ4 filter stores such a block raw
            blocks += [_LZ4_BLOCK.pack(len(packed)), packed]
        return "lz4", 0, b"".join(blocks)
    raise ValueError(f"compression {algorithm!r} is not one of bslz4, lz4")


def _header(view: memoryview, algorithm: str) -> tuple[int, int]:
    if len(view) < BSLZ4_HEADER.size:
        raise BlobError(f"{algorithm} data is {len(view)} bytes, shorter than its {BSLZ4_HEADER.size}-byte header")
    return BSLZ4_HEADER.unpack_from(view)


def _element_size(algorithm: str, modifier: int, itemsize: int) -> None:
    if modifier != itemsize:
        raise BlobError(f"{algorithm} element size {shown(modifier)} does not fit the array's {itemsize}-byte elements")
